"""The link starts the supervisor on request, says plainly when it is gone, and hops threads."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QObject, QThread
from PySide6.QtWidgets import QApplication

from app.connection_banner import ConnectionBanner
from app.supervisor_link import (
    SupervisorLink,
    daemon_environment,
    is_unattended,
    job_pool,
    run_job,
)
from automation.errors import DeskpilotError
from supervisor.paths import DeskpilotPaths
from tests.helpers.daemon import short_home, stop_processes_of_home
from tests.unit.app.runkit import wait_until


@pytest.fixture
def home() -> Iterator[Path]:
    """A home whose supervisors, every one the links started, are stopped afterwards.

    Not only the lock's holder: a link that started one while another was
    coming up (a window's autostart racing the banner's button) leaves a
    second process that has not taken the lock yet, and outlived the test.
    """
    folder = short_home("dp-link-")
    try:
        yield folder
    finally:
        stop_processes_of_home(folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_banner_offers_to_start_the_supervisor_and_goes_when_it_answers(
    qapp: QApplication, home: Path
) -> None:
    paths = DeskpilotPaths.under(home)
    link = SupervisorLink(paths, autostart=False, poll_interval=0.2)
    banner = ConnectionBanner(link)
    changes: list[bool] = []
    link.signals.connected_changed.connect(changes.append)
    link.start()
    try:
        wait_until(qapp, lambda: "not running" in banner.label.text())
        assert not banner.isHidden() and not banner.start_button.isHidden()
        assert not link.connected and link.health is None
        banner.start_button.click()
        wait_until(qapp, lambda: link.connected, timeout=30)
        assert banner.isHidden()
        assert link.health is not None and link.health.pid > 0
        process = link.supervisor_process
        assert process is None or process.pid == link.health.pid
        wait_until(qapp, lambda: link.stream_open)
        opened: list[bool] = []
        link.signals.stream_opened.connect(lambda: opened.append(True))
        first_pid = link.health.pid
        os.kill(first_pid, signal.SIGTERM)
        wait_until(qapp, lambda: not link.connected, timeout=30)
        assert not banner.isHidden() and "not running" in banner.label.text()
        assert not banner.start_button.isHidden() and banner.start_button.isEnabled()
        # started again (here by the banner's button): the link reconnects, events included
        banner.start_button.click()
        wait_until(qapp, lambda: link.connected and link.stream_open and opened, timeout=30)
        assert link.health is not None and link.health.pid != first_pid
        assert banner.isHidden()
        assert changes == [True, False, True]
    finally:
        link.stop()


def test_jobs_answer_on_the_gui_thread_and_not_to_deleted_owners(qapp: QApplication) -> None:
    gui = threading.get_ident()
    answers: list[tuple[str, int]] = []
    run_job(lambda: threading.get_ident(), lambda worker: answers.append(("done", worker)))
    owner = QObject()
    run_job(lambda: 1, lambda _v: answers.append(("orphan", 0)), owner=owner)
    shiboken6.delete(owner)  # the view that asked is gone before the answer comes
    failures: list[Exception] = []
    run_job(lambda: 1 / 0, None, failures.append)
    job_pool().waitForDone(5000)
    wait_until(qapp, lambda: answers and failures)
    assert answers[0][0] == "done" and answers[0][1] != gui
    assert ("orphan", 0) not in answers
    assert isinstance(failures[0], ZeroDivisionError)
    assert QThread.currentThread() is qapp.thread()


def test_which_runs_nobody_watched() -> None:
    assert is_unattended("schedule:nightly:0@2026-01-01T03:00:00+00:00")
    assert is_unattended("webhook:deploy") and is_unattended("file:inbox:0:created:a.csv")
    assert is_unattended("after:nightly:abc")
    assert not is_unattended("api") and not is_unattended("manual")
    assert not is_unattended("rerun:abc") and not is_unattended(None)


def test_a_started_supervisor_gets_the_guis_folders(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = daemon_environment(DeskpilotPaths.under(home), {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "DESKPILOT_HOME": str(home.resolve())}
    custom = DeskpilotPaths.under(home, database_url="postgresql://db/history")
    assert daemon_environment(custom, {})["DESKPILOT_DATABASE_URL"] == "postgresql://db/history"
    default = DeskpilotPaths.platform_default()
    assert "DESKPILOT_HOME" not in daemon_environment(default, {"DESKPILOT_HOME": "/elsewhere"})
    odd = dataclasses.replace(DeskpilotPaths.under(home), workflows_dir=tmp_path / "w")
    with pytest.raises(DeskpilotError, match="neither a DESKPILOT_HOME"):
        daemon_environment(odd, {})


def test_a_supervisor_stopped_from_the_command_line_is_offered_not_restarted(
    qapp: QApplication, home: Path
) -> None:
    """Before, the window started again a supervisor the user had just stopped."""
    import subprocess
    import sys

    from supervisor.instance_lock import LOCK_FILE, read_lock_holder
    from supervisor.stop_marker import MARKER

    paths = DeskpilotPaths.under(home)
    lock = paths.state_dir / LOCK_FILE
    link = SupervisorLink(paths, autostart=True, poll_interval=0.2)
    banner = ConnectionBanner(link)
    misses: list[str] = []
    link._poller.unreachable.connect(misses.append)  # one per failed poll
    link.start()
    second: SupervisorLink | None = None
    try:
        wait_until(qapp, lambda: link.connected, timeout=60)  # started once, as the window opened
        stopped = subprocess.run(
            [sys.executable, "-m", "supervisor.cli.main", "supervisor", "stop"],
            env={**os.environ, "DESKPILOT_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert stopped.returncode == 0, stopped.stderr
        wait_until(qapp, lambda: not link.connected, timeout=30)
        seen = len(misses)
        wait_until(qapp, lambda: len(misses) >= seen + 5, timeout=30)  # five polls later...
        assert read_lock_holder(lock) is None, "...nothing started it again"
        assert "stopped (deskpilot supervisor stop at" in banner.label.text()
        assert not banner.start_button.isHidden()

        # a window opened afterwards does not start it either
        second = SupervisorLink(paths, autostart=True, poll_interval=0.2)
        later: list[str] = []
        second._poller.unreachable.connect(later.append)
        second.start()
        wait_until(qapp, lambda: len(later) >= 5, timeout=30)
        assert read_lock_holder(lock) is None and second.supervisor_process is None

        banner.start_button.click()  # the offer: start it now
        wait_until(qapp, lambda: link.connected, timeout=60)
        assert not (paths.state_dir / MARKER).exists(), "a started supervisor clears the mark"
    finally:
        link.stop()
        if second is not None:
            second.stop()
