"""A label's ink that correlation does not weigh: specks beside it, stroke widths.

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

**Strokes no wider than captured.**  A label drawn smaller than captured
(``scale`` under 1 less ``verification.SAME_SIZE``) has shorter strokes, and
strokes no wider than the template's: a stroke thinner than a pixel is drawn
fainter, or hinted to one pixel, never wider than it was.  At that size a
label is a few pixels each way, and a stroke's play of a pixel forgives
almost any blob of its size: qalculate's "7" (9 by 6 pixels, strokes of 1 to
2) at 0.68 and 0.72 is a slanted blob of 6 by 4, and with the "7" key painted
out at 200 % it answered a comma of the help text (label stage, 0.850
blurred, 0.770 sharp; 4 of the 7 wrong answers of ``bench_absent_targets
--every 1 --apps qalculate``).  The comma is drawn at 200 % with a head of 3
by 3 pixels of full ink, where no stroke of the "7" is over 2 pixels wide.

So the screen's strokes there must be no deeper than the template label's
(``stroke_depth``: how many steps of a pixel the innermost pixel of ink lies
from the face): the screen's counting only the core of its ink (``CORE_INK``
of full ink or more), the template's all of it that is half of full ink or
more.  The comma's core is 2 deep, the "7" 1.  The two levels leave room for
what another size does to a stroke's edge: light ink on a dark face spreads
into a third column at about 0.6 of full ink (speedcrunch's "÷" in the dark
style at 0.88: its dots read 3 wide at half ink, where the template's are
2), and a smaller "6" draws its bowl's junction with the stem a pixel
thicker (galculator's, captured at 150 % and found at 125 %); one level for
both refused each of them.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label

    Image: TypeAlias = npt.NDArray[Any]

#: The core of a stroke on screen: ink of at least this share of full ink ...
CORE_INK = 0.75
#: ... and a stroke of the template: ink of at least this share (``stroke_depth``).
HALF_INK = 0.5

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


def stroke_depth(image: Image, dark: bool, level: float) -> float:
    """How many steps of a pixel (4-connected) the innermost pixel of ``image``'s ink
    lies from its face: 1 for strokes of 1 or 2 pixels, 2 for 3 or 4, and so on.
    Ink is ``level`` of full ink or more (``verification._ink_share``), so a
    faint theme and a black one read alike."""
    import cv2
    import numpy as np

    from automation.blocks.desktop.verification import _ink_share

    ink = np.pad((_ink_share(image, dark) >= level).astype(np.uint8), 1)
    return float(cv2.distanceTransform(ink, cv2.DIST_L1, 3).max())


def wider_strokes(label: Label, here: Image, dark: bool) -> str | None:
    """None when the ink of ``here`` (the screen where the answer puts the label, at a
    size under the captured one) has no stroke wider than the template label's,
    else how much wider (see the module docstring)."""
    captured = stroke_depth(label.image, label.dark, HALF_INK)
    there = stroke_depth(here, dark, CORE_INK)
    if there > captured:
        return (
            f"its ink there has strokes {there:g} pixels deep where its label's, drawn "
            f"larger, are {captured:g}: a label drawn smaller has no wider strokes"
        )
    return None
