"""A label symmetric under a half turn is not answered on a glyph that is not.

``speedcrunch-dark.png`` and ``speedcrunch-light.png`` are speedcrunch's keypad
at 100 % (dark and light, cut from the targeting benchmark's saved screens).
The templates are synthetic keys (``test_keypad.keypad``, OpenCV's Hershey
font) with labels no calculator shows, as ``bench_absent_targets --foreign``
draws them.  The "Z" glyph answered the "2" key: the scales stage at 0.9 on
the dark keypad (colour, 0.906), the label stage at 0.88 on the light one
(0.896), every other check passed (``half_turn``).
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import half_turn, matching
from automation.blocks.desktop.verification import _ink_share
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import load


def z_glyph(dark: bool) -> np.ndarray:
    screen, boxes = keypad(dark=dark, labels=FOREIGN_LABELS)
    return crop(screen, boxes["Z"], glyph=True)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_z_is_not_answered_on_the_2_key(theme: str) -> None:
    result = matching.find(load(f"speedcrunch-{theme}"), z_glyph(theme == "dark"))
    assert not result.found, (result.stage, result.matches)
    assert any("turned half round" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_without_the_half_turn_check_the_2_key_answers_the_z(
    theme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(half_turn, "refusal", lambda *args: None)
    result = matching.find(load(f"speedcrunch-{theme}"), z_glyph(theme == "dark"))
    assert result.found, result.refused
    assert 0.85 <= result.matches[0].scale <= 0.9, result.matches


def test_the_z_reads_the_same_turned_half_round_and_the_2_does_not() -> None:
    template = matching.to_gray(z_glyph(dark=False))
    screen = matching.to_gray(load("speedcrunch-light"))
    found = matching.find(load("speedcrunch-light"), z_glyph(dark=False))
    assert not found.found
    place = found.refused[-1].match
    two = screen[place.y : place.y + place.height, place.x : place.x + place.width]
    ours = half_turn.half_turn_likeness(_ink_share(template, True))
    theirs = half_turn.half_turn_likeness(_ink_share(two, True))
    assert ours >= half_turn.SYMMETRIC, ours
    assert theirs < ours - half_turn.MAX_LOSS, (ours, theirs)


def test_a_blank_patch_has_no_likeness() -> None:
    assert half_turn.half_turn_likeness(np.zeros((5, 5), np.float32)) == -1.0
