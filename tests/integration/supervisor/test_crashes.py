"""A worker that dies mid-run: the run is interrupted, resumed after its last recorded step.

Every step appends a line to ``count.txt`` when it really executes; a step
replayed from the history on resume does not.  So a line count of one for a
step recorded before the crash proves it was not run again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import lines, pid_gone, wait_for

#: one -> two -> gate (by default it waits for a file the test creates) -> three
GATED = """\
deskpilot: 1
name: {name}
nodes:
  one:
    block: file.append
    with: {{path: count.txt, content: "one\\n"}}
  two:
    block: file.append
    with: {{path: count.txt, content: "two\\n"}}
  gate:
    block: {gate_block}
    with: {gate_with}{gate_timeout}
  three:
    block: file.append
    with: {{path: count.txt, content: "three\\n"}}
links:
  - one -> two
  - two -> gate
  - gate -> three
"""

WAIT_FOR_GATE = "{path: gate, timeout: 60, poll_interval: 0.05}"


def gated(
    name: str,
    gate_block: str = "file.wait",
    gate_with: str = WAIT_FOR_GATE,
    timeout: float | None = None,
) -> str:
    """``GATED`` named ``name``, its gate ``gate_block`` with ``gate_with`` and, given one, the
    gate step's own time limit (``timeout`` seconds)."""
    limit = "" if timeout is None else f"\n    timeout: {timeout}"
    return GATED.format(name=name, gate_block=gate_block, gate_with=gate_with, gate_timeout=limit)


def assert_resumed_once(harness, run_id: str, workdir: Path, reason: str) -> None:
    """The run succeeded; one and two ran once; the interruption is in the history."""
    record = harness.wait_terminal(run_id)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert record.resumes == 1
    count = lines(workdir / "count.txt")
    assert count.count("one") == 1 and count.count("two") == 1, count
    assert count.count("three") == 1
    steps = harness.store.steps(run_id)
    succeeded = [(s.step, s.attempt) for s in steps if s.status == "succeeded"]
    assert len(succeeded) == len({step for step, _ in succeeded}) == 4
    gate_attempts = [s for s in steps if s.node_id == "gate"]
    assert [s.failure for s in gate_attempts] == ["interrupted", None]
    assert [s.attempt for s in gate_attempts] == [1, 2]
    # the history says what happened to the worker, after the run resumed and succeeded
    notes = [e for e in harness.store.events(run_id) if (e.data or {}).get("reason") == reason]
    assert len(notes) == 1, [(e.kind, e.message, e.data) for e in harness.store.events(run_id)]
    interrupted = harness.seen("run_interrupted", run_id=run_id)
    assert [e["reason"] for e in interrupted] == [reason]
    assert interrupted[0]["will_resume"] is True
    # Both attempts and the note between them are one sequence: the resumed attempt numbers
    # its events on after the first one's, so the log reads (and pages) in the order it
    # happened and no number means two events.
    harness.wait_event("run_finished", run_id=run_id)  # live events follow their commit
    live = [e["seq"] for e in harness.seen(run_id=run_id) if "seq" in e]
    assert live == sorted(set(live)), live
    assert len(harness.seen("run_started", run_id=run_id)) == 2
    stored = harness.store.events(run_id, limit=None)
    replayed = [e.seq for e in stored if e.kind == "node_replayed"]
    assert len(replayed) == 2 and min(replayed) > notes[0].seq, [(e.seq, e.kind) for e in stored]


def test_sigkilled_worker_run_resumes_after_last_recorded_step(start_supervisor) -> None:
    harness = start_supervisor()
    path = harness.workflow("killed", gated("killed"))
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    pid = harness.busy_pid(run_id)

    os.kill(pid, signal.SIGKILL)
    interrupted = harness.wait_event("run_interrupted", run_id=run_id)
    (path.parent / "gate").write_text("open", encoding="utf-8")

    assert "killed by SIGKILL" in interrupted["detail"]
    exited = harness.wait_event("worker_exited", pid=pid)
    assert exited["reason"] == "crashed" and exited["returncode"] == -signal.SIGKILL
    assert_resumed_once(harness, run_id, path.parent, "crashed")
    crash = next(e for e in harness.store.events(run_id) if (e.data or {}).get("reason"))
    assert "killed by SIGKILL" in crash.message
    assert eventually(lambda: pid_gone(pid))


def test_worker_exiting_by_itself_is_a_crash(start_supervisor) -> None:
    """The gate exits the worker with status 3 the first time (it leaves a marker file)."""
    harness = start_supervisor()
    path = harness.workflow("exits", gated("exits", "suptest.exit_worker", "{code: 3, once: gate}"))
    run_id = harness.submit(path)
    interrupted = harness.wait_event("run_interrupted", run_id=run_id)
    assert interrupted["detail"] == "worker crashed: exited with code 3 before the run finished"
    exited = harness.wait_event("worker_exited", run_id=run_id)
    assert exited["returncode"] == 3 and exited["reason"] == "crashed"
    assert_resumed_once(harness, run_id, path.parent, "crashed")


def test_child_killing_its_worker_is_a_crash(start_supervisor) -> None:
    """A step's child process SIGKILLs the worker (its parent): same handling as any crash."""
    harness = start_supervisor()
    kill_parent = "{args: [sh, -c, 'test -e gate || { touch gate; kill -9 $PPID; sleep 5; }']}"
    path = harness.workflow("patricide", gated("patricide", "process.run", kill_parent))
    run_id = harness.submit(path)
    interrupted = harness.wait_event("run_interrupted", run_id=run_id)
    assert interrupted["reason"] == "crashed"
    assert "killed by SIGKILL" in interrupted["detail"]
    assert_resumed_once(harness, run_id, path.parent, "crashed")


HOLD_ONLY = """\
deskpilot: 1
name: plugin-gone
nodes:
  hold:
    block: suptest.hold
    with: {log: holds.log, seconds: 0.1}
"""


def test_a_worker_that_cannot_run_the_workflow_fails_it_and_says_why(start_supervisor) -> None:
    """The supervisor knows the test blocks, its workers do not (their plugin is missing):
    the worker reports ``fatal``, and the run ends like any other, for every listener."""
    harness = start_supervisor(env={})
    ended: list[tuple[str, str, str]] = []
    harness.call(lambda: harness.sup.on_run_finished.append(lambda *a: ended.append(a)))
    run_id = harness.submit(harness.workflow("plugin-gone", HOLD_ONLY))

    record = harness.wait_terminal(run_id)
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert record.error.startswith("the worker could not run this workflow")
    assert "unknown block 'suptest.hold'" in record.error, record.error
    # the live stream hears of the end (the API's and the GUI's only source) ...
    finished = harness.wait_event("run_finished", run_id=run_id)
    assert finished["status"] == "failed" and finished["error"] == record.error
    # ... and so do chained triggers and the breaker, once, after it is saved
    eventually(lambda: ended == [("plugin-gone", run_id, "failed")])
    assert harness.call(lambda: len(harness.sup.breaker("plugin-gone").failures)) == 1
    assert harness.seen("run_interrupted", run_id=run_id) == []  # not a crash: no resume
    assert harness.call(lambda: run_id not in harness.sup.active)


def test_resumes_and_duration_count_every_interruption(start_supervisor) -> None:
    """SIGKILLed three times while waiting at its gate: three resumes, and the run's duration
    runs from its first start to its end, not just the last attempt's part."""
    harness = start_supervisor(max_restarts=5)
    path = harness.workflow("thrice", gated("thrice"))
    run_id = harness.submit(path)

    def gates() -> int:
        return len(harness.seen("node_started", run_id=run_id, node_id="gate"))

    for attempt in range(1, 4):
        wait_for(lambda: gates() >= attempt or None)  # noqa: B023 (waited on here)
        os.kill(harness.busy_pid(run_id), signal.SIGKILL)
        wait_for(lambda: len(harness.seen("run_interrupted", run_id=run_id)) >= attempt or None)  # noqa: B023
    wait_for(lambda: gates() >= 4 or None)
    (path.parent / "gate").write_text("open", encoding="utf-8")

    record = harness.wait_terminal(run_id)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert record.resumes == 3
    assert record.started_at is not None and record.finished_at is not None
    span = (record.finished_at - record.started_at).total_seconds()
    assert record.duration == pytest.approx(span, abs=0.002)
    last = harness.seen("run_finished", run_id=run_id)[-1]
    assert record.duration > last["duration"]  # the last attempt alone was shorter
