"""A label answered near its captured size keeps its pieces; one answered larger, its strokes.

Synthetic keys whose labels no calculator shows (``bench_absent_targets
--foreign``: OpenCV's Hershey font), searched on the saved screens of the
three calculators, were answered by the whole-template stages on glyphs that
differ from them by a stroke, with every check of ``verification`` passed:

* near the captured size (0.9 to 1.1, not 1.0): the "?" glyph on
  speedcrunch's "7" key at 0.9 and 1.1 (scales stage, 0.854 to 0.856; 4 of
  the 60 wrong answers), and on the same key at 0.96 by the label stage once
  the scales stage no longer answered.  The "7" joins in one stroke what the
  "?" parts (its dot).  ``verification.bridged_gaps`` compares the label
  unresized, a tenth larger than the "7" there, and finds only 1 or 2
  pixels in the gap; ``ink_pieces`` looks only above 1.1.  So here too the
  label's pieces, resized, must correspond one to one with the screen's ink
  (``ink_pieces.mismatch``), for the answers of every stage that
  ``verification.check`` checks;
* above it, for the whole-template stages: the "Q" glyph on galculator's bold
  display "0" at 1.75 and 2.0 (0.896 to 0.909; 4 wrong answers).  The "0" is
  the "Q" less its tail, and every pixel of the tail but a few lies within
  the stroke's play that ``verification.stray_ink`` and the correlation
  forgive.  So every pixel of the resized label's strong ink (``STRONG_INK``
  of full ink) must have ink (``verification.GAP_INK``) within a pixel on
  screen, but for ``UNCOVERED`` of them (``uncovered``): the "Q" has 7 to 9
  without.

Measured on true answers: the targeting replay (``bench_targeting --every 4``,
templates cut at 100 %) has, above 1.1, 93 whole-template answers with no
such pixel and one with 2; templates cut from the saved 125, 150 and 200 %
screens and searched on the others have 232 with none.  Near the captured
size the pieces refused none of the replay's (1 whole-template answer at
1.05, 11 of the label stage at 0.96 and 1.04) nor of the cut templates' (33
at 0.9 to 1.1).

Not refused: the "~" glyph (at this size a dash two pixels high with a bump)
on the "−" keys at 0.67 to 1.5, the "Z" on speedcrunch's "2" at 0.67 to
1.25, and below 1.0 the "U" on qalculate's "u" and the "R" on a "8": within a
pixel's play each lacks no ink and adds none.  At 1.0 the "~" lacks 25 to
39 % of its ink pixel by pixel, but so does a true key whose template was
cut at another display scale and whose glyph has the same size there (up to
37 %, speedcrunch's "∗" cut at 150 % and found at 125 %); within a pixel's
play it lacks nothing.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label

    Image: TypeAlias = npt.NDArray[Any]

#: An answer this close to scale 1 compares its label unresized (``verification``).
CAPTURED = 0.01
#: A resized label's strong ink: this share of full ink or more (``uncovered``) ...
STRONG_INK = 2 / 3
#: ... of which at most this many pixels may have no ink within a pixel on screen.
UNCOVERED = 4


def refusal(
    label: Label, resized: Image, here: Image, dark: bool, scale: float, *, whole: bool
) -> str | None:
    """None when ``here`` (the screen where an answer puts the label, ``resized`` to the
    answer's ``scale``) shows the label's ink, else why not.  ``dark``: the screen's
    ink is darker than its face; ``whole``: a whole-template stage's answer."""
    from automation.blocks.desktop import dots, ink_pieces
    from automation.blocks.desktop.verification import SAME_SIZE

    if abs(scale - 1.0) <= CAPTURED:
        return None  # ``verification.bridged_gaps`` compares the label unresized
    joined = None if whole else dots.joined(label.image, label.dark, here, dark, scale)
    if joined is not None:  # a label stage's answer, at any size but the captured one
        return joined
    if abs(round(scale - 1.0, 6)) <= SAME_SIZE:  # ``ink_pieces.check`` looks above
        return ink_pieces.mismatch(label.image, label.dark, here, dark, scale)
    return uncovered(resized, label.dark, here, dark) if whole and scale > 1.0 else None


def uncovered(label: Image, label_dark: bool, here: Image, dark: bool) -> str | None:
    """None when every pixel of strong ink of ``label`` (resized to a larger size) has
    ink within a pixel on ``here`` (the screen there, a window of its size), but for
    ``UNCOVERED`` of them, else how many lack it.  ``label_dark`` and ``dark``: the
    label's ink and the screen's are darker than their faces."""
    import cv2
    import numpy as np

    from automation.blocks.desktop.verification import GAP_INK, _ink_share

    ours, theirs = _ink_share(label, label_dark), _ink_share(here, dark)
    near = cv2.dilate((theirs >= GAP_INK).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    strong = ours >= STRONG_INK
    count = int((strong & ~near).sum())
    if count > UNCOVERED:
        return (
            f"{count} of its label's {int(strong.sum())} pixels of strong ink have no ink "
            "within a pixel there: a look-alike without one of its strokes"
        )
    return None
