"""Workers forked from the fork server: real processes, each in its own session, exits reported.

The fault tests run with ``python -m supervisor.worker`` per worker; these
check what is different with ``ForkServerLauncher``: who the parent is, that
exit statuses still arrive (only the server can wait for its children), and
that losing the server loses nothing.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil

from automation.engine.events import RunStatus
from supervisor.workers import ForkServerLauncher
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import pid_gone
from tests.integration.supervisor.test_crashes import assert_resumed_once, gated


def server_pid(harness) -> int:
    launcher = harness.launcher
    assert isinstance(launcher, ForkServerLauncher)
    pid = harness.call(lambda: launcher.server_pid)
    assert pid is not None
    return int(pid)


def _python_wrapper(tmp_path: Path, prelude: str) -> Path:
    """A "python" that runs ``prelude`` (shell) first: a way to break the fork server."""
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\n{prelude}exec {sys.executable} "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return python


def test_forked_workers_run_in_their_own_session_and_report_exits(start_supervisor) -> None:
    harness = start_supervisor(fork=True)
    path = harness.workflow("exits", gated("exits", "suptest.exit_worker", "{code: 3, once: gate}"))
    run_id = harness.submit(path)

    exited = harness.wait_event("worker_exited", run_id=run_id)
    assert exited["returncode"] == 3 and exited["reason"] == "crashed"
    assert_resumed_once(harness, run_id, path.parent, "crashed")

    server = server_pid(harness)
    forked = harness.seen("worker_started")
    live = [e["pid"] for e in forked if not pid_gone(e["pid"])]
    assert live, "no spare worker is running"
    for pid in live:
        process = psutil.Process(pid)
        assert process.ppid() == server
        assert os.getsid(pid) == pid  # a session of its own: the supervisor kills its tree
    assert "supervisor.worker" in " ".join(psutil.Process(server).cmdline())

    wait_for_other_gate = "{path: gate2, timeout: 60, poll_interval: 0.05}"
    second = harness.submit(harness.workflow("fine", gated("fine", gate_with=wait_for_other_gate)))
    harness.wait_event("node_started", run_id=second, node_id="gate")
    pid = harness.busy_pid(second)
    os.kill(pid, signal.SIGKILL)
    exited = harness.wait_event("worker_exited", pid=pid)
    assert exited["returncode"] == -signal.SIGKILL


def test_losing_the_fork_server_loses_no_run(start_supervisor) -> None:
    harness = start_supervisor(fork=True)
    path = harness.workflow("waits", gated("waits"))
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    worker = harness.busy_pid(run_id)
    first_server = server_pid(harness)

    os.kill(first_server, signal.SIGKILL)
    assert eventually(lambda: pid_gone(first_server))
    (path.parent / "gate").write_text("open", encoding="utf-8")
    # the worker it forked carries on and finishes its run...
    assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED
    exited = harness.wait_event("worker_exited", pid=worker)
    assert exited["reason"] == "finished"
    assert exited["returncode"] is None  # its parent is gone, so its status is unknown
    # ...and the next workers come from a new server
    later = harness.submit(path)
    assert harness.wait_terminal(later).status is RunStatus.SUCCEEDED
    assert server_pid(harness) != first_server
    assert harness.seen("run_interrupted") == []


def test_workers_start_directly_when_the_fork_server_cannot(start_supervisor, tmp_path) -> None:
    """An interpreter that refuses to be a fork server: workers start the ordinary way."""
    python = _python_wrapper(tmp_path, '[ "$3" = "--fork-server" ] && exit 1\n')
    harness = start_supervisor(fork=True, python=str(python))
    run_id = harness.submit(harness.workflow("plain", gated("plain", "control.pass", "{}")))
    assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED
    launcher = harness.launcher
    assert isinstance(launcher, ForkServerLauncher)
    assert harness.call(lambda: launcher.server_pid) is None
    live = [e["pid"] for e in harness.seen("worker_started") if not pid_gone(e["pid"])]
    assert live and all(psutil.Process(pid).ppid() == os.getpid() for pid in live)


def test_a_fork_server_killed_while_starting_is_started_again(start_supervisor, tmp_path) -> None:
    """One kill while it imports is not a reason to give up on it (starting directly is
    25 times slower): the next server is started at once and forks the workers."""
    marker = tmp_path / "killed-once"
    python = _python_wrapper(
        tmp_path,
        f'if [ "$3" = "--fork-server" ] && [ ! -e {marker} ]; then\n'
        f"  touch {marker}; kill -KILL $$\nfi\n",
    )
    harness = start_supervisor(fork=True, python=str(python))
    run_id = harness.submit(harness.workflow("again", gated("again", "control.pass", "{}")))
    assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED

    assert marker.exists(), "the first fork server was not killed"
    server = server_pid(harness)
    live = [e["pid"] for e in harness.seen("worker_started") if not pid_gone(e["pid"])]
    assert live and all(psutil.Process(pid).ppid() == server for pid in live)
