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


#: ``deskpilotd`` whose API waits for the file DESKPILOT_TEST_API_GATE. Only in these tests:
#: a stand-in for a slow start (migrating a big history, a loaded machine) that keeps the gap
#: between taking the instance lock and answering open for as long as the test needs.
GATED_DAEMON = """\
import asyncio, os, pathlib
import supervisor.api.server as server
real = server.start_api_server
async def gated(parts):
    gate = pathlib.Path(os.environ["DESKPILOT_TEST_API_GATE"])
    while not gate.exists():
        await asyncio.sleep(0.05)
    return await real(parts)
server.start_api_server = gated
from supervisor.daemon import main
main()
"""


def supervisors_of(home: Path) -> list[int]:
    """The supervisor processes of ``home`` (not the workers a supervisor forks)."""
    import psutil

    found: dict[int, int] = {}
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        try:
            if process.environ().get("DESKPILOT_HOME") != str(home):
                continue
        except (psutil.Error, OSError):
            continue
        if "supervisor.daemon" in " ".join(process.info["cmdline"] or ()):
            found[process.info["pid"]] = process.info["ppid"]
    return sorted(pid for pid, parent in found.items() if parent not in found)


def test_a_window_and_a_command_opened_while_the_supervisor_starts_wait_for_it(
    qapp: QApplication, home: Path
) -> None:
    """Before, a window opened after the daemon took its lock but before its API answered
    started a second supervisor (which found the lock taken and exited, and the banner said
    the start failed). A held lock now means: wait for that one's API."""
    import subprocess
    import sys

    from supervisor.client import is_running
    from supervisor.instance_lock import LOCK_FILE, read_lock_holder
    from tests.helpers.daemon import CLI_BOOT

    paths = DeskpilotPaths.under(home).ensure()
    gate = home / "api-gate"
    env = {**os.environ, "DESKPILOT_HOME": str(home), "DESKPILOT_TEST_API_GATE": str(gate)}
    env.pop("DESKPILOT_DATABASE_URL", None)
    with open(home / "first.log", "wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-c", GATED_DAEMON], env=env, stdout=out, stderr=out
        )
    link = SupervisorLink(paths, autostart=True, poll_interval=0.2)
    starting: list[bool] = []
    failures: list[str] = []
    misses: list[str] = []
    link._poller.starting.connect(lambda: starting.append(True))
    link._poller.start_failed.connect(failures.append)
    link._poller.unreachable.connect(misses.append)
    command: subprocess.Popen[str] | None = None
    try:
        wait_until(qapp, lambda: read_lock_holder(paths.state_dir / LOCK_FILE) == first.pid, 60)
        assert not is_running(paths), "the gap: the lock is held, the API does not answer"
        command = subprocess.Popen(
            [sys.executable, "-c", CLI_BOOT, "supervisor", "start", "--timeout", "120"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        link.start()
        # the window's start-up attempt, then ten polls more in the gap
        wait_until(qapp, lambda: starting and len(misses) >= 10, timeout=60)
        assert supervisors_of(home) == [first.pid]
        assert link.supervisor_process is None and not failures
        assert "Starting the supervisor" in link.banner
        assert command.poll() is None, "the command waits for the starting supervisor too"

        gate.touch()
        wait_until(qapp, lambda: link.connected, timeout=60)
        assert link.health is not None and link.health.pid == first.pid
        _out, err = command.communicate(timeout=60)
        assert command.returncode == 1, err
        assert f"already running (pid {first.pid})" in err
        assert supervisors_of(home) == [first.pid] and not failures
    finally:
        link.stop()
        if command is not None and command.poll() is None:
            command.kill()
            command.communicate()
        first.terminate()
        first.wait(timeout=60)
