"""A whole-template match just under the bar, answered on a stricter check of its label
(``near_bar``).

``qalculate-toggles-light.png`` is part of qalculate-gtk's window at 100 %, light;
``qalculate-toggles-light-150.png`` and ``-dark-150.png`` the same part at 150 %
(parts of screens ``tests/benchmarks/bench_targeting.py --save`` stored).
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import matching, near_bar, picking
from tests.unit.automation.desktop.test_labels_captured import blank, crop, inside, load
from tests.unit.automation.desktop.test_word_ink_captured import AT_150, LIGHT

SCREENS = ["qalculate-toggles-light-150", "qalculate-toggles-dark-150"]


@pytest.mark.parametrize("screen_name", SCREENS)
def test_a_glyph_just_under_the_bar_is_answered_on_its_label(screen_name: str) -> None:
    """The "Keypad" glyph crop peaks at 0.844 at 150 % (its thin 100 % font drawn bold),
    no other place near it; its label passes the checks at 0.9 blurred."""
    template = crop(load("qalculate-toggles-light"), LIGHT["Keypad"], glyph=True)
    result = matching.find(load(screen_name), template)
    assert result.found, (result.best, result.refused)
    assert result.stage == "near", result.stage
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, AT_150["Keypad"]), chosen
    assert 0.85 - near_bar.NEAR_BAR <= chosen.score < 0.85, chosen


@pytest.mark.parametrize("screen_name", SCREENS)
def test_a_blanked_glyph_is_not_answered_under_the_bar(screen_name: str) -> None:
    template = crop(load("qalculate-toggles-light"), LIGHT["Keypad"], glyph=True)
    result = matching.find(blank(load(screen_name), AT_150["Keypad"]), template)
    assert not result.found, (result.stage, result.matches)


def test_a_place_under_the_bar_with_a_rival_within_the_margin_is_not_answered() -> None:
    """Two copies of the key side by side: the score singles out neither."""
    screen = load("qalculate-toggles-light-150")
    x, y, w, h = AT_150["Keypad"]
    doubled = screen.copy()
    doubled[y + 60 : y + 60 + h, x : x + w] = screen[y : y + h, x : x + w]
    template = crop(load("qalculate-toggles-light"), LIGHT["Keypad"], glyph=True)
    result = matching.find(doubled, template)
    assert not result.found, (result.stage, result.matches)
