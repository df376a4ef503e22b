"""A bar's label answered on one bar of a longer label (``beside_ink``).

``qalculate-dark-100-equals.png`` is qalculate-gtk's keypad at 100 % dark
(GTK 3, Adwaita dark) from the "±" key to the "=" key: "±" at (12, 14, 53,
43), "−" at (248, 14, 53, 43), "=" at (307, 14, 53, 88).
``qalculate-dark-125-minus.png`` and ``qalculate-dark-150-minus.png`` are its
"−" key cut whole at 125 and 150 % dark, as ``bench_cross_scale`` cuts
templates; all from the targeting benchmark's saved screens.  Searched at
100 %, the "−" cut at 150 % (whole and glyph-only) was answered on the "="
key, the one cut at 125 % on the "±" key, by the label stage at 0.8: its bar
on one bar of theirs, the other bar, or the "+", within the clear ring's
slack.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import beside_ink, matching
from tests.unit.automation.desktop.test_labels_captured import crop, load

SCREEN = "qalculate-dark-100-equals"
#: the keys' boxes on SCREEN
PLUS_MINUS, MINUS, EQUALS = (12, 14, 53, 43), (248, 14, 53, 43), (307, 14, 53, 88)
#: (template, glyph-only, the key it was answered on without the check)
CASES = [
    ("qalculate-dark-150-minus", False, EQUALS),
    ("qalculate-dark-150-minus", True, EQUALS),
    ("qalculate-dark-125-minus", False, PLUS_MINUS),
]
IDS = [f"{name}-{'glyph' if glyph else 'whole'}" for name, glyph, _ in CASES]


def template(name: str, glyph: bool) -> np.ndarray:
    key = load(name)
    return crop(key, (0, 0, key.shape[1], key.shape[0]), glyph=glyph)


@pytest.mark.parametrize(("name", "glyph", "key"), CASES, ids=IDS)
def test_ink_beside_the_label_that_the_template_lacks_is_no_answer(
    name: str, glyph: bool, key: tuple[int, int, int, int]
) -> None:
    result = matching.find(load(SCREEN), template(name, glyph))
    if result.found:  # the true "−" key, never another
        x, y = result.matches[0].center
        assert MINUS[0] <= x < MINUS[0] + MINUS[2] and MINUS[1] <= y < MINUS[1] + MINUS[3]
    else:
        assert any("beside its label" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize(("name", "glyph", "key"), CASES, ids=IDS)
def test_without_the_check_another_key_answers(
    name: str, glyph: bool, key: tuple[int, int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(beside_ink, "refusal", lambda *args: None)
    result = matching.find(load(SCREEN), template(name, glyph))
    assert result.found, result.refused
    x, y = result.matches[0].center
    assert key[0] <= x < key[0] + key[2] and key[1] <= y < key[1] + key[3], result.matches
