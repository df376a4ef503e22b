"""Themes: the system's choice, an override, and a palette that applies it."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app import theme as themes


def test_the_override_wins(monkeypatch: pytest.MonkeyPatch, qapp: QApplication) -> None:
    monkeypatch.setenv(themes.THEME_VARIABLE, "dark")
    assert themes.current() is themes.DARK
    monkeypatch.setenv(themes.THEME_VARIABLE, "light")
    assert themes.current() is themes.LIGHT


def test_apply_sets_the_palette(qapp: QApplication) -> None:
    original = qapp.palette()
    try:
        assert themes.apply(qapp, themes.DARK) is themes.DARK
        assert qapp.palette().color(QPalette.ColorRole.Window) == QColor(themes.DARK.window)
        assert qapp.palette().color(
            QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText
        ) == QColor(themes.DARK.disabled)
    finally:
        qapp.setPalette(original)


def test_colours_for_pins_and_categories() -> None:
    assert themes.LIGHT.pin_color(frozenset({"string"})) == QColor(themes.LIGHT.pins["string"])
    assert themes.LIGHT.pin_color(frozenset({"string", "null"})) == QColor(
        themes.LIGHT.pins["string"]
    )
    assert themes.LIGHT.pin_color(None) == QColor(themes.LIGHT.pins["any"])
    assert (
        themes.DARK.category_color("http").lightness()
        > themes.LIGHT.category_color("http").lightness()
    )
