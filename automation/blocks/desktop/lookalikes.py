"""Telling a label from its look-alikes where they differ, not where they agree.

The label stage (``labels``) refuses to answer when a second place scores
within ``LABEL_GAP`` of the best: a blurred or re-hinted "3" correlates 0.93
with the "3" key and 0.83 with the "8" key, because most of their ink is the
same.  The correlation over the whole label is dominated by the strokes the
two keys share; the one stroke that tells them apart (the left half of the
"8") is a few percent of the pixels.

So, when a rival is within the gap, the two places are compared with each
other first: the pixels where the screen differs between them (after aligning
one onto the other) are the only ones that can say which is the label.  On
those pixels the label must agree with the best place much better than with
the rival: its mean difference from the best place at most
``DIFFERENCE_RATIO`` times its difference from the rival, and the differing
pixels must be at least ``MIN_DIFFERING`` of the label's area (two places
that differ in a few anti-aliased pixels are the same label twice, and the
stage keeps refusing them).

All images are compared blurred by ``screen_ink.SOFT_SIGMA`` and normalised to
zero mean and unit spread, with the sign of each place's polarity, so a
re-hinted stroke a pixel off does not count as a difference, and light ink on
dark compares with dark ink on light.

A rival whose ink spans less than ``SPAN_FRACTION`` of the label's ink box at
its own scale, in width or in height (``spans``), is no rival: it is a smaller
mark the blurred label fits, not the label.  speedcrunch's "x" key at 100 %,
dark, was missed for its "," key under a tooltip: the "x" scored 0.947 blurred
at its key, the comma 0.894 (0.701 sharp) at scale 0.88, with ink 4 pixels
wide where an "x" at 0.88 spans 6.2 (0.65 of it); the true key's ink is 7 by 7
for 7.3 expected.  Sizes this far apart are not compared by ``tells_apart``
(``MAX_SCALE_RATIO``), so the stage refused.  The bar is a fraction, not a
number of pixels: a rival that is a real look-alike glyph is narrower by a
share of its size, not by a fixed count.  With the speedcrunch "6" key painted
out at 150 %, dark, the "6" glyph's best place is the "8" key and its rival the
"5" key, 14 pixels wide where a "6" at 1.56 spans 15.6 (0.90): a play of 1.5
pixels dropped that rival and the "8" was answered; the fraction keeps it.

This only ever breaks a tie the gap rule refused: the best place must still
reach the bar on its own, so an absent key's look-alike, which scores below
the bar, is no more found than before.

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

#: On the pixels where the two places differ, the label's mean difference from the
#: best place must be at most this fraction of its difference from the rival.
DIFFERENCE_RATIO = 0.5
#: Pixels whose normalised grey differs by more than this between the two places differ.
DIFFERING_LEVEL = 1.0
#: The differing pixels must make up at least this fraction of the label's area.
MIN_DIFFERING = 0.04
#: A rival is aligned onto the best place within this many pixels.
ALIGN_PAD = 2
#: A rival found at a scale this many times larger or smaller than the best place's is not
#: told apart: a label matching at two sizes is a question of size, not of look-alikes
#: (brought to one size, the other place's blur made the wrong "x" of qalculate look closer).
MAX_SCALE_RATIO = 1.05
#: A rival's ink must span at least this fraction of the label's ink box at its own scale
#: (a comma under an "x": 0.65 of its width; a "5" under a "6": 0.90).
SPAN_FRACTION = 0.75

#: A verified place of the label: x, y of its top-left corner, scale, dark ink on screen.
Place = tuple[int, int, float, bool]


def _normalised(image: Image, sign: int) -> Image:
    import numpy as np

    values = image.astype(np.float32) * sign
    spread = float(values.std())
    return (values - float(values.mean())) / max(spread, 1.0)


def _window(gray: Image, x: int, y: int, width: int, height: int) -> Image | None:
    if x < 0 or y < 0 or y + height > gray.shape[0] or x + width > gray.shape[1]:
        return None
    return gray[y : y + height, x : x + width]


def spans(ink: ScreenInk, label: Label, place: Place) -> bool:
    """True when the screen's ink at ``place`` spans at least ``SPAN_FRACTION`` of the
    label's ink box at that place's scale, in width and height (see the module docstring)."""
    import numpy as np

    x, y, scale, dark = place
    ix, iy, iw, ih = label.ink
    x0, y0 = round(x + ix * scale) - 1, round(y + iy * scale) - 1
    x1, y1 = round(x + (ix + iw) * scale) + 1, round(y + (iy + ih) * scale) + 1
    window = _window(ink.mask(dark), x0, y0, x1 - x0, y1 - y0)
    if window is None:
        return True  # nothing to say: it stays a rival
    rows, cols = np.nonzero(window)
    if not len(rows):
        return False
    width, height = int(cols.max() - cols.min()) + 1, int(rows.max() - rows.min()) + 1
    return width >= SPAN_FRACTION * iw * scale and height >= SPAN_FRACTION * ih * scale


def tells_apart(ink: ScreenInk, label: Label, best: Place, rivals: list[Place]) -> bool:
    """True when, against every rival, the pixels where the screen differs between the
    rival and ``best`` agree with the label at ``best`` (see the module docstring).
    A rival whose ink does not span the label's ink box (``spans``) is none."""
    import cv2
    import numpy as np

    from automation.blocks.desktop.screen_ink import SOFT_SIGMA

    soft_screen = ink.soft()
    x, y, scale, dark = best
    lh, lw = label.image.shape[:2]
    size = (max(3, round(lw * scale)), max(3, round(lh * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    tpl = cv2.GaussianBlur(
        cv2.resize(label.image, size, interpolation=interpolation), (0, 0), SOFT_SIGMA
    )
    width, height = size
    own = 1 if dark == label.dark else -1
    here = _window(soft_screen, x, y, width, height)
    if here is None:
        return False
    norm_tpl = _normalised(tpl, 1)
    norm_here = _normalised(here, own)
    for rx, ry, rival_scale, rival_dark in rivals:
        if not spans(ink, label, (rx, ry, rival_scale, rival_dark)):
            continue
        if max(scale, rival_scale) > MAX_SCALE_RATIO * min(scale, rival_scale):
            return False  # a label at another size: which size is right, pixels cannot say
        sign = 1 if rival_dark == label.dark else -1
        # the rival's window, brought to the best place's size and aligned onto it
        # (the two are look-alikes, so their shared strokes line up)
        factor = rival_scale / scale
        pad = ALIGN_PAD + 1
        area = _window(
            soft_screen,
            rx - pad,
            ry - pad,
            round(width * factor) + 2 * pad,
            round(height * factor) + 2 * pad,
        )
        if area is None:
            return False
        if factor != 1.0:
            area = cv2.resize(
                area, (width + 2 * pad, height + 2 * pad), interpolation=cv2.INTER_AREA
            )
        scores = cv2.matchTemplate(
            (area.astype(np.float32) * sign), (here.astype(np.float32) * own), cv2.TM_CCOEFF_NORMED
        )
        _, _, _, (ax, ay) = cv2.minMaxLoc(scores)
        there = _normalised(area[ay : ay + height, ax : ax + width], sign)
        differing = np.abs(norm_here - there) > DIFFERING_LEVEL
        if int(differing.sum()) < MIN_DIFFERING * width * height:
            return False  # the same label twice, as far as the pixels can tell
        to_best = float(np.abs(norm_tpl - norm_here)[differing].mean())
        to_rival = float(np.abs(norm_tpl - there)[differing].mean())
        if to_best > DIFFERENCE_RATIO * to_rival:
            return False
    return True
