"""A label too small to show its shape is checked at a whole multiple of its size.

``verification.check`` refuses an answer whose label, resized by the answer's
scale, would be under ``verification.MIN_INK_SIDE`` pixels: such a blob fits a
dot as well as a star (galculator's "*", 6 pixels, answered at 67 % on its "."
key at 200 %).  A dot drawn at a whole multiple stays a dot, only doubled, and
is still evidence there: the check lets a scale of 1 or 2 through.

But a dot's correlation does not tell its scale.  galculator's "." cut
glyph-only (a 2 by 2 dot on a 37 by 22 face) scores 0.91 at 120 % on the
200 % screen, 0.89 at 150 %, 0.84 at 200 %: the face around the dot carries
the score, and any size from 1.2 to 1.9 fits within 0.03.  The scales stage
answered 1.2, the label would have been 2 pixels there, and the key was
refused in both themes (2 of the 8 hittable misses of ``bench_targeting
--every 4``).

So such a label is checked, with every check of ``verification``, at the
whole multiples either side of the answer's scale (``whole_scales``, 1 and
2 at most: the toolkit scales of the benchmark), laid on the same centre
(``rescaled``).  The answer passes when it passes at one of them, where the
screen's ink also spans what the label's spans drawn at that multiple, half
a pixel either way, and a column more sideways (``fits``: text lands on
fractions of a pixel sideways, rows are hinted whole).  The checks alone let
a comma through: qalculate's "," at 100 % is the "." (2 by 2 pixels) with a
third row, and the "." glyph passed every check on it at 1 (it had been
answered at 125 %); 3 rows is not 2 drawn whole.  On galculator's "." at
200 % the dot is 3 by 3 pixels, within the 3 to 5 of 2 by 2 doubled, and it
passes at 2 (its label 0.918 blurred, 0.816 sharp, light; 0.927 and 0.816
dark), not at 1 (0.865 blurred, 0.695 sharp, light).  A bigger label drawn small is checked as captured:
the "*" at 67 % is checked at 1, where its 6-pixel star is not the dot.

numpy is imported inside the functions (see ``matching``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.matching import Match

    Image: TypeAlias = npt.NDArray[Any]

#: The largest whole multiple a tiny label is checked at (toolkit scaling goes to 200 %).
MAX_WHOLE = 2


def whole_scales(scale: float) -> tuple[int, ...]:
    """The whole multiples of the captured size either side of ``scale`` (from 1 to
    ``MAX_WHOLE``), nearest first."""
    sides = {min(MAX_WHOLE, max(1, math.floor(scale))), min(MAX_WHOLE, max(1, math.ceil(scale)))}
    return tuple(sorted(sides, key=lambda whole: (abs(whole - scale), whole)))


def rescaled(match: Match, label: Label, scale: float) -> Match:
    """``match`` drawn at ``scale`` instead, its label's centre where it was."""
    lh, lw = label.image.shape[:2]
    th, tw = label.size
    if not th or not tw:  # a label cut without its template's size: the answer's, unscaled
        th, tw = round(match.height / match.scale), round(match.width / match.scale)
    cx = match.x + (label.x + lw / 2) * match.scale
    cy = match.y + (label.y + lh / 2) * match.scale
    return replace(
        match,
        x=round(cx - (label.x + lw / 2) * scale),
        y=round(cy - (label.y + lh / 2) * scale),
        width=max(1, round(tw * scale)),
        height=max(1, round(th * scale)),
        scale=float(scale),
    )


def fits(gray: Image, label: Label, match: Match, sign: int) -> bool:
    """True when the screen's ink where ``match`` (at a whole scale) puts the label spans
    the label's ink drawn at that scale: half a pixel either way, a column more
    sideways.  ``sign``: the polarity the label is checked in (0: either)."""
    import numpy as np

    from automation.blocks.desktop.screen_ink import INK_CONTRAST
    from automation.blocks.desktop.verification import PAD

    scale = match.scale
    ix, iy, iw, ih = label.ink
    x0 = match.x + round((label.x + ix) * scale) - PAD
    y0 = match.y + round((label.y + iy) * scale) - PAD
    x1, y1 = x0 + round(iw * scale) + 2 * PAD, y0 + round(ih * scale) + 2 * PAD
    window = gray[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)].astype(np.int16)
    if not window.size:
        return False
    face = float(np.median(window))
    polarities = (True, False) if sign == 0 else (label.dark == (sign > 0),)
    for dark in polarities:
        rows, cols = np.nonzero(((face - window) if dark else (window - face)) >= INK_CONTRAST)
        if not len(rows):
            continue
        height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        if _spans(height, ih, scale, 0) and _spans(width, iw, scale, 1):
            return True
    return False


def _spans(size: int, template: int, scale: float, spread: int) -> bool:
    """``size`` pixels of ink span a ``template`` length drawn at ``scale``."""
    return scale * (template - 0.5) <= size <= scale * (template + 0.5) + spread
