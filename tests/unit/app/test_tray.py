"""The tray: its icon follows the supervisor's health, it notifies unattended failures, and
closing the window or quitting the GUI leaves the supervisor running.

The real thing runs in a subprocess (tray_probe) on Xvfb with trayer as the
tray host; it starts the supervisor itself, as the GUI does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.tray import TrayState, tray_state
from supervisor.api.models import Health
from supervisor.client import is_running
from supervisor.paths import DeskpilotPaths
from tests.helpers.common import eventually
from tests.helpers.daemon import short_home, stop_processes_of_home
from tests.helpers.fleet_daemons import slow_workflow
from tests.unit.app.appkit import REPO
from tests.unit.app.trayhost import TrayHost, tray_host_fixture  # noqa: F401

SLOW = slow_workflow(1.5)  # the tray shows it running, then its end

SCHEDULED_FAILURE = """\
deskpilot: 1
name: nightly-report
nodes:
  boom:
    block: control.fail
    with: {message: "the report server said no"}
triggers:
  - type: schedule
    interval: 1
"""


def health(**values: Any) -> Health:
    base: dict[str, Any] = {
        "status": "ok", "accepting": True, "queue_depth": 0, "running": 0, "workers": [],
        "database": "ok", "breakers": {}, "pid": 1, "uptime_seconds": 1.0, "version": "x",
        "triggers": True,
    }  # fmt: skip
    return Health.model_validate({**base, **values})


def test_the_icon_state_follows_health() -> None:
    assert tray_state(None) is TrayState.DOWN
    assert tray_state(health()) is TrayState.OK
    assert tray_state(health(running=1)) is TrayState.RUNNING
    assert tray_state(health(queue_depth=3)) is TrayState.RUNNING
    assert tray_state(health(running=1), unseen_failures=1) is TrayState.FAILING
    assert tray_state(health(breakers={"nightly": "open"})) is TrayState.FAILING
    assert tray_state(health(status="degraded")) is TrayState.FAILING


class Probe:
    """The tray probe subprocess: send commands, wait for the facts it prints."""

    def __init__(self, process: subprocess.Popen[str], log: Path | None = None) -> None:
        self.process = process
        self.log = log
        self.facts: list[dict[str, Any]] = []
        self._buffer = b""
        self._unread: list[dict[str, Any]] = []

    def stacks(self) -> str:
        """The probe's thread stacks (faulthandler on SIGUSR1), to say where it hangs."""
        if self.log is None or self.process.poll() is not None:
            return ""
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 3
        text = ""
        while time.monotonic() < deadline and "most recent call first" not in text:
            time.sleep(0.05)  # polling for the dump, bounded by the deadline
            text = self.log.read_text(errors="replace")
        return text[-6000:]

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if not self._unread:
                self._unread.extend(self._lines(deadline))
            fact = self._unread.pop(0)  # the rest of a chunk waits for the next expect
            self.facts.append(fact)
            if check(fact):
                return fact

    def expect_all(
        self, *checks: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Facts meeting every check, in whatever order they come (one fact per check)."""
        deadline = time.monotonic() + timeout
        found: dict[int, dict[str, Any]] = {}
        while len(found) < len(checks):
            fact = self.expect(
                lambda f: any(i not in found and c(f) for i, c in enumerate(checks)),
                timeout=max(0.0, deadline - time.monotonic()),
            )
            found[next(i for i, c in enumerate(checks) if i not in found and c(fact))] = fact
        return [found[i] for i in range(len(checks))]

    def _lines(self, deadline: float) -> list[dict[str, Any]]:
        """The complete lines available now, read unbuffered: a buffered readline() can hold
        a second line that select() then never reports."""
        stdout = self.process.stdout
        assert stdout is not None
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"probe never reported that; it said:\n{self.facts}\n{self.stacks()}"
                )
            ready, _, _ = select.select([stdout.fileno()], [], [], left)
            if not ready:
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(
                    f"probe exited ({self.process.wait()}); it said:\n{self.facts}"
                )
            self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in complete if line.strip()]


@pytest.fixture
def home() -> Iterator[Path]:
    folder = short_home("dp-tray-")
    paths = DeskpilotPaths.under(folder).ensure()
    (paths.workflows_dir / "slow.yaml").write_text(SLOW, encoding="utf-8")
    try:
        yield folder
    finally:
        _stop_supervisor(paths)
        stop_processes_of_home(folder)  # one the tray started that had not taken the lock yet
        shutil.rmtree(folder, ignore_errors=True)


def _lock_pid(paths: DeskpilotPaths) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((paths.state_dir / "deskpilotd.lock").read_text().strip())
    return None


def _locked(paths: DeskpilotPaths) -> bool:
    """Whether a supervisor holds this home's instance lock (the kernel frees it when it dies)."""
    path = paths.state_dir / "deskpilotd.lock"
    if not path.exists():
        return False
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _stop_supervisor(paths: DeskpilotPaths) -> None:
    pid = _lock_pid(paths)
    if pid is not None and _locked(paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        eventually(lambda: not _locked(paths), timeout=30)


def test_tray_follows_the_supervisor_and_outlives_the_window(
    tray_host: TrayHost, home: Path, tmp_path: Path
) -> None:
    paths = DeskpilotPaths.under(home)
    env = tray_host.env(DESKPILOT_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("PYTHON_KEYRING_BACKEND", None)
    log = (tmp_path / "probe.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.app.tray_probe"],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
        bufsize=1,
    )  # fmt: skip
    probe = Probe(process, tmp_path / "probe.log")
    restarted: subprocess.Popen[bytes] | None = None
    try:
        assert probe.expect(lambda f: "available" in f)["available"] is True
        # nothing was running: the tray started the supervisor, and shows it healthy
        ok = probe.expect(lambda f: f.get("state") == "ok")
        assert ok["visible"] and ok["icon"] and ok["pid"] == _lock_pid(paths)
        probe.send("menu")
        menu = probe.expect(lambda f: "menu" in f)
        assert menu["menu"][:3] == ["Deskpilot — this machine", "Open Deskpilot", "Run workflow"]
        assert "Quit Deskpilot" in menu["menu"] and menu["run"] == ["slow"]
        probe.send("run slow")
        # the submit's answer and the run's first event race each other: either may be first
        probe.expect_all(
            lambda f: f.get("notified") == "Run started", lambda f: f.get("state") == "running"
        )
        probe.expect(lambda f: f.get("state") == "ok")
        # a scheduled (unattended) run fails: a notification, and the icon turns red
        (paths.workflows_dir / "nightly-report.yaml").write_text(
            SCHEDULED_FAILURE, encoding="utf-8"
        )
        failed = probe.expect(lambda f: f.get("notified") == "nightly-report failed")
        assert "the report server said no" in failed["text"]
        assert "schedule" in failed["text"]
        probe.expect(lambda f: f.get("state") == "failing")
        probe.send("pause")
        probe.expect(lambda f: f.get("notified") == "Triggers paused")
        probe.send("failures")
        seen = probe.expect(lambda f: "failures" in f)
        assert seen["failures"][0].startswith("nightly-report — ")
        # closing the window keeps the tray, the link and the supervisor
        probe.send("open")
        assert probe.expect(lambda f: "window" in f and "title" in f)["window"] is True
        probe.send("close")
        closed = probe.expect(lambda f: "closed" in f)
        assert closed["closed"] and closed["connected"]
        probe.send("open")
        assert probe.expect(lambda f: "window" in f and "title" in f)["window"] is True
        # the supervisor goes away: grey icon; it comes back: the tray reconnects
        pid = _lock_pid(paths)
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        probe.expect(lambda f: f.get("state") == "down")
        restarted = subprocess.Popen(
            [sys.executable, "-m", "supervisor.daemon"], cwd="/",
            env={**env, "DESKPILOT_HOME": str(home)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        back = probe.expect(lambda f: f.get("state") in ("ok", "failing") and bool(f.get("pid")))
        assert back["pid"] == restarted.pid
        # quitting the GUI, told to keep it, leaves the supervisor running
        probe.send("quit keep")
        assert probe.expect(lambda f: "exited" in f)["exited"] == 0
        assert process.wait(timeout=15) == 0
        assert is_running(paths)
    finally:
        if restarted is not None:
            restarted.terminate()
            restarted.wait(timeout=30)
        if process.poll() is None:
            process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        log.close()
