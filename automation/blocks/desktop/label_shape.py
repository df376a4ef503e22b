"""A label answered at a size other than the captured one: the holes it keeps there.

The label stage tries every size from 0.6 to 2.4 times the captured one, and
the scale stage eleven sizes; at so many sizes and places, a simple round
shape correlates with a label by chance.  Synthetic keys whose labels no
calculator shows (``bench_absent_targets --foreign``), searched on the saved
screens of the three calculators, were answered: "G" and "U" keys on
galculator's bold display "0" at 1.6 to 2.3 times their size (0.86 to
0.88).  Every check of ``verification`` passed: the blurred label
correlates, the face around it is clear, no stroke lies beside it.  At about
the captured size ``verification.bridged_gaps`` compares the label's pieces
and holes with the screen's; away from it the label is resized, a one-pixel
gap smears, and comparing pieces would refuse true keys (a toolkit draws
its own glyphs at 200 %).  What a resized label keeps is its holes:

* the screen's ink must not enclose face the label leaves open
  (``enclosed_face``), more than ``verification.BRIDGED_PIXELS`` times the
  scale squared (an area grows with the square).  A "G" or a "U" is open
  where the "0" is closed: 89 to 353 pixels the screen encloses and the
  resized label leaves open.  The targeting replay (every 4. button, all
  scales and themes) loses no hit to it.

A template whose ink touches its crop (a glyph cropped tight) has no label
clear of its edge (``labels.extract``), and its answers went unchecked: the
"G" glyph answered the "0" by the scale stage at 1.75 (0.881).  Its whole
ink is now its label for the checks of an answer at another size
(``unframed``, ``away_from_captured``).  Not at the captured size: there the
correlation compares the template's own pixels, while the checks judge the
label against what surrounds it on screen, which a tight crop does not
show.  A crop of a key's edge, pixel for pixel the edge of several keys
(score 1.000 at each), had its look-alikes refused by the label beside them
and was reported not found instead of an ambiguous target naming them.

**No blob of difference deeper than a template pixel.**  Resizing and
re-hinting move a stroke's edge: the label resized and the screen's ink
differ along their strokes, in slivers a pixel deep (L1 distance to the
nearest pixel that agrees), and where a template pixel grows past two screen
pixels, by as deep as it is wide.  A letter the screen does not show differs
in a piece of a stroke: the tail of a "Q", which galculator's bold display
"0" lacks (label stage, 0.86 to 0.90 at 0.64, 1.56, 2.2 and 2.4; 11 of the 30
label-stage answers of ``bench_absent_targets --foreign``), the dot and the
hook's end of a "?" on speedcrunch's "7" at 1.72.  So where the label's ink
(half of full ink or more) meets no ink on screen (under a quarter), or the
screen's meets none of the label's, that blob must be no deeper than
``max(1, scale)`` pixels (``unexplained_ink``).  Measured on the targeting
replay (every 4. button, all scales and themes), the 289 answers away from
the captured size that were checked here and hit (195 of the label stage,
94 of the scale stage): every such blob is at most a pixel deep, but one 2
deep at 2.12; the foreign answers' are 2 to 4 deep at 0.64 to 2.4.

Found with them: the label stage tries each proposed size a step either
side too, and a "?" proposed at 0.6 (``labels.MIN_SCALE``) was tried at
0.56, 81 pixels of ink shrunk to 25, and answered a "7" key at 0.900.  Those
steps now stay within the stage's sizes (``labels.search``).

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label

    Image: TypeAlias = npt.NDArray[Any]


def refusal(label: Label, resized: Image, here: Image, dark: bool, scale: float) -> str | None:
    """None when the ink on ``here`` (the screen where the answer puts the label,
    ``resized`` to the answer's ``scale``) keeps the label's shape, else why not.
    ``dark``: the screen's ink is darker than its face.  At about the captured
    size ``verification`` checks the same, finer, and this says nothing."""
    if not away_from_captured(scale):
        return None
    enclosed = enclosed_face(resized, label.dark, here, dark, scale)
    return (
        enclosed
        if enclosed is not None
        else unexplained_ink(resized, label.dark, here, dark, scale)
    )


def away_from_captured(scale: float) -> bool:
    """Whether an answer at ``scale`` is away from the captured size (as
    ``verification`` counts it: 0.9 and 1.1 are the captured size)."""
    from automation.blocks.desktop import verification

    return round(abs(scale - 1.0), 6) > verification.SAME_SIZE


def unframed(gray_tpl: Image) -> Label | None:
    """The template's ink as a label when ``labels.extract`` finds none clear of its
    edges (a glyph cropped tight: its ink touches the crop), for checking an answer;
    None when the template has no ink at all.  The clear ring is none on the sides
    the ink touches: the screen beyond the crop is not the template's."""
    from dataclasses import replace

    import cv2
    import numpy as np

    from automation.blocks.desktop import labels

    th, tw = gray_tpl.shape[:2]
    pad = labels.LABEL_PAD + 1
    face = int(np.median(gray_tpl))
    padded = cv2.copyMakeBorder(gray_tpl, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=face)
    label = labels.extract(padded, anchored=False)
    if label is None:
        return None
    ix, iy, iw, ih = label.ink
    x0, y0 = label.x + ix - pad, label.y + iy - pad  # the ink's box in the template
    room = (x0, y0, tw - (x0 + iw), th - (y0 + ih))
    ring = tuple(max(0, min(side, clear)) for side, clear in zip(label.ring, room, strict=True))
    return replace(
        label,
        x=label.x - pad,
        y=label.y - pad,
        ring=(ring[0], ring[1], ring[2], ring[3]),
        size=(th, tw),
    )


def enclosed_face(
    label: Image, label_dark: bool, screen: Image, dark: bool, scale: float
) -> str | None:
    """None unless the screen's ink encloses more face than the label's leaves open,
    beyond ``verification.BRIDGED_PIXELS`` times ``scale`` squared."""
    from automation.blocks.desktop import verification as v

    ours, theirs = v._ink_share(label, label_dark), v._ink_share(screen, dark)
    inked = ours >= v.GAP_INK
    closed = v._enclosed(theirs >= v.GAP_INK) & ~v._enclosed(inked) & ~inked
    count = int(closed.sum())
    if count > v.BRIDGED_PIXELS * max(1.0, scale) ** 2:
        return (
            f"the ink there encloses {count} pixels of face that its label, at {scale:g} "
            "times its size, leaves open: another label"
        )
    return None


#: Ink of at least this share of full ink is ink, for ``unexplained_ink`` ...
SURE_INK = 0.5
#: ... and under this share it is face.
SURE_FACE = 0.25


def unexplained_ink(
    label: Image, label_dark: bool, screen: Image, dark: bool, scale: float
) -> str | None:
    """None unless the label's ink (``label``, resized to the answer's ``scale``) and the
    screen's where the answer puts it differ in a blob deeper than ``max(1, scale)``
    pixels (see the module docstring)."""
    import cv2
    import numpy as np

    from automation.blocks.desktop import verification as v

    ours, theirs = v._ink_share(label, label_dark), v._ink_share(screen, dark)
    allowed = max(1.0, scale)
    for blob, what in (
        ((ours >= SURE_INK) & (theirs < SURE_FACE), "of its label's ink has none on screen"),
        ((theirs >= SURE_INK) & (ours < SURE_FACE), "of the screen's ink is not its label's"),
    ):
        padded = np.pad(blob.astype(np.uint8), 1)
        depth = float(cv2.distanceTransform(padded, cv2.DIST_L1, 3).max())
        if depth > allowed:
            return (
                f"a blob {depth:g} pixels deep {what} there, at {scale:g} times its size "
                f"(at most {allowed:g} from resizing): another label"
            )
    return None
