"""A label joined by a faint seam ("!"), on captures (``glyphs.seamed``).

``speedcrunch-light.png`` and ``speedcrunch-dark.png`` are speedcrunch's keypad
at 100 % in its light and dark styles on Xvfb, from
``tests/benchmarks/bench_targeting.py --save``; templates are cut from the
light one as a user cuts them.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import glyphs, labels, matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, crop, inside, load

#: speedcrunch's "!" key on speedcrunch-light.png and speedcrunch-dark.png.
BANG_LIGHT: Box = (371, 96, 70, 27)
BANG_DARK: Box = (376, 102, 71, 29)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_label_joined_by_a_faint_seam_is_searched_by_its_whole_ink(glyph: bool) -> None:
    """speedcrunch's "!" is captured with its bar and dot joined by one faint row and
    drawn apart in the dark style: its anchor, 9 pixels high, fits no piece on
    screen, and its bar alone proposed a scale of 0.67."""
    template = crop(load("speedcrunch-light"), BANG_LIGHT, glyph=glyph)
    label = labels.extract(matching.to_gray(template))
    assert label is not None and glyphs.seamed(label) and not labels.several(label)
    result = matching.find(load("speedcrunch-dark"), template)
    assert result.found, (result.best, result.refused)
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, BANG_DARK), chosen
