"""Edit › Preferences…: the general settings apply at once, bad values are refused in place.

The window's link points at a home with no supervisor (nothing here needs
one); the connection page against a real TLS supervisor is tested in
``test_remote_connect``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.main_window import MainWindow
from app.preferences import (
    QUIT_SETTING,
    TIMEZONE_KEY,
    NotifyVia,
    NotifyWhen,
    load_for,
    open_settings,
)
from app.preferences_dialog import PreferencesDialog
from app.prompts import Prompts
from app.supervisor_link import SupervisorLink
from automation.blocks.registry import BlockRegistry
from supervisor.api.models import RunInfo
from supervisor.paths import DeskpilotPaths


@pytest.fixture
def window(qtbot: QtBot, registry: BlockRegistry, tmp_path: Path) -> MainWindow:
    paths = DeskpilotPaths.under(tmp_path).ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=None)
    made = MainWindow(registry, paths, theme=themes.LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(made)
    return made


def opened(window: MainWindow) -> PreferencesDialog:
    window.preferences_action.trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_preferences_open_from_the_edit_menu_with_ctrl_comma(window: MainWindow) -> None:
    assert window.preferences_action.shortcut().toString() == "Ctrl+,"
    edit = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert window.preferences_action in edit.actions()
    dialog = opened(window)
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "General",
        "Connection",
    ]
    assert dialog.local_choice.isChecked() and not dialog.form.isEnabled()  # type: ignore[union-attr]
    window.preferences_action.trigger()  # a second time: the same dialog, not another
    assert len(window.findChildren(PreferencesDialog)) == 1


def test_a_bad_time_zone_is_refused_in_place_without_moving_the_form(
    window: MainWindow, qapp: QApplication
) -> None:
    dialog = opened(window)
    qapp.processEvents()
    below = dialog.notify_when.geometry()
    dialog.timezone.setCurrentText("Mars/Olympus_Mons")
    qapp.processEvents()
    assert "'Mars/Olympus_Mons' is not a time zone" in dialog.timezone_error.text()
    assert not dialog.ok_button.isEnabled() and not dialog.apply_button.isEnabled()
    assert dialog.notify_when.geometry() == below  # the message had its line already
    dialog.timezone.setCurrentText("Europe/Paris")
    qapp.processEvents()
    assert dialog.timezone_error.text() == "" and dialog.ok_button.isEnabled()
    assert dialog.notify_when.geometry() == below
    assert load_for(window.paths).schedule_timezone == "local"  # nothing written yet


def test_applied_settings_are_used_without_a_restart(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import triggers_view
    from app.triggers_view import TriggersView

    dialog = opened(window)
    dialog.timezone.setCurrentText("America/New_York")
    dialog.notify_when.setCurrentIndex(dialog.notify_when.findData(NotifyWhen.ALL))
    dialog.on_quit.setCurrentIndex(dialog.on_quit.findData("stop"))
    assert dialog.apply()
    settings = open_settings(window.paths)  # another reader of the same file
    assert settings.value(TIMEZONE_KEY) == "America/New_York"
    assert settings.value(QUIT_SETTING) == "stop"
    # a new schedule made now starts in that zone
    made: list[str] = []

    class Recording(triggers_view.TriggerDialog):
        def exec(self) -> int:
            made.append(self.timezone.currentText())
            return 0

    monkeypatch.setattr(triggers_view, "TriggerDialog", Recording)
    assert isinstance(window.connection, SupervisorLink)
    view = TriggersView(window.connection, themes.LIGHT)
    try:
        assert view._dialog(None) is None
    finally:
        view.deleteLater()
    assert made == ["America/New_York"]
    dialog.on_quit.setCurrentIndex(dialog.on_quit.findData("ask"))
    dialog._ok()
    assert not dialog.isVisible()
    assert open_settings(window.paths).value(QUIT_SETTING) in (None, "")  # unset asks again
    # Quit's own question remembered an answer meanwhile: a reopened dialog shows it
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    open_settings(window.paths).setValue(QUIT_SETTING, "keep")
    again = opened(window)
    assert again is not dialog and again.on_quit.currentData() == "keep"
    assert again.timezone.currentText() == "America/New_York"


class Desktop:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, title: str, text: str, urgency: Any = "normal", icon: str = "") -> bool:
        self.sent.append(title)
        return True


def failed_run(trigger: str) -> RunInfo:
    return RunInfo(
        id="r" * 32,
        workflow_name="nightly",
        status="failed",  # type: ignore[arg-type]
        trigger=trigger,
        priority=0,
        queued_at=datetime.now(UTC),
        error="boom",
    )


def test_the_tray_notifies_as_the_preferences_say(window: MainWindow, qapp: QApplication) -> None:
    from app.preferences import Preferences, store
    from app.supervisor_link import job_pool
    from app.tray import DeskpilotTray

    link = window.connection
    assert isinstance(link, SupervisorLink)
    desktop = Desktop()
    tray = DeskpilotTray(
        link,
        open_window=lambda: None,
        show_run=lambda _r: None,
        quit_app=lambda: None,
        desktop=desktop,  # type: ignore[arg-type]
    )
    settings = open_settings(window.paths)
    try:
        tray._run_failed(failed_run("manual"))  # by default: a run started by hand is seen
        assert tray.notifications == []
        store(settings, Preferences(notify_when=NotifyWhen.ALL))
        tray.failures.clear()
        tray._run_failed(failed_run("manual"))
        assert [t for t, _ in tray.notifications] == ["nightly failed"]
        job_pool().waitForDone(10_000)
        qapp.processEvents()
        assert desktop.sent == ["nightly failed"]
        store(settings, Preferences(notify_when=NotifyWhen.NEVER))
        tray.failures.clear()
        tray._run_failed(failed_run("schedule:nightly"))
        assert len(tray.notifications) == 1 and tray.unseen == 1  # counted, not popped up
        store(settings, Preferences(notify_via=NotifyVia.TRAY))
        tray.notify("Run started", "x")
        job_pool().waitForDone(10_000)
        assert desktop.sent == ["nightly failed"]  # the tray's own message, not the desktop's
    finally:
        tray.icon.hide()
        tray.deleteLater()
