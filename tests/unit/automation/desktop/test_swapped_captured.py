"""A light/dark-swapped answer under the inverted stage's own bar, passed on its label.

``qalculate-toggles-dark-125.png`` is part of qalculate-gtk's window (GTK 3,
Debian) at 125 % (``GDK_DPI_SCALE``), Adwaita dark: the "Keypad" toggle and
the keys below it, taken on Xvfb by ``tests/benchmarks/bench_targeting.py
--save``; the toggle's box is the accessibility bus's, less the part's
offset.  The dark theme is a plain inversion there: the "Keypad" glyph crop
scores 0.858 swapped, as it does unswapped in the light theme, under the
inverted stage's bar of 0.9.  Its label, checked as a direct answer's is,
passes (``swapped``).

``speedcrunch-dark.png`` with its "÷" key painted out: the "÷" glyph crop
scores 0.895 swapped on the "+" key at 110 %, and its label passes every
check of ``verification`` (0.904 blurred) but scores 0.806 unblurred.  The
pieces near the captured size (``ink_fidelity``) refuse it too: they are
switched off here to show the unblurred check alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import ink_fidelity, matching, picking, swapped
from tests.unit.automation.desktop.test_labels_captured import (
    SPEEDCRUNCH_DARK,
    SPEEDCRUNCH_LIGHT,
    Box,
    blank,
    crop,
    inside,
    load,
)

#: The "Keypad" toggle on qalculate-toggles-light.png (100 %) and -dark-125.png.
KEYPAD_LIGHT: Box = (12, 8, 64, 17)
KEYPAD_DARK_125: Box = (22, 21, 78, 20)
#: The "+" key on speedcrunch-dark.png.
PLUS_DARK: Box = (228, 102, 71, 29)


def _keypad() -> tuple[np.ndarray, np.ndarray]:
    template = crop(load("qalculate-toggles-light"), KEYPAD_LIGHT, glyph=True)
    return load("qalculate-toggles-dark-125"), template


def test_a_plainly_inverted_key_under_the_stricter_bar_is_found_on_its_label() -> None:
    screen, template = _keypad()
    result = matching.find(screen, template)
    assert result.found, (result.best, result.refused)
    assert result.stage == "inverted"
    assert result.matches[0].score < matching.INVERTED_CONFIDENCE
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, KEYPAD_DARK_125), chosen


def test_without_the_label_check_the_stricter_bar_misses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(matching, "inverted_bar", lambda c: max(c, matching.INVERTED_CONFIDENCE))
    screen, template = _keypad()
    assert not matching.find(screen, template).found


def test_with_the_key_painted_out_nothing_is_found() -> None:
    screen, template = _keypad()
    result = matching.find(blank(screen, KEYPAD_DARK_125), template)
    assert not result.found, (result.stage, result.matches)


def _divide_on_plus() -> matching.SearchResult:
    template = crop(load("speedcrunch-light"), SPEEDCRUNCH_LIGHT["÷"], glyph=True)
    screen = blank(load("speedcrunch-dark"), SPEEDCRUNCH_DARK["÷"])
    return matching.find(screen, template)


def test_a_look_alike_whose_label_fits_only_blurred_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ink_fidelity, "refusal", lambda *args, **kwargs: None)
    result = _divide_on_plus()
    assert not result.found, (result.stage, result.matches)
    assert any(
        "unblurred" in r.reason and inside(r.match.center, PLUS_DARK) for r in result.refused
    ), result.refused


def test_without_the_unblurred_check_the_look_alike_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(swapped, "sharp_score", lambda *args: 1.0)
    monkeypatch.setattr(ink_fidelity, "refusal", lambda *args, **kwargs: None)
    result = _divide_on_plus()
    assert result.found and result.stage == "inverted", result.refused
    assert inside(result.matches[0].center, PLUS_DARK), result.matches
