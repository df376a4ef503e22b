"""A label drawn smaller answered where its strokes run other ways (``stroke_directions``).

``speedcrunch-dark-125-x.png`` is speedcrunch's keypad around its "x" key
(Qt 5, 125 %, dark style, the "x" key at (99, 40, 89, 36)), cut from the
targeting benchmark's saved screen.  The "K" templates are synthetic keys
(``test_keypad.keypad``, OpenCV's Hershey font) as ``bench_absent_targets
--foreign`` draws them: no calculator shows a "K", so every answer is wrong.
The "K", whole and glyph-only, was answered on the "x" by the label stage at
0.64 (0.907 and 0.896 blurred), every other check passed.

The "x" itself, cut glyph-only there and searched on ``speedcrunch-dark.png``
(the same keypad at 100 %), is the true label drawn smaller that scored
lowest across scales (``bench_cross_scale``: 0.75): it must still be found.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, stroke_directions
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import (
    SPEEDCRUNCH_DARK,
    Box,
    inside,
    load,
)
from tests.unit.automation.desktop.test_labels_captured import crop as cut

SCREEN = "speedcrunch-dark-125-x"
X_KEY: Box = (99, 40, 89, 36)


def foreign_k(glyph: bool) -> np.ndarray:
    screen, boxes = keypad(dark=True, labels=FOREIGN_LABELS)
    return crop(screen, boxes["K"], glyph=glyph)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_label_whose_strokes_run_other_ways_is_no_answer(glyph: bool) -> None:
    result = matching.find(load(SCREEN), foreign_k(glyph))
    assert not result.found, (result.stage, result.matches)
    assert any("strokes run other ways" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_without_the_check_the_k_answers_the_x(
    glyph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stroke_directions, "refusal", lambda *args: None)
    result = matching.find(load(SCREEN), foreign_k(glyph))
    assert result.found, result.refused
    assert result.matches[0].scale == 0.64, result.matches
    assert inside(result.matches[0].center, X_KEY), result.matches


def test_the_x_cut_at_125_is_found_at_100_by_its_first_answer() -> None:
    """The scales stage's answer at 0.67, whose directions agree 0.75: a bar over it
    refuses it (a later stage finds the x at 0.72)."""
    template = cut(load(SCREEN), X_KEY, glyph=True)
    result = matching.find(load("speedcrunch-dark"), template)
    assert result.found, result.refused
    assert (result.stage, result.matches[0].scale) == ("scales", 0.67), result.matches
    assert inside(result.matches[0].center, SPEEDCRUNCH_DARK["x"]), result.matches
