"""A label whose gaps another label fills: speedcrunch's "÷" and "+" on its captured keypad.

speedcrunch (Qt 5) draws "÷" as its "+" with the vertical stroke cut a pixel
above and below the bar.  With one of the two keys painted out, the other one
scored 0.937 whole and 0.909 glyph-only at the captured size, passed every
check of the label's ink that forgives a pixel of play (correlation, clear
ring, missing and stray ink), and was answered.  Only the gaps tell them apart
(``verification.bridged_gaps``).  ``speedcrunch-light.png`` is described in
``test_labels_captured``.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import matching, picking, verification
from tests.unit.automation.desktop.test_labels_captured import (
    SPEEDCRUNCH_DARK,
    SPEEDCRUNCH_LIGHT,
    blank,
    crop,
    inside,
    load,
)

DIVIDE = SPEEDCRUNCH_LIGHT["÷"]
#: The "+" key on speedcrunch-light.png (the accessibility bus's box, as the others).
PLUS = (225, 96, 70, 27)
#: The same keys on speedcrunch-dark.png (its style draws the keys a pixel or two larger).
DARK = {DIVIDE: SPEEDCRUNCH_DARK["÷"], PLUS: (228, 102, 71, 29)}
PAIRS = [(DIVIDE, PLUS), (PLUS, DIVIDE)]
IDS = ["divide-on-plus", "plus-on-divide"]


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize(("key", "other"), PAIRS, ids=IDS)
def test_a_blanked_key_is_not_answered_by_its_gapped_look_alike(
    key: tuple[int, int, int, int], other: tuple[int, int, int, int], glyph: bool
) -> None:
    screen = load("speedcrunch-light")
    result = matching.find(blank(screen, key), crop(screen, key, glyph=glyph))
    assert not result.found, (result.stage, result.matches)
    assert any(inside(r.match.center, other) for r in result.refused), result.refused
    assert any("join or part" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize(("key", "other"), PAIRS, ids=IDS)
def test_without_the_gap_check_the_look_alike_is_answered(
    key: tuple[int, int, int, int],
    other: tuple[int, int, int, int],
    glyph: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above is what refuses: with it off, the look-alike is the answer."""
    monkeypatch.setattr(verification, "BRIDGED_PIXELS", 10**6)
    screen = load("speedcrunch-light")
    result = matching.find(blank(screen, key), crop(screen, key, glyph=glyph))
    assert result.found, result.refused
    assert inside(result.matches[0].center, other), result.matches


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize("key", [DIVIDE, PLUS], ids=["divide", "plus"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_each_key_itself_is_found(key: tuple[int, int, int, int], glyph: bool, theme: str) -> None:
    light = load("speedcrunch-light")
    template = crop(light, key, glyph=glyph)
    screen = light if theme == "light" else load("speedcrunch-dark")
    result = matching.find(screen, template)
    assert result.found, result.refused
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, key if theme == "light" else DARK[key]), chosen
