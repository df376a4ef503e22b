"""The supervisor itself SIGKILLed mid-run, then started again: nothing lost, nothing twice.

The daemon runs as a real process (``daemon_proc``) that submits its runs
from inside itself.  Its workers notice their stdin closing when it dies and
stop on their own: none may outlive it.  On the next start the runs it left
``running`` are reconciled to ``interrupted`` and resumed after their last
recorded step.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from pathlib import Path

import psutil
import pytest

from automation.engine.events import RunStatus
from supervisor.paths import sqlite_url
from supervisor.store.store import HistoryStore
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import (
    DaemonProcess,
    duplicate_successes,
    lines,
    pid_gone,
    wait_for,
    wait_terminal,
)

#: one -> two -> gate (waits for a file) -> three; each run counts into its own file
PER_RUN = """\
deskpilot: 1
name: restartable
nodes:
  one:
    block: file.append
    with: {path: "counts/{{ run.id }}", content: "one\\n"}
  two:
    block: file.append
    with: {path: "counts/{{ run.id }}", content: "two\\n"}
  gate:
    block: file.wait
    with: {path: gate, timeout: 60, poll_interval: 0.05}
  three:
    block: file.append
    with: {path: "counts/{{ run.id }}", content: "three\\n"}
links:
  - one -> two
  - two -> gate
  - gate -> three
"""


def database(daemon: DaemonProcess) -> Path:
    return daemon.home / "data" / "history.sqlite3"


@pytest.mark.parametrize("launcher", ["python", "fork"])
def test_supervisor_killed_mid_run_resumes_every_run_once(
    daemon_process, tmp_path: Path, launcher: str
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    workflow = folder / "restartable.yaml"
    workflow.write_text(PER_RUN, encoding="utf-8")
    daemon = daemon_process(launcher=launcher)
    run_ids = daemon.start(workflow, count=3)
    store = HistoryStore.open(sqlite_url(database(daemon)))
    try:
        # two runs wait at the gate (the worker limit), the third is queued
        def at_gate() -> list[str]:
            waiting = [r for r in run_ids if any(s.node_id == "gate" for s in store.steps(r))]
            return waiting if len(waiting) == 2 else []

        mid_way = wait_for(at_gate, timeout=30)
        workers = daemon.workers()
        assert workers, "no worker processes found"
        frozen = workers[-1].pid
        os.kill(frozen, signal.SIGSTOP)  # even a frozen worker must not outlive it
        daemon.kill()
        # the dead supervisor's workers stop by themselves: no orphan keeps running
        for worker in workers:
            assert eventually(functools.partial(pid_gone, worker.pid), timeout=10)
        statuses = {r: store.get_run(r).status for r in run_ids}  # type: ignore[union-attr]
        assert sorted(statuses.values()) == ["queued", "running", "running"]

        (folder / "gate").write_text("open", encoding="utf-8")
        daemon.start()
        for run_id in run_ids:
            record = wait_terminal(store, run_id)
            assert record.status is RunStatus.SUCCEEDED, record.error
            assert lines(folder / "counts" / run_id) == ["one", "two", "three"]
        for run_id in mid_way:
            assert store.get_run(run_id).resumes == 1  # type: ignore[union-attr]
            gate = [s for s in store.steps(run_id) if s.node_id == "gate"]
            assert [(s.attempt, s.status, s.failure) for s in gate] == [
                (1, "failed", "interrupted"),
                (2, "succeeded", None),
            ]
            notes = [e for e in store.events(run_id) if (e.data or {}).get("reason")]
            assert [n.data["reason"] for n in notes] == ["supervisor_lost"]  # type: ignore[index]
            # the resumed attempt's events number on after the note, not from 1 again
            replayed = [e.seq for e in store.events(run_id) if e.kind == "node_replayed"]
            assert len(replayed) == 2 and min(replayed) > notes[0].seq
        assert duplicate_successes(database(daemon)) == []
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    daemon.stop()
    assert daemon.process is not None and daemon.process.returncode == 0
    assert daemon.workers() == []


def test_frozen_orphan_worker_is_killed_by_the_next_supervisor(
    daemon_process, tmp_path: Path
) -> None:
    """A worker whose fork server died is an orphan; frozen when the supervisor is SIGKILLed,
    nothing wakes it: the next supervisor finds it by its mark and kills it."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    workflow = folder / "restartable.yaml"
    workflow.write_text(PER_RUN, encoding="utf-8")
    daemon = daemon_process(launcher="fork")
    [run_id] = daemon.start(workflow, count=1)
    store = HistoryStore.open(sqlite_url(database(daemon)))
    busy: list[psutil.Process] = []
    try:
        wait_for(lambda: any(s.node_id == "gate" for s in store.steps(run_id)), timeout=30)
        [server] = [p for p in daemon.workers() if p.ppid() == daemon.pid]
        busy += server.children()
        assert busy
        server.kill()
        assert eventually(functools.partial(pid_gone, server.pid))
        for worker in busy:
            os.kill(worker.pid, signal.SIGSTOP)
        daemon.kill()
        for worker in busy:
            assert worker.status() == "stopped" and worker.ppid() != daemon.pid

        (folder / "gate").write_text("open", encoding="utf-8")
        daemon.start()
        for worker in busy:
            assert eventually(functools.partial(pid_gone, worker.pid), timeout=10)
        record = wait_terminal(store, run_id)
        assert record.status is RunStatus.SUCCEEDED
        assert lines(folder / "counts" / run_id) == ["one", "two", "three"]
    finally:
        store.close()
        for worker in busy:  # never leave a frozen process behind, even when failing
            with contextlib.suppress(psutil.Error):
                worker.kill()
