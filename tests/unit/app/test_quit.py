"""Quit quits the window and the tray, and asks once whether the supervisor keeps running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app import theme as themes
from app.main_window import open_settings
from app.supervisor_link import SupervisorLink
from app.tray import QUIT_SETTING, DesktopShell
from automation.blocks.registry import BlockRegistry
from supervisor.stop_marker import stopped_by_user
from tests.helpers.daemon import RunningDaemon, short_home
from tests.unit.app.runkit import wait_until


class Answers:
    """Stands in for the modal question; records that it was asked."""

    def __init__(self, *answers: tuple[str, bool]) -> None:
        self.answers = list(answers)
        self.asked = 0

    def quit_choice(self, title: str, text: str) -> tuple[str, bool]:
        self.asked += 1
        assert "background" in text
        return self.answers.pop(0)


class FakeApp:
    def __init__(self) -> None:
        self.quits = 0

    def quit(self) -> None:
        self.quits += 1


@pytest.fixture
def daemon() -> Iterator[RunningDaemon]:
    running = RunningDaemon(short_home("dp-quit-")).start()
    try:
        yield running
    finally:
        running.stop()


def _shell(qapp: QApplication, daemon: RunningDaemon) -> tuple[DesktopShell, FakeApp]:
    link = SupervisorLink(daemon.paths, autostart=False, poll_interval=0.2)
    shell = DesktopShell(
        qapp, BlockRegistry.with_builtins(plugins=False), daemon.paths, themes.LIGHT,
        link=link, use_tray=False,
    )  # fmt: skip
    shell.start()
    wait_until(qapp, lambda: link.connected, timeout=30)
    fake = FakeApp()
    shell.app = fake  # type: ignore[assignment]
    return shell, fake


def test_file_quit_asks_once_and_remembers(qapp: QApplication, daemon: RunningDaemon) -> None:
    shell, app = _shell(qapp, daemon)
    try:
        window = shell.window
        answers = Answers(("cancel", False), ("keep", True))
        window.prompts = answers
        window.request_quit()  # File > Quit
        assert app.quits == 0 and window.isVisible(), "cancel keeps everything"
        window.request_quit()
        assert app.quits == 1 and not window.isVisible(), "quits the app, not only the window"
        assert daemon.alive, "kept running, as answered"
        assert open_settings(daemon.paths).value(QUIT_SETTING) == "keep"
        window = shell.open_window()
        window.prompts = answers
        window.request_quit()
        assert app.quits == 2 and answers.asked == 2, "remembered: not asked again"
    finally:
        shell.link.stop()


def test_quit_and_stop_stops_the_supervisor_and_it_is_offered_next_time(
    qapp: QApplication, daemon: RunningDaemon
) -> None:
    shell, app = _shell(qapp, daemon)
    try:
        shell.window.prompts = Answers(("stop", False))
        shell.quit()
        assert app.quits == 1
        daemon.join(timeout=60)
        assert not daemon.alive
        assert stopped_by_user(daemon.paths.state_dir) is not None, "windows offer, not start"
        assert open_settings(daemon.paths).value(QUIT_SETTING) in (None, "")
    finally:
        shell.link.stop()


def test_quit_without_a_supervisor_does_not_ask(qapp: QApplication, tmp_path: Path) -> None:
    from supervisor.paths import DeskpilotPaths

    paths = DeskpilotPaths.under(short_home("dp-quit-"))
    link = SupervisorLink(paths, autostart=False, poll_interval=0.2)
    shell = DesktopShell(
        qapp, BlockRegistry.with_builtins(plugins=False), paths, themes.LIGHT,
        link=link, use_tray=False,
    )  # fmt: skip
    shell.start()
    try:
        fake = FakeApp()
        shell.app = fake  # type: ignore[assignment]
        answers = Answers()
        shell.window.prompts = answers
        shell.window.request_quit()
        assert fake.quits == 1 and answers.asked == 0
    finally:
        link.stop()
