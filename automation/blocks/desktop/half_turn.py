"""A label that reads the same turned half round must read so on screen too.

Synthetic keys whose labels no calculator shows (``bench_absent_targets
--foreign``: OpenCV's Hershey font) were answered on glyphs that match them
within every pixel's play the other checks allow.  The "Z" answered
speedcrunch's bold "2" key 13 times and a "2" of qalculate's help text once,
at 0.64 to 1.32 of its size, by the scales stage (colour, 0.855 to 0.906) and the label
stage (0.863 to 0.900).  At those sizes the "2" is a "Z" with a rounded top:
its arc, its bowl's right side and the hook at the arc's left end all lie
within a pixel of the "Z"'s bar and diagonal, so no ink is missing or added
that resizing and re-hinting would not explain, nor is any piece, hole or
stroke direction (within 45 degrees) other.

What a reader sees is that the "Z" is the same glyph turned half round and
the "2" is not: its bowl comes round to the bottom where its base was.  A
toolkit draws a symmetric glyph symmetric at any size, so when the label's
ink correlates with itself turned half round at least ``SYMMETRIC``
(``half_turn_likeness``: the ink cropped to its box, the turned copy allowed
a pixel's shift either way), the screen's ink where the answer puts it must
do so no more than ``MAX_LOSS`` less; ``LARGER_LOSS`` less above the
captured size (beyond ``verification.SAME_SIZE``), where the toolkit draws
details that the captured size rounded off.

Measured on the answers ``verification`` checks whose label reaches
``SYMMETRIC`` ("0", "8", "+", "x", "=", ".", ...): in the targeting replay
(``bench_targeting --every 4``, 113 of its 636 hits) the screen loses at
most 0.19 (galculator's "." glyph at 125 % dark, 0.98 to 0.78); on templates
cut from the saved 100, 125, 150 and 200 % screens and searched on the same
theme's other scales (every third button, 1,216 hits, 275 of them checked
here), at most 0.18 up to the captured size (114 answers at 0.60 to 0.96)
and 0.30 above it (qalculate's "8" at 2.24, 0.95 to 0.65; 0.27 at 1.28).
The "Z" loses 0.29 to 0.50 on the "2" up to its captured size (0.64 to
0.9) and 0.39 to 0.45 above it (1.04 to 1.32).

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]

#: A label whose ink correlates at least this well with itself turned half round is symmetric ...
SYMMETRIC = 0.85
#: ... and the screen's ink where it is answered may correlate at most this much less so,
MAX_LOSS = 0.25
#: ... or this much, drawn larger than captured (where a toolkit draws details its captured
#: size rounded off: qalculate's "8" has a smaller upper bowl, 0.95 at 100 %, 0.65 at 200 %).
LARGER_LOSS = 0.35
#: Ink of at least this share of full ink bounds the glyph (``verification._ink_share``).
BOX_INK = 0.25


def refusal(label: Image, label_dark: bool, here: Image, dark: bool, scale: float) -> str | None:
    """None unless ``label`` (the template's label at the answer's ``scale``) is
    symmetric under a half turn and ``here`` (the screen where the answer puts it, a
    window of its size) is not so, by more than ``MAX_LOSS`` (``LARGER_LOSS`` above
    the captured size).  ``label_dark``, ``dark``: the label's ink and the screen's
    are darker than their faces."""
    from automation.blocks.desktop.verification import SAME_SIZE, _ink_share

    ours = half_turn_likeness(_ink_share(label, label_dark))
    if ours < SYMMETRIC:
        return None
    theirs = half_turn_likeness(_ink_share(here, dark))
    loss = LARGER_LOSS if round(scale - 1.0, 6) > SAME_SIZE else MAX_LOSS
    if theirs < ours - loss:
        return (
            f"its label reads the same turned half round ({ours:.2f}) and the ink there "
            f"does not ({theirs:.2f}): another glyph"
        )
    return None


def half_turn_likeness(ink: Any) -> float:
    """The correlation of ``ink`` (shares of full ink) cropped to its box with itself
    turned half round, the best of the turned copy's shifts by up to a pixel (a box
    of odd and even size has no pixel at its centre); -1 for no ink."""
    return self_likeness(ink, lambda box: box[::-1, ::-1])


def self_likeness(ink: Any, moved: Any) -> float:
    """The correlation of ``ink`` cropped to its box with ``moved`` (a function of the
    box: turned, mirrored) of it, the best of the moved copy's shifts by up to a
    pixel; -1 for no ink (see ``half_turn_likeness``, ``mirrored.mirror_likeness``)."""
    import numpy as np

    rows, cols = np.nonzero(ink >= BOX_INK)
    if rows.size == 0:
        return -1.0
    box = np.pad(ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1], 1)
    box = box.astype(np.float32)
    height, width = box.shape
    other = np.pad(moved(box), 1)
    best = -1.0
    for dy in range(3):
        for dx in range(3):
            best = max(best, _ncc(box, other[dy : dy + height, dx : dx + width]))
    return best


def _ncc(one: Any, other: Any) -> float:
    """The normalised correlation of two arrays of one shape (0 when either is flat)."""
    import numpy as np

    a, b = one - one.mean(), other - other.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 0 else 0.0
