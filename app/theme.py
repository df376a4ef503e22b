"""Light and dark themes: the widget palette and the canvas colours, following the system.

Qt 6.5+ reports the system's colour scheme (``styleHints().colorScheme()``);
where it cannot tell (a bare X server, offscreen tests) we fall back to the
lightness of the platform palette.  ``DESKPILOT_THEME=light|dark`` forces one,
for screenshots and for people whose desktop reports it wrong.  We use the
Fusion style with our own palettes so both themes look the same everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEME_VARIABLE: Final = "DESKPILOT_THEME"

_CATEGORY_LIGHT = {
    "control": "#7c4dff",
    "data": "#00897b",
    "files": "#ef6c00",
    "http": "#1e88e5",
    "notify": "#d81b60",
    "process": "#6d4c41",
    "desktop": "#3949ab",
    "other": "#607d8b",
}
_PIN_TYPES = {
    "string": "#43a047",
    "integer": "#1e88e5",
    "number": "#039be5",
    "boolean": "#fb8c00",
    "object": "#8e24aa",
    "array": "#00897b",
    "null": "#9e9e9e",
    "any": "#9e9e9e",
}
_STATUS = {
    "queued": "#9e9e9e",
    "running": "#1e88e5",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "skipped": "#bdbdbd",
    "cancelled": "#757575",
    "retrying": "#fb8c00",
    "paused": "#8e24aa",
}
#: The mark of a node with a breakpoint (the step debugger).
BREAKPOINT_COLOR = "#d32f2f"


@dataclass(frozen=True)
class Theme:
    name: str
    dark: bool
    window: str
    base: str
    alternate: str
    text: str
    muted: str
    highlight: str
    canvas: str
    grid: str
    node_body: str
    node_border: str
    link: str
    error: str
    warning: str
    ok: str
    disabled: str
    categories: dict[str, str] = field(default_factory=lambda: dict(_CATEGORY_LIGHT))
    pins: dict[str, str] = field(default_factory=lambda: dict(_PIN_TYPES))
    statuses: dict[str, str] = field(default_factory=lambda: dict(_STATUS))

    def color(self, value: str) -> QColor:
        return QColor(value)

    def category_color(self, category: str) -> QColor:
        colour = QColor(self.categories.get(category, self.categories["other"]))
        # the same hues, lifted so they read on a dark background
        return colour.lighter(150) if self.dark else colour

    def pin_color(self, types: frozenset[str] | None) -> QColor:
        if not types:
            return QColor(self.pins["any"])
        kinds = sorted(types - {"null"}) or ["null"]
        return QColor(
            self.pins.get(kinds[0], self.pins["any"]) if len(kinds) == 1 else self.pins["any"]
        )

    def status_color(self, status: str) -> QColor:
        return QColor(self.statuses.get(status, self.muted))


LIGHT: Final = Theme(
    name="light", dark=False, window="#f3f4f6", base="#ffffff", alternate="#f7f8fa",
    text="#1f2328", muted="#6a737d", highlight="#2f6fde", canvas="#eceff3", grid="#dde1e7",
    node_body="#ffffff", node_border="#c5cbd3", link="#8a94a3", error="#d32f2f",
    warning="#ef8a00", ok="#2e7d32", disabled="#a0a7b0",
)  # fmt: skip
DARK: Final = Theme(
    name="dark", dark=True, window="#25272b", base="#1c1e21", alternate="#24272b",
    text="#e6e8eb", muted="#9aa3ad", highlight="#4c8dff", canvas="#1a1c1f", grid="#272a2f",
    node_body="#2c2f34", node_border="#454a52", link="#8e98a6", error="#ff6b6b",
    warning="#ffb74d", ok="#66bb6a", disabled="#5f6670",
)  # fmt: skip


def system_prefers_dark() -> bool:
    forced = os.environ.get(THEME_VARIABLE, "").strip().lower()
    if forced in ("light", "dark"):
        return forced == "dark"
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightness() < 128


def current() -> Theme:
    return DARK if system_prefers_dark() else LIGHT


def palette_for(theme: Theme) -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alternate,
        QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.window,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.BrightText: theme.error,
        QPalette.ColorRole.Highlight: theme.highlight,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: theme.highlight,
    }
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.disabled))
    return palette


def apply(app: QApplication, theme: Theme | None = None) -> Theme:
    """Style the application with ``theme`` (the system's when None) and return it."""
    chosen = theme or current()
    app.setStyle("Fusion")
    app.setPalette(palette_for(chosen))
    return chosen
