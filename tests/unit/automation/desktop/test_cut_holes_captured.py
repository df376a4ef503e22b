"""A hole of the screen's ink counts whole where the label's box cuts it.

``speedcrunch-dark.png`` is speedcrunch's keypad at 100 %, dark.  A synthetic
"R" key's glyph (``test_keypad.keypad``, OpenCV's Hershey font, as
``bench_absent_targets --foreign`` draws it) answered its "8" key at 0.67
(scales stage, colour, 0.855): the "8" reaches a row below the "R" there, so
its lower hole was cut open by the label's box (``cut_holes``).
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import cut_holes, matching
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import load


def r_glyph() -> np.ndarray:
    screen, boxes = keypad(dark=True, labels=FOREIGN_LABELS)
    return crop(screen, boxes["R"], glyph=True)


def test_the_r_is_not_answered_on_the_8_key() -> None:
    result = matching.find(load("speedcrunch-dark"), r_glyph())
    assert not result.found, (result.stage, result.matches)
    assert any("holes cut" in r.reason for r in result.refused), result.refused


def test_without_the_cut_holes_the_8_key_answers_the_r(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cut_holes, "refusal", lambda *args: None)
    result = matching.find(load("speedcrunch-dark"), r_glyph())
    assert result.found, result.refused
    assert result.matches[0].scale < 0.7, result.matches
