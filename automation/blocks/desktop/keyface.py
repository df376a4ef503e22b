"""The key around a label: a label stage answer must show the face its template shows.

The label stage (``labels``) finds a template by its label alone, because
font-only scaling and dark themes redraw everything else.  For a template cut
around its label (a glyph crop) the label is all there is to check.  A
template of a whole key says more: its label sits on a face that stays clear
of ink out to the key's border, tens of pixels on each side.  The same glyph
elsewhere on the screen usually does not: qalculate's "=" key, painted out
at 150 %, was answered with the "=" of its "x =" key at 0.97, a glyph whose
clear ring (``labels.isolated``, at most ``labels.RING`` pixels) is clear, but
whose key holds an "x" a dozen pixels to its left, where the "=" key shows
nothing but face.

So a label stage answer must be clear of ink as far as the template's face
reaches around its label (``extent``), within the label's rows to its left and
right and within its columns above and below.  The template's face is
measured up to its first ink of either polarity (a border, another glyph) or
the template's edge, and shrunk on screen for what may legitimately have
changed:

* a label drawn larger (font-only scaling) grows into the face while the key
  may not grow: a key's label is centred, so each side loses half the
  label's growth, ``(scale - 1) / 2`` times its size;
* a label drawn smaller shrinks its key with it (toolkit scaling): each side
  is ``scale`` times the template's;
* a theme may draw the border thicker or closer, and a tooltip may cover
  the key's edge: a third of the face, at least ``FACE_SLACK`` pixels, is
  not checked next to a border (only where the template's face ends on ink:
  a glyph crop's face ends at the crop's edge, and the key goes on beyond).

Ink of either polarity counts, measured as in the template (against the
face's median): another label, a border, or the edge of a window over the
key (a tooltip's black beside the "0" of a "10" it hides) are all not the
face the template shows.  Unlike the clear ring, a frame around the label is
not forgiven here: a border inside the template's face is a smaller key
than the template's, not the same key hovered (a hover border moves by a
pixel, within the slack).

Except the label's own shadow: ink of the polarity opposite to the label's
that the label's ink, moved at most ``SHADOW_REACH`` pixels in one direction,
covers.  Adwaita dark draws two dark rows above qalculate's light labels; at
200 % the row beyond ``labels.RING_SLACK`` counted 14 pixels beside "π" and
10 beside "5", and their keys were refused.  A rival key's label, a border or
a tooltip's edge is not a copy of the label's strokes two pixels off: it
counts as before (the "Factorize" tooltip over qalculate's "π" key at 100 %
light still leaves 8 pixels of its black edge there).

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.matching import Match

    Image: TypeAlias = npt.NDArray[Any]

#: Pixels of the template's face, next to its border, that a theme may draw differently ...
FACE_SLACK = 2
#: ... or this share of the face, when more: Adwaita dark draws qalculate's keys with a
#: border 4 pixels deeper than the light theme.
FACE_SLACK_SHARE = 1 / 3
#: At most this many pixels of ink may lie in the face around an answer's label.
FACE_STRAY = 2

#: A label's shadow (ink of the other polarity) lies at most this many pixels from its ink,
#: all on one side: Adwaita dark draws two dark rows above qalculate's light labels.
SHADOW_REACH = 2

#: Clear face beyond the label's ink in the template (left, top, right, bottom), in pixels.
Extent = tuple[int, int, int, int]


def extent(gray_tpl: Image, label: Label, contrast: int | None = None) -> Extent:
    """How far the template's face stays clear of ink on each side of its label's ink:
    columns to the left and right within the label's rows, rows above and below
    within its columns, up to the first ink of either polarity (less a third of the
    way, at least ``FACE_SLACK`` pixels) or the template's edge.  Ink is what differs
    from the face by ``contrast`` (``screen_ink.INK_CONTRAST`` unless given)."""
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    face = float(np.median(gray_tpl))
    bar = INK_CONTRAST if contrast is None else contrast
    ink = np.abs(gray_tpl.astype(np.int16) - face) >= bar
    ix, iy, iw, ih = label.ink
    x0, y0 = label.x + ix, label.y + iy
    x1, y1 = x0 + iw, y0 + ih
    rows, columns = ink[y0:y1].any(axis=0), ink[:, x0:x1].any(axis=1)
    return (
        _clear_run(rows[:x0][::-1]),
        _clear_run(columns[:y0][::-1]),
        _clear_run(rows[x1:]),
        _clear_run(columns[y1:]),
    )


def _clear_run(inked: Any) -> int:
    """The number of leading False values of a boolean vector, less the slack when they
    end on ink (a border a theme may draw closer), all of them when they reach the
    template's edge."""
    import numpy as np

    hits = np.flatnonzero(inked)
    if not len(hits):
        return len(inked)
    run = int(hits[0])
    return max(0, run - max(FACE_SLACK, round(run * FACE_SLACK_SHARE)))


def on_screen(side: int, size: int, scale: float) -> int:
    """How much of a side of ``side`` template pixels, beside a label ``size`` pixels
    long across it, must be clear face on screen at ``scale`` (see the module docstring)."""
    # larger: the label grows into the face; smaller: the key shrinks with it
    kept = side - (scale - 1.0) * size / 2 if scale >= 1.0 else side * scale
    return max(0, int(kept))


def stray(gray: Image, label: Label, clear: Extent, match: Match, face: float | None = None) -> int:
    """Pixels of ink on the grey screen in the face around ``match``'s label, beyond
    ``labels.RING_SLACK`` of the label's ink, where the template is clear.

    Ink is what differs from the face by ``screen_ink.INK_CONTRAST`` grey levels, as
    in the template, and the face is the median of those pixels on screen: a
    local mean (as ``screen_ink.ScreenInk`` takes) would read a key's face as light ink
    beside the black outside a window.  A caller that knows the face better passes it
    (``face``: ``answer_face`` reads it as the template's was read).
    """
    import numpy as np

    from automation.blocks.desktop.labels import RING_SLACK

    scale = match.scale
    ix, iy, iw, ih = label.ink
    x0 = match.x + round((label.x + ix) * scale)
    y0 = match.y + round((label.y + iy) * scale)
    x1, y1 = x0 + round(iw * scale), y0 + round(ih * scale)
    left, top, right, bottom = (
        on_screen(side, size, scale) for side, size in zip(clear, (iw, ih, iw, ih), strict=True)
    )
    height, width = gray.shape[:2]
    s = RING_SLACK
    strips = []
    boxes: list[tuple[int, int, int, int]] = []
    for sx0, sy0, sx1, sy1 in (
        (x0 - left, y0, x0 - s, y1),
        (x0, y0 - top, x1, y0 - s),
        (x1 + s, y0, x1 + right, y1),
        (x0, y1 + s, x1, y1 + bottom),
    ):
        sx0, sy0, sx1, sy1 = max(0, sx0), max(0, sy0), min(width, sx1), min(height, sy1)
        if sx1 > sx0 and sy1 > sy0:
            strips.append(gray[sy0:sy1, sx0:sx1].reshape(-1))
            boxes.append((sx0, sy0, sx1, sy1))
    if not strips:
        return 0
    level = int(np.median(np.concatenate(strips))) if face is None else round(face)
    return _unshadowed(gray, level, boxes, (x0, y0, x1, y1))


def refusal_reason(
    gray: Image, label: Label, clear: Extent, match: Match, face: float | None = None
) -> str | None:
    """None when the face around ``match``'s label is as clear as the template's, else why
    (``face``: as ``stray`` takes it)."""
    found = stray(gray, label, clear, match, face)
    if found > FACE_STRAY:
        return (
            f"the screen has {found} pixels of ink there in the face the template shows "
            "clear around its label: another key with the same label"
        )
    return None


def _unshadowed(
    gray: Image, face: int, boxes: list[tuple[int, int, int, int]], box: tuple[int, int, int, int]
) -> int:
    """Pixels of ink in ``boxes`` (the checked face around the label's ``box``), less
    those of the label's shadow: ink of the opposite polarity to the label's that the
    label's own ink, moved up to ``SHADOW_REACH`` pixels in one direction, covers."""
    import numpy as np

    from automation.blocks.desktop.labels import RING_SLACK
    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    reach = SHADOW_REACH
    # a window holding the checked face and the label's ink, with room to shift by reach
    wx0 = max(0, min(b[0] for b in boxes) - reach)
    wy0 = max(0, min(b[1] for b in boxes) - reach)
    wx1, wy1 = max(b[2] for b in boxes) + reach, max(b[3] for b in boxes) + reach
    level = gray[wy0:wy1, wx0:wx1].astype(np.int16) - face
    light, dark = level >= INK_CONTRAST, level <= -INK_CONTRAST
    checked = np.zeros(level.shape, bool)
    for sx0, sy0, sx1, sy1 in boxes:
        checked[sy0 - wy0 : sy1 - wy0, sx0 - wx0 : sx1 - wx0] = True
    x0, y0, x1, y1 = box
    # the label's ink: within the ring slack of its box (a rescaled box is a pixel off)
    near = np.zeros_like(checked)
    s = RING_SLACK
    near[
        max(0, y0 - s - wy0) : max(0, y1 + s - wy0), max(0, x0 - s - wx0) : max(0, x1 + s - wx0)
    ] = True
    near &= ~checked
    glyph_light = int((light & near).sum()) >= int((dark & near).sum())
    glyph, opposite = (light, dark) if glyph_light else (dark, light)
    stray_same = int((glyph & checked).sum())
    stray_opposite = opposite & checked
    if not stray_opposite.any():
        return stray_same
    own = glyph & near
    explained = 0
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
        moved = np.zeros_like(own)
        for step in range(1, reach + 1):
            moved |= _shifted(own, dx * step, dy * step)
        explained = max(explained, int((stray_opposite & moved).sum()))
    return stray_same + int(stray_opposite.sum()) - explained


def _shifted(mask: Image, dx: int, dy: int) -> Image:
    """``mask`` moved by (dx, dy) pixels, what moves out dropped, what moves in False."""
    import numpy as np

    out = np.zeros_like(mask)
    height, width = mask.shape
    out[max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)] = mask[
        max(0, -dy) : height + min(0, -dy), max(0, -dx) : width + min(0, -dx)
    ]
    return out
