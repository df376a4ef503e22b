"""A plainly inverted key at its captured size is answered before the other scales are scanned.

``speedcrunch-light.png`` and ``speedcrunch-dark.png`` are speedcrunch's
keypad at 100 % in its light and dark styles (see ``test_labels_captured``).
The dark style inverts the "÷" and "−" glyphs plainly: their light glyph
crops score above the inverted stage's bar at scale 1.0, so the search
stops there instead of first correlating the ten other scales in the
normal polarity, where nothing can match.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import matching, picking
from tests.unit.automation.desktop.test_labels_captured import (
    SPEEDCRUNCH_DARK,
    SPEEDCRUNCH_LIGHT,
    crop,
    inside,
    load,
)


@pytest.mark.parametrize("key", ["÷", "−"])
def test_an_inverted_glyph_at_its_captured_size_is_answered_without_the_other_scales(
    key: str,
) -> None:
    template = crop(load("speedcrunch-light"), SPEEDCRUNCH_LIGHT[key], glyph=True)
    result = matching.find(load("speedcrunch-dark"), template)
    assert result.found, (result.best, result.refused)
    assert result.stage == "inverted"
    assert result.scales_tried == [1.0]  # the scales stage never ran
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, SPEEDCRUNCH_DARK[key]), chosen
