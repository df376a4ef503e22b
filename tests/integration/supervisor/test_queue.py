"""The run queue: the desktop resource, cancelling, and per-run time limits, with real workers."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.store import ConstraintViolated
from supervisor.workers import WorkerState
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import SupervisorThread, lines, pid_gone
from tests.integration.supervisor.test_crashes import gated
from tests.integration.supervisor.test_hangs import fifo_read

HOLD = """\
deskpilot: 1
name: {name}
nodes:
  hold:
    block: {block}
    with: {{log: holds.log, seconds: {seconds}}}
"""


def intervals(log: Path) -> dict[str, tuple[float, float]]:
    """run id -> (start, end), monotonic seconds, from the hold blocks' log."""
    starts: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    for line in lines(log):
        what, run_id, when = line.split()
        if what == "start":
            starts[run_id] = float(when)
        else:
            spans[run_id] = (starts[run_id], float(when))
    return spans


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def idle_workers(harness: SupervisorThread) -> int:
    workers = harness.sup.workers
    return harness.call(lambda: sum(w.state is WorkerState.IDLE for w in workers.values()))


def test_desktop_runs_never_overlap_while_others_run_beside_them(
    start_supervisor, xvfb_display, monkeypatch
) -> None:
    # desktop runs start only where a display is reachable (a worker checks before the run)
    monkeypatch.setenv("DISPLAY", xvfb_display.name)
    monkeypatch.setenv("XAUTHORITY", str(xvfb_display.xauthority))
    harness = start_supervisor(worker_limit=2, spare_workers=2)
    desk = harness.workflow(
        "desk", HOLD.format(name="desk", block="suptest.desktop_hold", seconds=0.6)
    )
    plain = harness.workflow("plain", HOLD.format(name="plain", block="suptest.hold", seconds=0.6))
    eventually(lambda: idle_workers(harness) >= 2, timeout=20)
    desk_runs = [harness.submit(desk) for _ in range(3)]
    plain_runs = [harness.submit(plain) for _ in range(3)]
    for run_id in desk_runs + plain_runs:
        assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED

    spans = intervals(desk.parent / "holds.log")
    assert set(spans) == set(desk_runs + plain_runs)
    for a, b in itertools.combinations(desk_runs, 2):
        assert not overlaps(spans[a], spans[b]), "two runs held the desktop at once"
    # non-desktop runs went on beside the desktop ones...
    assert any(overlaps(spans[d], spans[p]) for d in desk_runs for p in plain_runs)
    # ...but never more runs at once than the worker limit
    edges = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    assert peak == harness.config.worker_limit


def test_cancel_a_queued_run_and_a_running_one(start_supervisor) -> None:
    harness = start_supervisor(worker_limit=1)
    path = harness.workflow("waits", gated("waits"))
    running = harness.submit(path)
    queued = harness.submit(path)
    harness.wait_event("node_started", run_id=running, node_id="gate")
    assert harness.run(queued).status is RunStatus.QUEUED

    assert harness.call(lambda: harness.sup.cancel(queued)) is True
    harness.wait_event("run_cancelled", run_id=queued)
    assert harness.run(queued).status is RunStatus.CANCELLED
    assert harness.run(queued).error == "cancelled before it started"

    pid = harness.busy_pid(running)
    assert harness.call(lambda: harness.sup.cancel(running)) is True
    record = harness.wait_terminal(running)
    assert record.status is RunStatus.CANCELLED
    # the worker stopped the step itself (file.wait watches its cancel token): no kill needed
    exited = harness.wait_event("worker_exited", pid=pid)
    assert exited["reason"] == "finished" and exited["returncode"] == 1
    assert harness.seen("run_started", run_id=queued) == []
    assert lines(path.parent / "count.txt") == ["one", "two"]
    assert harness.call(lambda: harness.sup.cancel(running)) is False
    assert harness.call(lambda: harness.sup.cancel(queued)) is False


def test_cancel_a_run_stuck_in_c_kills_its_worker(start_supervisor) -> None:
    harness = start_supervisor()
    path = harness.workflow("stuck", fifo_read("stuck", timeout=60))
    os.mkfifo(path.parent / "pipe")
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    pid = harness.busy_pid(run_id)
    assert harness.call(lambda: harness.sup.cancel(run_id)) is True
    record = harness.wait_terminal(run_id, timeout=10)
    assert record.status is RunStatus.CANCELLED
    assert record.error == "cancelled; the worker was stopped"
    exited = harness.wait_event("worker_exited", pid=pid)
    assert exited["reason"] == "cancelled"
    assert eventually(lambda: pid_gone(pid))
    assert harness.seen("run_interrupted", run_id=run_id) == []  # not resumed


DELAY = """\
deskpilot: 1
name: slow
nodes:
  wait:
    block: control.delay
    with: {seconds: 30}
"""


def test_run_time_limit_fails_the_run(start_supervisor) -> None:
    harness = start_supervisor()
    cooperative = harness.submit(harness.workflow("slow", DELAY), deadline_seconds=0.5)
    path = harness.workflow("stuck", fifo_read("stuck", timeout=60))
    os.mkfifo(path.parent / "pipe")
    stuck = harness.submit(path, deadline_seconds=0.5)

    # the engine stops a step that watches its deadline
    record = harness.wait_terminal(cooperative, timeout=10)
    assert record.status is RunStatus.FAILED
    assert record.error is not None and "deadline" in record.error
    # the supervisor kills a worker that cannot stop, and does not resume the run
    record = harness.wait_terminal(stuck, timeout=15)
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert record.error.startswith("worker timed out")
    assert record.error.endswith("gave up because its time limit passed")
    [interrupted] = harness.seen("run_interrupted", run_id=stuck)
    assert interrupted["reason"] == "timed_out" and interrupted["will_resume"] is False


CRASH_LATE = """\
deskpilot: 1
name: crash-late
nodes:
  first:
    block: control.delay
    with: {seconds: 1.2}
  crash:
    block: suptest.exit_worker
    with: {once: crashed}
  second:
    block: control.delay
    with: {seconds: 1.2}
links:
  - first -> crash
  - crash -> second
"""


def test_run_time_limit_spans_its_resumes(start_supervisor) -> None:
    """Each attempt alone fits in 2 s; both together do not, so the resumed run fails."""
    harness = start_supervisor()
    run_id = harness.submit(harness.workflow("crash-late", CRASH_LATE), deadline_seconds=2.0)
    record = harness.wait_terminal(run_id, timeout=15)
    assert harness.seen("run_interrupted", run_id=run_id)[0]["reason"] == "crashed"
    assert record.status is RunStatus.FAILED
    assert record.error is not None and "deadline" in record.error
    assert record.failed_node == "second"


def test_higher_priority_runs_start_first(start_supervisor) -> None:
    harness = start_supervisor(worker_limit=1)
    blocker = harness.workflow("blocker", gated("blocker"))
    plain = harness.workflow("plain", HOLD.format(name="plain", block="suptest.hold", seconds=0))
    first = harness.submit(blocker)
    harness.wait_event("node_started", run_id=first, node_id="gate")
    low = harness.submit(plain, priority=-5)
    normal = harness.submit(plain)
    high = harness.submit(plain, priority=10)
    also_high = harness.submit(plain, priority=10)
    (blocker.parent / "gate").write_text("open", encoding="utf-8")
    for run_id in (low, normal, high, also_high):
        assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED

    def started_runs() -> list[str] | None:
        found = [e["run_id"] for e in harness.seen("run_started") if e["run_id"] != first]
        return found if len(found) == 4 else None  # events reach the harness a moment later

    started = eventually(started_runs, timeout=10)
    # by priority, then in the order they came
    assert started == [high, also_high, normal, low]


STEP_THEN_READ = """\
deskpilot: 1
name: rerun-me
nodes:
  one:
    block: file.append
    with: {{path: count.txt, content: "{word}\\n"}}
  read:
    block: file.read
    with: {{path: needed.txt}}
links:
  - one -> read
outputs:
  text: "{{{{ nodes.read.text }}}}"
"""


def test_rerun_from_the_failed_node_reuses_recorded_outputs_or_the_current_file(
    start_supervisor,
) -> None:
    harness = start_supervisor()
    path = harness.workflow("rerun-me", STEP_THEN_READ.format(word="one"))
    failed = harness.submit(path)
    record = harness.wait_terminal(failed)
    assert record.status is RunStatus.FAILED and record.failed_node == "read"
    (path.parent / "needed.txt").write_text("found", encoding="utf-8")

    # from the failed node: 'one' is not run again, its recorded outputs are reused
    resumed = harness.call(lambda: harness.sup.rerun(failed, mode="failed_node"))
    record = harness.wait_terminal(resumed)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert record.outputs == {"text": "found"} and record.trigger == f"rerun:{failed}"
    assert lines(path.parent / "count.txt") == ["one"]
    assert [e.node_id for e in harness.store.events(resumed) if e.kind == "node_replayed"] == [
        "one"
    ]

    # from the start, on the version it ran: everything runs again
    again = harness.call(lambda: harness.sup.rerun(failed, mode="start"))
    assert harness.wait_terminal(again).status is RunStatus.SUCCEEDED
    assert lines(path.parent / "count.txt") == ["one", "one"]

    # on the current version of the edited file
    path.write_text(STEP_THEN_READ.format(word="uno"), encoding="utf-8")
    current = harness.call(lambda: harness.sup.rerun(failed, mode="current", current_path=path))
    assert harness.wait_terminal(current).status is RunStatus.SUCCEEDED
    assert lines(path.parent / "count.txt") == ["one", "one", "uno"]
    assert harness.run(current).version_id != harness.run(failed).version_id


def test_a_batch_of_submits_is_written_at_once_or_not_at_all(start_supervisor) -> None:
    harness = start_supervisor()
    path = harness.workflow("batched", HOLD.format(name="batched", block="suptest.hold", seconds=0))
    sup = harness.sup

    def submit_three() -> tuple[list[str], int]:
        with sup.batch():
            ids = [sup.submit(sup.load(path), trigger=f"schedule:b:0@{n}") for n in range(3)]
            # nothing is queued or written until the block ends
            pending = sum(1 for i in ids if harness.store.get_run(i) is not None or i in sup.queue)
        return ids, pending

    ids, pending_inside = harness.call(submit_three)
    assert pending_inside == 0
    for run_id in ids:
        assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED
    queued_at = [harness.run(i).queued_at for i in ids]
    # one transaction: one time, a microsecond apart so the history keeps their order
    assert [(t - queued_at[0]).total_seconds() for t in queued_at] == [0, 0.000001, 0.000002]

    def failing_batch() -> str:
        with sup.batch():
            fresh = sup.submit(sup.load(path))
            sup.submit(sup.load(path), run_id=ids[0])  # already exists: the insert fails
        return fresh

    with pytest.raises(ConstraintViolated, match="unique"):
        harness.call(failing_batch)
    # all or nothing: the fresh run was neither written nor queued
    assert len(harness.store.list_runs(workflow="batched")) == 3
    assert not [entry for entry in sup.queue.values() if entry.workflow == "batched"]


def test_a_spare_worker_is_ready_while_a_run_is_busy(start_supervisor) -> None:
    """The worker a run is handed to stops counting as the spare at once, so another one
    starts: the next run (or a resume after a crash) does not wait for a cold worker."""
    harness = start_supervisor(worker_limit=2, spare_workers=1)
    path = harness.workflow("waits", gated("waits"))
    eventually(lambda: idle_workers(harness) >= 1, timeout=20)  # the spare, before the run
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    eventually(lambda: idle_workers(harness) >= 1, timeout=20)  # a new spare beside it
    harness.call(lambda: harness.sup.cancel(run_id))
    harness.wait_terminal(run_id)
