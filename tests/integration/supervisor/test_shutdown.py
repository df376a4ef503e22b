"""SIGTERM to the daemon: stop taking work, let running steps finish within the grace (starting
no new ones), then interrupt the runs and record it, so the next start resumes them after their
last finished step; and the daemon's log is JSON, one object a line, in its log folder.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from automation.engine.events import RunStatus
from supervisor.paths import sqlite_url
from supervisor.store.store import HistoryStore
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import (
    DaemonProcess,
    duplicate_successes,
    lines,
    wait_for,
    wait_terminal,
)

#: one -> gate (a file named after the run) -> three; each run counts into its own file
PER_RUN_GATE = """\
deskpilot: 1
name: graceful
nodes:
  one:
    block: file.append
    with: {path: "counts/{{ run.id }}", content: "one\\n"}
  gate:
    block: file.wait
    with: {path: "gates/{{ run.id }}", timeout: 60, poll_interval: 0.05}
  three:
    block: file.append
    with: {path: "counts/{{ run.id }}", content: "three\\n"}
links:
  - one -> gate
  - gate -> three
"""

GRACE = 3.0


def log_records(daemon: DaemonProcess) -> list[dict[str, Any]]:
    path = daemon.home / "logs" / "deskpilotd.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_sigterm_lets_running_steps_finish_then_interrupts_and_resumes_the_rest(
    daemon_process, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    (folder / "gates").mkdir(parents=True)
    workflow = folder / "graceful.yaml"
    workflow.write_text(PER_RUN_GATE, encoding="utf-8")
    daemon = daemon_process(worker_limit=2, shutdown_grace=GRACE)
    finishing, cut_short, waiting = daemon.start(workflow, count=3)
    store = HistoryStore.open(sqlite_url(daemon.home / "data" / "history.sqlite3"))
    try:
        at_gate = lambda run_id: any(s.node_id == "gate" for s in store.steps(run_id))  # noqa: E731
        wait_for(lambda: at_gate(finishing) and at_gate(cut_short), timeout=30)
        assert store.get_run(waiting).status is RunStatus.QUEUED  # type: ignore[union-attr]

        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        eventually(lambda: any(r["msg"] == "supervisor stopping" for r in log_records(daemon)))
        # A step that ends within the grace is recorded as finished; its run starts no
        # other step (three) but waits between steps, to be resumed there...
        (folder / "gates" / finishing).write_text("open", encoding="utf-8")
        wait_for(
            lambda: any(
                s.node_id == "gate" and s.status == "succeeded" for s in store.steps(finishing)
            ),
            timeout=GRACE,
        )
        # ...and its worker is not given the queued run: the daemon takes no new work.
        assert daemon.process.wait(GRACE + 15) == 0
        held = store.get_run(finishing)
        assert held is not None and held.status is RunStatus.INTERRUPTED
        assert [s.node_id for s in store.steps(finishing)] == ["one", "gate"]
        assert lines(folder / "counts" / finishing) == ["one"]
        assert store.get_run(waiting).status is RunStatus.QUEUED  # type: ignore[union-attr]
        assert store.steps(waiting) == []
        # The step still running when the grace ran out was interrupted, and that is on record.
        record = store.get_run(cut_short)
        assert record is not None and record.status is RunStatus.INTERRUPTED
        assert record.error == "the supervisor shut down while the run was in progress"
        gate = [s for s in store.steps(cut_short) if s.node_id == "gate"]
        assert [(s.attempt, s.status, s.failure) for s in gate] == [(1, "failed", "interrupted")]
        assert daemon.workers() == []

        # The next start resumes it after its last recorded step, and runs the queued one.
        (folder / "gates" / cut_short).write_text("open", encoding="utf-8")
        (folder / "gates" / waiting).write_text("open", encoding="utf-8")
        daemon.start()
        for run_id in (finishing, cut_short, waiting):
            record = wait_terminal(store, run_id)
            assert record.status is RunStatus.SUCCEEDED, record.error
            assert lines(folder / "counts" / run_id) == ["one", "three"]
        assert duplicate_successes(daemon.home / "data" / "history.sqlite3") == []
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    daemon.stop()
    assert daemon.process is not None and daemon.process.returncode == 0

    # The daemon's log: one JSON object a line, with the time, level, logger and message.
    records = log_records(daemon)
    assert {"t", "level", "logger", "msg"} <= set(records[0])
    messages = [r["msg"] for r in records]
    assert sum(m.startswith("supervisor ready") for m in messages) == 2
    assert any(f"run {cut_short}" in m and "resuming" in m for m in messages), messages
