"""A label that reads the same mirrored left to right must read so on screen too.

A synthetic key's "U" (``bench_absent_targets --foreign``: OpenCV's Hershey
font, drawn at 100 %) was answered glyph-only on qalculate's "u" key at 125 %
(0.67, light) and 150 % (0.8, light and dark), by the scales stage (colour,
0.859 to 0.914), every other check of ``verification`` passed.  Drawn that
small, a capital "U" is a lowercase "u" but for the u's stem, which runs on
down to the baseline beside its bowl: two pixels within the pixel of play of
every check of ink missing or added, and no piece, hole, stroke direction,
size or scale tells them apart (those tried are listed in ``verification``
and ``stroke_directions``).

What a reader sees is that the "U" is its own mirror image and the "u" is
not: its stem stands on one side only.  A toolkit draws a glyph that is its
own mirror image so at any size, as it does one that reads the same turned
half round (``half_turn``).  So when the label's ink correlates with itself
mirrored left to right at least ``half_turn.SYMMETRIC`` (``mirror_likeness``:
the ink cropped to its box, the mirrored copy allowed a pixel's shift either
way), the screen's ink where the answer puts it must do so no more than
``MAX_LOSS`` less.  A label whose ink is smaller than
``verification.MIN_INK_SIDE`` pixels is not checked: a dot's two or three
pixels are as symmetric as the pixel grid puts them (qalculate's "." loses
0.20 at its captured size).

Measured on the answers ``verification`` let pass, recorded as it saw them,
in the targeting replay (``bench_targeting --every 4``) and on templates cut
at one scale and searched on the other scales (``bench_cross_scale --every
6``): of 1,216 true answers, 403 have a label this symmetric and at least
``MIN_INK_SIDE`` pixels; they lose at most 0.103 (qalculate's "1" cut
glyph-only and found at 0.76, 0.87 to 0.76), at every scale.  The "U" loses
0.156 to 0.167 on the "u" (0.91 to 0.74 at 0.67, 0.96 to 0.80 at 0.8).

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]

#: The screen's ink may correlate with its mirror image at most this much less than the
#: label's (true answers: 0.103 at most; the "U" on the "u": 0.156 and more).
MAX_LOSS = 0.13


def refusal(label: Image, label_dark: bool, here: Image, dark: bool) -> str | None:
    """None unless ``label`` (the template's label at the answer's scale) is its own
    mirror image and ``here`` (the screen where the answer puts it, a window of its
    size) is not so, by more than ``MAX_LOSS``.  ``label_dark``, ``dark``: the
    label's ink and the screen's are darker than their faces."""
    import numpy as np

    from automation.blocks.desktop.half_turn import BOX_INK, SYMMETRIC
    from automation.blocks.desktop.verification import MIN_INK_SIDE, _ink_share

    share = _ink_share(label, label_dark)
    rows, cols = np.nonzero(share >= BOX_INK)
    if rows.size == 0 or max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 < MIN_INK_SIDE:
        return None
    ours = mirror_likeness(share)
    if ours < SYMMETRIC:
        return None
    theirs = mirror_likeness(_ink_share(here, dark))
    if theirs < ours - MAX_LOSS:
        return (
            f"its label is its own mirror image ({ours:.2f}) and the ink there is "
            f"not ({theirs:.2f}): another glyph"
        )
    return None


def mirror_likeness(ink: Any) -> float:
    """The correlation of ``ink`` (shares of full ink) cropped to its box with itself
    mirrored left to right, the best of the mirrored copy's shifts by up to a pixel
    (a box of odd and even width has no column at its centre); -1 for no ink."""
    from automation.blocks.desktop.half_turn import self_likeness

    return self_likeness(ink, lambda box: box[:, ::-1])
