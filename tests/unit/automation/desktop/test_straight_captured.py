"""A wavy label answered on a straight bar (``straight_ink``).

The screens are keypads cut from the targeting benchmark's saved screens:
speedcrunch (Qt) at 100 % light and dark and at 125 and 150 % light,
galculator (GTK 3) at 150 and 200 % light.  The template is a synthetic
key's "~" glyph (``test_keypad.keypad``, OpenCV's Hershey font), as
``bench_absent_targets --foreign`` draws it: no calculator shows a "~", so
every answer is wrong.  Each of these keypads answered it on its "−" key,
the direct stage at 1.0 and the scales stage at 0.67 to 1.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, straight_ink, verification
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import load

#: (keypad, the scale its "−" key answered the "~" at without the check)
MINUS_KEYS = [
    ("speedcrunch-light", 1.0),
    ("speedcrunch-dark", 1.0),
    ("speedcrunch-light-125-ops", 1.25),
    ("speedcrunch-light-150-ops", 1.5),
    ("galculator-light-150", 0.67),
    ("galculator-light-200", 1.0),
]


def tilde_glyph(dark: bool) -> np.ndarray:
    screen, boxes = keypad(dark=dark, labels=FOREIGN_LABELS)
    return crop(screen, boxes["~"], glyph=True)


@pytest.mark.parametrize(("name", "scale"), MINUS_KEYS, ids=[n for n, _ in MINUS_KEYS])
def test_a_wavy_label_is_not_answered_on_a_straight_bar(name: str, scale: float) -> None:
    result = matching.find(load(name), tilde_glyph("dark" in name))
    assert not result.found, (result.stage, result.matches)
    assert any("straight bar" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize(("name", "scale"), MINUS_KEYS, ids=[n for n, _ in MINUS_KEYS])
def test_without_the_check_the_minus_key_answers_the_tilde(
    name: str, scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(straight_ink, "refusal", lambda *args: None)
    result = matching.find(load(name), tilde_glyph("dark" in name))
    assert result.found and result.stage in ("direct", "scales"), result.refused
    assert result.matches[0].scale == scale, result.matches


def test_a_bar_s_label_resized_is_not_refused_on_a_bar_drawn_at_that_size() -> None:
    """Resizing is separable: a bar's label keeps one profile along its length at any
    size, so its centres do not move, and a bar the toolkit draws anew (crisp, its
    thickness rounded) is straight: a true bar's label is never refused here."""
    import cv2

    bar = np.full((9, 16), 240, np.uint8)
    bar[4:6, 3:13] = 30
    for scale in (0.67, 0.8, 1.25, 1.5, 2.0):
        size = (round(16 * scale), round(9 * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        resized = cv2.resize(bar, size, interpolation=interpolation)
        moves = straight_ink.centres(verification._ink_share(resized, True))
        assert moves is not None and float(np.ptp(moves)) <= 0.05, (scale, moves)
        drawn = np.full((size[1], size[0]), 240, np.uint8)
        top, thick = round(4 * scale), max(1, round(2 * scale))
        drawn[top : top + thick, round(3 * scale) : round(13 * scale)] = 30
        assert straight_ink.straight(verification._ink_share(drawn, True)), scale
        assert straight_ink.refusal(resized, True, drawn, True) is None, scale
