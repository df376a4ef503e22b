"""Ink right beside a label on screen that its template does not show there.

The clear ring of ``labels.isolated`` forgives ink within ``labels.RING_SLACK``
pixels of the label's box (anti-aliasing at another size bleeds that far),
and reads no ring at all on a side where the template has ink of either
polarity next to the label (a dark theme's shadow line over a light bar);
``verification.stray_ink`` looks only inside the label's own box.  So a
label found on one stroke of a longer one passed: qalculate's "−" key, cut
whole or glyph-only at 125 and 150 % dark, was answered at 100 % dark on the
"=" key (0.902, label stage at 0.8: its bar on one bar of the "=", the other
two pixels below) and on the "±" key (0.886: on its bar, the "+" above).

The template itself says what lies there.  Around the label's ink, as far as
``REACH`` screen pixels (within the template), the template resized to the
answer's scale is compared with the screen: strong ink of the label's
polarity on screen (``screen_ink.INK_CONTRAST`` twice, against the face of
the template's box there: ``labels.screen_face``) with no ink of the
template's (half the contrast) within a stroke's play (a pixel, ``scale``
pixels at larger sizes) counts, as in ``stray_ink``, when it belongs to a
piece of ink apart from the label's: a piece that reaches the template's ink
is the label drawn longer or bolder at this size, and a line across the whole
region is a key's border or a divider, which font-only scaling brings closer
to a grown label (a wider region took the bottom edge of galculator's ")" key,
6 pixels under its label at 150 %, for 19 pixels beside it).  More than
``BESIDE_INK`` of the label's own strong ink, and two pixels, and it is
another label: the "−" on the "=" and "±" keys shows 11 and 12 pixels beside
a label of 21 and 16 (0.52 and 0.75).  True answers show at most 2 pixels
(qalculate's "i" cut at 150 % and found at 0.6: 2 of 11, the two-pixel
floor), none on the answers of the targeting replay (``bench_targeting
--every 4``), and at most 0.18 of the label's ink on the true answers of
``bench_cross_scale --every 6``.  A template cut tight round its label
says nothing beyond its edge: only its own pixels are compared.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label

    Image: TypeAlias = npt.NDArray[Any]

#: Screen pixels beyond the label's ink that are compared with the template (``labels.RING``).
REACH = 5
#: At most this share of the label's strong ink may lie beside it on screen unexplained
#: (true answers: 0.18 and 2 pixels at most; the "−" on the "=" and "±" keys: 0.52, 0.75).
BESIDE_INK = 0.4


def stray(
    window: Image,
    template: Image,
    label: Label,
    corner: tuple[int, int],
    dark: bool,
    scale: float,
) -> tuple[int, int] | None:
    """(pixels of strong ink on ``window`` around the label placed at ``corner`` that
    the template resized by ``scale`` does not explain, pixels of the label's strong
    ink), or None when the template's surroundings do not fit on ``window``.
    ``dark``: the screen's ink is darker than its face; ``template``: grey."""
    import math

    import cv2
    import numpy as np

    from automation.blocks.desktop import labels
    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    th, tw = template.shape[:2]
    ix, iy, iw, ih = label.ink
    ix, iy = label.x + ix, label.y + iy  # the ink's box in the template
    extra = math.ceil(REACH / scale)
    x0, y0 = max(0, ix - extra), max(0, iy - extra)
    x1, y1 = min(tw, ix + iw + extra), min(th, iy + ih + extra)
    size = (max(3, round((x1 - x0) * scale)), max(3, round((y1 - y0) * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    ours = cv2.resize(template[y0:y1, x0:x1], size, interpolation=interpolation)
    sx, sy = corner[0] - round((label.x - x0) * scale), corner[1] - round((label.y - y0) * scale)
    height, width = window.shape[:2]
    if sx < 0 or sy < 0 or sx + size[0] > width or sy + size[1] > height:
        return None
    theirs = window[sy : sy + size[1], sx : sx + size[0]].astype(np.int16)
    sign = 1 if label.dark else -1
    ours_ink = (float(np.median(template)) - ours.astype(np.int16)) * sign
    face = labels.screen_face(window, label, corner[0], corner[1], scale)
    theirs_ink = (face - theirs) * (1 if dark else -1)
    play = max(1, round(scale))
    explained = (ours_ink >= INK_CONTRAST // 2).astype(np.uint8)
    near = cv2.dilate(explained, np.ones((2 * play + 1,) * 2, np.uint8))
    # a piece of the screen's ink that reaches the template's ink is the label's own,
    # drawn longer or bolder at this size (galculator's ")" at 150 %): only pieces
    # apart from it count
    count, pieces = cv2.connectedComponents(
        (theirs_ink >= INK_CONTRAST // 2).astype(np.uint8), connectivity=8
    )
    own = set(np.unique(pieces[(explained > 0) & (pieces > 0)]).tolist())
    # a line across the whole region is a key's border or a divider, which font-only
    # scaling brings closer to a grown label (``labels.isolated`` reads those)
    own |= set(np.intersect1d(pieces[:, 0], pieces[:, -1]).tolist())
    own |= set(np.intersect1d(pieces[0], pieces[-1]).tolist())
    apart = (pieces > 0) & ~np.isin(pieces, list(own))
    unexplained = int(((theirs_ink >= 2 * INK_CONTRAST) & (near == 0) & apart).sum())
    total = int((ours_ink >= 2 * INK_CONTRAST).sum())
    return unexplained, total


def refusal(
    window: Image,
    template: Image | None,
    label: Label,
    corner: tuple[int, int],
    dark: bool,
    scale: float,
) -> str | None:
    """None unless the screen shows ink beside the label (placed at ``corner`` of
    ``window``) that the template does not, more than ``BESIDE_INK`` of the label's,
    else how much."""
    if template is None:
        return None
    found = stray(window, template, label, corner, dark, scale)
    if found is None:
        return None
    unexplained, total = found
    if unexplained > max(2.0, BESIDE_INK * total):
        return (
            f"the screen has {unexplained} pixels of ink beside its label (its label has "
            f"{total}) where the template shows none: part of another label"
        )
    return None
