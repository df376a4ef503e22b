"""Foreign keys answered on glyphs that differ from them by a stroke (``ink_fidelity``).

``speedcrunch-light-keys.png`` is speedcrunch's keypad (Qt, 100 %, light) and
``galculator-light-display.png`` galculator's display (GTK 3, 100 %, light, a
bold "0"), cut from the targeting benchmark's saved screens.  The templates
are synthetic keys (``test_keypad.keypad``, OpenCV's Hershey font) with labels
no calculator shows, as ``bench_absent_targets --foreign`` draws them: nothing
on either is any of them, so every answer is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import ink_fidelity, label_shape, matching
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import load


def foreign_glyph(label: str) -> np.ndarray:
    screen, boxes = keypad(labels=FOREIGN_LABELS)
    return crop(screen, boxes[label], glyph=True)


def test_a_label_in_two_pieces_is_not_answered_on_one_stroke_near_its_size() -> None:
    """The "?" glyph at 0.9 on the "7" key: the "7" joins the dot to the hook."""
    result = matching.find(load("speedcrunch-light-keys"), foreign_glyph("?"))
    assert not result.found, (result.stage, result.matches)
    assert any("one piece there" in r.reason for r in result.refused), result.refused


def test_without_the_pieces_near_its_size_the_7_answers_the_question_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ink_fidelity, "refusal", lambda *args, **kwargs: None)
    result = matching.find(load("speedcrunch-light-keys"), foreign_glyph("?"))
    assert result.found and result.stage == "scales", result.refused
    assert result.matches[0].scale == 0.9, result.matches


def test_a_tailed_letter_is_not_answered_on_a_ring_at_a_larger_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The "Q" glyph at 1.75 on the bold "0": 9 pixels of its tail have no ink within
    a pixel there.  (``label_shape``'s depth check refuses it first; it is off here.)"""
    monkeypatch.setattr(label_shape, "unexplained_ink", lambda *args: None)
    result = matching.find(load("galculator-light-display"), foreign_glyph("Q"))
    assert not result.found, (result.stage, result.matches)
    assert any("no ink within a pixel" in r.reason for r in result.refused), result.refused


def test_without_the_coverage_check_the_ring_answers_the_tailed_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ink_fidelity, "UNCOVERED", 10**6)
    monkeypatch.setattr(label_shape, "unexplained_ink", lambda *args: None)
    result = matching.find(load("galculator-light-display"), foreign_glyph("Q"))
    assert result.found and result.stage == "scales", result.refused
    assert result.matches[0].scale > 1.5, result.matches


def test_the_keypad_s_own_keys_are_found_on_themselves_at_larger_sizes() -> None:
    """Each key of the keypad, cropped whole and glyph-only and shrunk to 80 %, is found
    on the keypad at 1.25: none lacks ink within a pixel of its resized strokes."""
    import cv2

    screen = load("speedcrunch-light-keys")
    key_w, key_h, step_x, step_y = 70, 27, 73, 30
    for row in range(4):
        for col in range(4):
            x, y = 5 + col * step_x, 6 + row * step_y
            for glyph in (False, True):
                mx, my = (key_w // 5, key_h // 5) if glyph else (0, 0)
                key = screen[y + my : y + key_h - my, x + mx : x + key_w - mx]
                template = cv2.resize(key, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
                result = matching.find(screen, template)
                reasons = [r.reason for r in result.refused]
                assert not any("no ink within a pixel" in r for r in reasons), (row, col, reasons)


def test_a_swapped_look_alike_that_joins_the_label_s_pieces_is_refused_near_its_size() -> None:
    """speedcrunch's dark "+" key at 110 % for its light "÷" glyph, the "÷" key painted
    out (as in ``test_swapped_captured``): three pieces of the "÷" are one there."""
    from tests.unit.automation.desktop.test_labels_captured import (
        SPEEDCRUNCH_DARK,
        SPEEDCRUNCH_LIGHT,
        blank,
    )
    from tests.unit.automation.desktop.test_labels_captured import crop as crop_key

    template = crop_key(load("speedcrunch-light"), SPEEDCRUNCH_LIGHT["÷"], glyph=True)
    result = matching.find(blank(load("speedcrunch-dark"), SPEEDCRUNCH_DARK["÷"]), template)
    assert not result.found, (result.stage, result.matches)
    assert any("one piece there" in r.reason for r in result.refused), result.refused
