"""Refining the scale of a near miss: text redrawn at a size between the listed scales.

A terminal draws text in whole-pixel cells, so a word captured at 12 pt
(10-pixel cells) is 1.3 times wider at 16 pt (13 pixels) and 1.7 times at
20 pt (17 pixels), not 1.33 or 1.75 as the default scales try.  A word of
nine letters is 90 pixels wide: at a scale 2.5 % off its last letter is two
pixels out, and xterm's "deploy-42" correlated 0.75 at 1.33 against 0.90 at
1.3.  No fixed list of scales covers every pair of font sizes.

So when the direct and scales stages found nothing, but their best place
correlated at least ``REFINE_FROM``, scales a step of ``REFINE_STEP`` apart
around that scale (up to ``REFINE_SPAN``) are scored at that place only, in a
window of ``REFINE_PAD`` pixels around it (a few small correlations).  When
one of them reaches the bar there, and gains at least ``REFINE_GAIN`` on the
listed scale, that scale is searched like any other (the whole screen at full
resolution, every place that could pass, the ambiguity check): the place is
found only if it stands clear of its look-alikes at the refined scale, exactly
as it would had that scale been in the list.

The gain is what tells a template drawn at the wrong scale from a look-alike
that merely fits a little better at a nearby one: a word out of scale by
2-3 % loses 0.15-0.2 (0.75 against 0.90), while qalculate's italic "i" key,
with its "∕" key painted out, went from 0.83 at 0.9 to 0.865 at 0.92 and
would have been answered for the "∕" glyph.

cv2 is imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automation.blocks.desktop.correlation import _best_in

if TYPE_CHECKING:
    from automation.blocks.desktop.matching import Match, _Search

#: The scales stage's best place must correlate at least this well to be refined.
REFINE_FROM = 0.7
#: Scales tried around the best place's scale, this far apart ...
REFINE_STEP = 0.01
#: ... up to this far from it.
REFINE_SPAN = 0.05
#: A refined scale must score this much more than the listed scale at the place.
REFINE_GAIN = 0.1
#: Pixels of play around the best place when a refined scale is scored there.
REFINE_PAD = 4


def refined_scale(search: _Search, best: Match | None, tried: list[float]) -> float | None:
    """The scale near ``best``'s at which its place reaches the bar, or None."""
    if best is None or best.method not in ("gray", "color") or best.score < REFINE_FROM:
        return None
    if best.score >= search.confidence:
        return None
    gray: Any = search.gray.gray
    cx, cy = best.center
    chosen, top = None, -1.0
    steps = round(REFINE_SPAN / REFINE_STEP)
    for index in range(-steps, steps + 1):
        scale = round(best.scale + index * REFINE_STEP, 4)
        if scale <= 0 or scale in tried:
            continue
        tpl = search._template(scale)
        th, tw = tpl.shape[:2]
        x0, y0 = max(0, cx - tw // 2 - REFINE_PAD), max(0, cy - th // 2 - REFINE_PAD)
        window = gray[y0 : cy + th - th // 2 + REFINE_PAD, x0 : cx + tw - tw // 2 + REFINE_PAD]
        _, _, score = _best_in(window, tpl, 1)
        if score > top:
            chosen, top = scale, score
    if top < search.confidence or top < best.score + REFINE_GAIN:
        return None
    return chosen
