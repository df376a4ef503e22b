"""``RefreshWhileShown``: the machines and triggers views poll only while on screen."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.refresh import RefreshWhileShown


def test_reloads_when_shown_ticks_while_shown_and_stops_when_hidden(qtbot: QtBot) -> None:
    view = QWidget()
    qtbot.addWidget(view)
    reloads: list[int] = []
    refresh = RefreshWhileShown(view, 20, lambda: reloads.append(1))
    assert not refresh.timer.isActive() and reloads == []
    view.show()
    assert refresh.timer.isActive() and len(reloads) == 1, "shown: reloaded at once"
    qtbot.waitUntil(lambda: len(reloads) >= 3, timeout=5000)
    view.hide()
    assert not refresh.timer.isActive()
    hidden_at = len(reloads)
    view.show()
    assert len(reloads) == hidden_at + 1 and refresh.timer.isActive()
