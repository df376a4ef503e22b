"""A label too small to show its shape, checked at a whole multiple (``dot_scale``).

The PNGs under ``keypads/`` are parts of screens that
``tests/benchmarks/bench_targeting.py --save`` stored (real galculator on
Xvfb); templates are cut from the 100 % light capture as a user cuts them.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import dot_scale, labels, matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: galculator's "." key on galculator-light.png (100 %) and on its 200 % captures.
DOT: dict[str, Box] = {
    "galculator-light": (71, 212, 59, 34),
    "galculator-light-200": (152, 176, 118, 68),
    "galculator-dark-200": (140, 422, 118, 68),
}


@pytest.mark.parametrize("screen_name", ["galculator-light-200", "galculator-dark-200"])
def test_a_dot_glyph_answered_at_a_fractional_scale_is_checked_at_a_whole_one(
    screen_name: str,
) -> None:
    """The "." glyph crop (a 2 by 2 dot on its face) correlates best at 120 % on the
    200 % screen, where its label would be 2 pixels: too small to check, and the
    key was refused.  Drawn at 200 %, where a dot is a dot doubled, it passes."""
    template = crop(load("galculator-light"), DOT["galculator-light"], glyph=True)
    label = labels.extract(matching.to_gray(template), anchored=False)
    assert label is not None and max(label.ink[2:]) == 2
    result = matching.find(load(screen_name), template)
    assert result.found, (result.best, result.refused)
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, DOT[screen_name]), chosen
    assert chosen.scale not in (1.0, 2.0), chosen  # answered away from a whole multiple


@pytest.mark.parametrize("screen_name", ["galculator-light-200", "galculator-dark-200"])
def test_a_blanked_dot_glyph_is_still_not_found(screen_name: str) -> None:
    template = crop(load("galculator-light"), DOT["galculator-light"], glyph=True)
    result = matching.find(blank(load(screen_name), DOT[screen_name]), template)
    assert not result.found, (result.stage, result.matches)


def test_whole_scales_lie_either_side_between_one_and_two() -> None:
    assert dot_scale.whole_scales(1.2) == (1, 2)
    assert dot_scale.whole_scales(1.75) == (2, 1)
    assert dot_scale.whole_scales(0.67) == (1,)
    assert dot_scale.whole_scales(2.4) == (2,)
