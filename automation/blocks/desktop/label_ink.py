"""Ink beside a label that the label leaves out: its specks must be on screen too.

A label is the template's ink inside its crop, less pieces under
``labels._MIN_INK_AREA`` pixels: a speck gives no scale and a stray pixel of
anti-aliasing is no evidence.  But some specks are part of the glyph: the dot
of an "i" drawn at 100 % is 2 pixels.  Left out of the label, they were not
checked at all, and the label less its dot is another glyph: qalculate's
italic "i" without its dot is a slash, and with the "i" key painted out its
glyph crop answered the "∕" key at 1.6 (label stage, 0.932 blurred; 3 of the
7 wrong answers of ``bench_absent_targets --every 1 --apps qalculate``).  The
"∕" key shows plain face where the dot would be: 3 grey levels lighter than
the face, where the template's dot is 145 darker.

So every speck of strong ink (twice ``screen_ink.INK_CONTRAST``) of the
label's polarity, wholly inside the template and within ``labels.RING``
pixels of the label's ink, must have ink of that polarity on screen where
the answer puts it: at least faint ink (half the contrast, as
``verification.missing_ink`` asks of the label's own strokes), within a
pixel, or ``scale`` pixels at larger sizes (``verification.stray_ink``'s
play), of the speck's centre scaled from the label's verified place.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label

    Image: TypeAlias = npt.NDArray[Any]

#: A speck (x, y of its centre relative to the label image's corner, template pixels).
Speck = tuple[float, float]


def specks(gray_tpl: Image, label: Label) -> list[Speck]:
    """The specks of strong ink beside ``label`` in the grey template that its label
    leaves out (see the module docstring)."""
    import cv2
    import numpy as np

    from automation.blocks.desktop.labels import _MIN_INK_AREA, RING
    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    th, tw = gray_tpl.shape[:2]
    face = float(np.median(gray_tpl))
    values = gray_tpl.astype(np.int16)
    diff = (face - values) if label.dark else (values - face)
    count, _, stats, centres = cv2.connectedComponentsWithStats(
        (diff >= INK_CONTRAST).astype(np.uint8), connectivity=8
    )
    ix, iy, iw, ih = label.ink
    x0, y0 = label.x + ix, label.y + iy
    found: list[Speck] = []
    for number in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[number])
        if area >= _MIN_INK_AREA or x == 0 or y == 0 or x + w >= tw or y + h >= th:
            continue
        if int(diff[y : y + h, x : x + w].max()) < 2 * INK_CONTRAST:
            continue
        apart = max(x0 - (x + w), x - (x0 + iw), y0 - (y + h), y - (y0 + ih))
        if apart >= RING:
            continue
        cx, cy = centres[number]
        found.append((float(cx) - label.x, float(cy) - label.y))
    return found


def missing_speck(
    window: Image,
    here: Image,
    found: list[Speck],
    corner: tuple[int, int],
    scale: float,
    dark: bool,
) -> str | None:
    """None when every speck of ``found`` has ink under it on ``window`` (the grey screen
    around the label), the label's corner verified at ``corner`` in it and ``scale``,
    else what is missing.  ``here`` is the label's own patch there: its frame's
    median is the face; ``dark``: the screen's ink is darker than the face."""
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST

    frame = np.concatenate([here[0], here[-1], here[:, 0], here[:, -1]])
    face = float(np.median(frame))
    reach = max(1, round(scale))
    height, width = window.shape[:2]
    for sx, sy in found:
        x, y = round(corner[0] + sx * scale), round(corner[1] + sy * scale)
        patch = window[max(0, y - reach) : min(height, y + reach + 1),
                       max(0, x - reach) : min(width, x + reach + 1)]  # fmt: skip
        ink = (face - patch.astype(np.int16)) * (1 if dark else -1)
        darkest = int(ink.max()) if ink.size else 0
        if darkest < INK_CONTRAST // 2:
            return (
                f"a speck of its template's ink beside its label (a dot) has no ink under it "
                f"there ({darkest} grey levels from the face, {INK_CONTRAST // 2} needed): "
                "a look-alike without it"
            )
    return None
