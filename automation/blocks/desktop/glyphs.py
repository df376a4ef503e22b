"""Verifying a label of several letters letter by letter: re-hinted spacing.

A toolkit that draws a label again at another font size places each letter
on its own whole pixel: "AC", "MS", "STO" at 125-200 % keep their letters'
shapes but not their spacing, so the label as one image correlates 0.65 to
0.75 at full resolution and 0.77 to 0.82 blurred (``labels``' soft
verification), under the bar, while each letter alone correlates 0.8 to
0.96.  So, when neither verification answered, each proposed place of a
label with several pieces of ink is verified piece by piece: every piece
(with a pixel of face around it), resized to the place's scale and blurred
like the soft verification, is looked for within ``GLYPH_PAD`` pixels of
where the place puts it.  The place's score is the area-weighted mean of
its pieces' scores.

Since a piece is small evidence, the rules are stricter than the soft
verification's:

* every piece must score at least ``GLYPH_MIN`` (a word with one wrong letter
  is another word: "MR" scores 0.6 on the "S" of "MS");
* the mean must reach the bar, and every other place whose pieces all pass
  must score ``labels.LABEL_GAP`` below it (or be told apart by
  ``lookalikes``);
* the whole label must still correlate at least ``GLYPH_SHARP_FLOOR`` at full
  resolution there (the letters are about where they should be), and the
  place must be the one the sharp verification liked best, if it liked any.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.screen_ink import ScreenInk

    Image: TypeAlias = npt.NDArray[Any]

#: Every piece of a label must score at least this at its place.
GLYPH_MIN = 0.75
#: A piece is looked for this many pixels (plus one per doubling of size) around its place.
GLYPH_PAD = 2
#: The whole label must still correlate this well at full resolution at the place.
GLYPH_SHARP_FLOOR = 0.6
#: Proposed places whose blurred label scores below this are not verified piece by piece.
GLYPH_SOFT_FLOOR = 0.7
#: More distinct places than this to verify: the label cannot single one out (not found).
MAX_PLACES = 16
#: Pieces of ink smaller than this (in template pixels) are left out.
_MIN_PIECE_AREA = 6
#: A piece parted by a seam has at least this many pixels of strong ink (the dot of "!": 4).
_SEAM_PIECE_AREA = 3


def pieces(label: Label, min_area: int = _MIN_PIECE_AREA) -> list[tuple[int, int, int, int, int]]:
    """The label's pieces of ink of ``min_area`` pixels or more: (x, y, width, height,
    area) in the label image, each with a pixel of face around it where the image
    has one."""
    import cv2
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    image = label.image
    face = float(np.median(image))
    values = image.astype(np.int16)
    diff = (face - values) if label.dark else (values - face)
    mask = (diff >= INK_CONTRAST).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = image.shape[:2]
    found = []
    for x, y, w, h, area in (tuple(int(v) for v in s) for s in stats[1:count]):
        if area < min_area:
            continue
        x0, y0 = max(0, x - 1), max(0, y - 1)
        found.append((x0, y0, min(width, x + w + 1) - x0, min(height, y + h + 1) - y0, area))
    return found


def score(
    ink: ScreenInk, label: Label, parts: list[tuple[int, int, int, int, int]], place: Any
) -> tuple[float, float]:
    """(area-weighted mean, lowest) piece score of the label at ``place``
    (x, y, scale, dark ink on screen: a ``lookalikes.Place``)."""
    import cv2

    from automation.blocks.desktop.correlation import _best_near
    from automation.blocks.desktop.screen_ink import SOFT_SIGMA

    x, y, scale, dark = place
    sign = 1 if dark == label.dark else -1
    total, weighted, lowest = 0, 0.0, 1.0
    pad = GLYPH_PAD + int(abs(scale - 1) * 2)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    for px, py, pw, ph, area in parts:
        piece = label.image[py : py + ph, px : px + pw]
        size = (max(3, round(pw * scale)), max(3, round(ph * scale)))
        tpl = cv2.GaussianBlur(
            cv2.resize(piece, size, interpolation=interpolation), (0, 0), SOFT_SIGMA
        )
        corner = (round(x + px * scale), round(y + py * scale))
        near = _best_near(ink.soft(), tpl, [corner], pad, sign)
        value = float(near[0][2]) if near else -1.0
        lowest = min(lowest, value)
        weighted += value * area
        total += area
    return (weighted / total if total else -1.0), lowest


def _all_pieces(label: Label) -> list[tuple[int, int, int, int, int]]:
    """Every piece the label stage counts as ink, down to the bar of "x̄" (4 pixels)."""
    from automation.blocks.desktop.labels import _MIN_INK_AREA

    return pieces(label, _MIN_INK_AREA)


def complete(ink: ScreenInk, label: Label, place: Any) -> bool:
    """True when every piece of the label scores ``GLYPH_MIN`` at ``place`` (a label of
    one piece: always)."""
    parts = _all_pieces(label)
    return len(parts) < 2 or score(ink, label, parts, place)[1] >= GLYPH_MIN


def rivals(ink: ScreenInk, label: Label, best: Any, others: list[Any]) -> list[Any]:
    """The places of ``others`` where every piece of the label scores ``GLYPH_MIN``, for
    a ``best`` place that shows every piece (``complete``): the others are not the label.

    A place that lacks one piece shows another label: the "x" key lacks the bar
    of "x̄" and scores within the gap of it as a whole.  The caller only asks
    this of a place that shows every piece itself, so an absent label's
    look-alike, which lacks a piece, is no more found than before.
    """
    parts = _all_pieces(label)
    if len(parts) < 2:
        return others
    return [place for place in others if score(ink, label, parts, place)[1] >= GLYPH_MIN]


def seamed(label: Label) -> bool:
    """True when the label is one piece of ink only through a faint seam: read at twice
    the ink contrast it falls into pieces, one above another.

    Speedcrunch's "!" is captured with its bar and dot joined by one anti-aliased
    row (27 grey levels off the face, for a contrast of 24), and drawn apart at
    every other size, theme and phase: its anchor (the bar and dot as one, 9
    pixels high) is then shaped like no piece on screen, and a bar of 6 pixels
    proposed a scale of 0.67 that fitted nowhere (7 of 7 such cases missed).
    Such a label is searched by its whole ink as well, as a label of several
    pieces is (``labels.several``), the screen's ink grouped across small gaps.
    """
    import cv2
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    if label.by_width:
        return False
    image = label.image.astype(np.int16)
    face = float(np.median(image))
    diff = (face - image) if label.dark else (image - face)
    counts, strong = [], []
    for contrast in (INK_CONTRAST, 2 * INK_CONTRAST):
        mask = (diff >= contrast).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        strong = [s for s in stats[1:count] if s[4] >= _SEAM_PIECE_AREA]
        counts.append(len(strong))
    # stacked: a piece wholly below another, in columns they share (not letters side by
    # side, which ``labels.Label.split`` reads apart)
    return (
        counts[0] == 1
        and counts[1] > 1
        and any(
            b[1] >= a[1] + a[3] and b[0] < a[0] + a[2] and a[0] < b[0] + b[2]
            for a in strong
            for b in strong
        )
    )
