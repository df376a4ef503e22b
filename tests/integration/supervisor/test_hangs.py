"""Workers that stop answering (frozen, or stuck in C holding the GIL) and steps past their deadline.

A hang is only seen as silence: no heartbeat within the lease.  Before the
kill the supervisor asks for a faulthandler dump and saves the process tree
and the worker's log tail as an evidence artifact of the run; then the whole
process tree is killed and the run goes the way of any interruption.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import cv2
import psutil

from automation.engine.events import RunStatus
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import SupervisorThread, pid_gone, wait_for
from tests.integration.supervisor.test_crashes import assert_resumed_once, gated


def evidence(harness: SupervisorThread, run_id: str, reason: str) -> list[dict[str, Any]]:
    """The evidence files the supervisor linked to the run for ``reason``."""
    found = [
        a for a in harness.store.artifacts(run_id) if a.kind == "evidence" and reason in a.path
    ]
    return [json.loads(Path(a.path).read_text(encoding="utf-8")) for a in found]


def test_frozen_worker_is_detected_killed_and_resumed(start_supervisor) -> None:
    harness = start_supervisor()
    path = harness.workflow("frozen", gated("frozen"))
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    pid = harness.busy_pid(run_id)
    stopped_at = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    threads = {int(task) for task in os.listdir(f"/proc/{pid}/task")}  # fixed while stopped

    missed = harness.wait_event("heartbeat_missed", pid=pid)
    lease = harness.config.lease
    assert missed["_t"] - stopped_at < lease + 1.0
    assert lease - 0.05 <= missed["silent_for"] < lease + 1.0
    interrupted = harness.wait_event("run_interrupted", run_id=run_id)
    assert interrupted["reason"] == "hung"
    assert eventually(lambda: pid_gone(pid))
    (path.parent / "gate").write_text("open", encoding="utf-8")

    [saved] = wait_for(lambda: evidence(harness, run_id, "hung") or None)
    assert saved["reason"] == "hung" and saved["pid"] == pid
    assert saved["process_tree"][0]["pid"] == pid
    assert saved["process_tree"][0]["status"] == psutil.STATUS_STOPPED
    assert saved["worker_id"] == missed["worker_id"]
    # A stopped process cannot run its faulthandler: py-spy read every thread from outside.
    stacks = saved["python_stacks"]
    assert "error" not in stacks, stacks
    assert {t["os_thread_id"] for t in stacks["threads"]} == threads
    assert all(t["frames"] for t in stacks["threads"]), stacks
    waiting = [f for t in stacks["threads"] for f in t["frames"] if "blocks/files.py" in f]
    assert waiting, stacks  # the main thread was in the file.wait block
    assert_resumed_once(harness, run_id, path.parent, "hung")


REGEX_HANG = """\
deskpilot: 1
name: backtracking
nodes:
  before:
    block: file.append
    with: {path: count.txt, content: "before\\n"}
  match:
    block: data.regex_match
    with: {pattern: "(a+)+$", text: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}
links:
  - before -> match
"""


def test_worker_stuck_in_c_holding_the_gil_is_hung(start_supervisor) -> None:
    """Catastrophic backtracking holds the GIL inside ``re``: the heartbeat thread cannot run.

    faulthandler's dump works from its C signal handler without the GIL, so
    the evidence shows where the worker was stuck.  The match hangs again on
    resume, so with one restart allowed the run ends failed, 'gave up'.
    """
    harness = start_supervisor(max_restarts=1)
    path = harness.workflow("backtracking", REGEX_HANG)
    run_id = harness.submit(path)

    record = harness.wait_terminal(run_id, timeout=30)
    assert record.status is RunStatus.FAILED
    assert record.error is not None and "gave up because it was interrupted 2 times" in record.error
    # the events reach the harness a moment after the history has the run's end
    interrupted = wait_for(
        lambda: found if len(found := harness.seen("run_interrupted", run_id=run_id)) >= 2 else None
    )
    assert [e["reason"] for e in interrupted] == ["hung", "hung"]
    assert [e["will_resume"] for e in interrupted] == [True, False]
    assert (path.parent / "count.txt").read_text(encoding="utf-8") == "before\n"

    def both_dumps() -> list[dict[str, Any]] | None:
        found = evidence(harness, run_id, "hung")
        return found if len(found) == 2 else None

    dumps = wait_for(both_dumps)
    for saved in dumps:
        tail = saved["worker_log_tail"]
        assert "most recent call first" in tail, tail[-2000:]
        assert "automation/blocks/data.py" in tail
        assert "in search" in tail or "in finditer" in tail or "<listcomp>" in tail
        assert saved["process_tree"][0]["status"] != psutil.STATUS_STOPPED
        assert eventually(functools.partial(pid_gone, saved["pid"]))
    notes = [e for e in harness.store.events(run_id) if (e.data or {}).get("reason") == "hung"]
    assert len(notes) == 2


def fifo_read(name: str, timeout: float) -> str:
    """``gated``, its gate reading the FIFO ``pipe`` (which the test makes) within ``timeout``."""
    return gated(name, "file.read", "{path: pipe}", timeout=timeout)


def feed_fifo(path: Path, data: bytes, timeout: float = 20.0) -> None:
    """Write to the FIFO once a reader has it open (the resumed worker), then close it."""

    def writer() -> int | None:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no reader yet
                return None
            raise

    fd = wait_for(writer, timeout=timeout)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_step_past_its_deadline_in_c_is_killed_as_timed_out(start_supervisor) -> None:
    """Opening a FIFO nobody writes blocks in C with the GIL released: heartbeats go on, the
    engine's watchdog cannot interrupt it, so the supervisor's deadline backstop kills it."""
    harness = start_supervisor()
    path = harness.workflow("stuck-open", fifo_read("stuck-open", timeout=0.3))
    os.mkfifo(path.parent / "pipe")
    run_id = harness.submit(path)
    started = harness.wait_event("node_started", run_id=run_id, node_id="gate")
    pid = harness.busy_pid(run_id)

    interrupted = harness.wait_event("run_interrupted", run_id=run_id)
    assert interrupted["reason"] == "timed_out"
    assert not harness.seen("heartbeat_missed", pid=pid), "heartbeats went on: not a hang"
    # killed at the step deadline plus the grace periods, not before
    deadline = 0.3 + 2 * harness.config.kill_grace + 1.0
    killed = harness.wait_event("worker_exited", pid=pid)
    assert deadline - 0.2 <= killed["_t"] - started["_t"] < deadline + 2.0
    assert killed["reason"] == "timed_out"
    assert eventually(lambda: pid_gone(pid))
    [saved] = wait_for(lambda: evidence(harness, run_id, "timed_out") or None)
    assert saved["pid"] == pid

    # the restart policy applies: the run resumes and the step runs again (attempt 2)
    feed_fifo(path.parent / "pipe", b"unblocked")
    assert_resumed_once(harness, run_id, path.parent, "timed_out")
    gate = [s for s in harness.store.steps(run_id) if s.node_id == "gate"]
    assert gate[-1].outputs is not None and gate[-1].outputs["text"] == "unblocked"


def test_worker_frozen_while_starting_is_replaced(start_supervisor) -> None:
    """A spare frozen before its hello is neither idle nor busy: without a start-up deadline
    it would count as the coming spare for ever and the queue would never move."""
    harness = start_supervisor(
        # a fresh interpreter imports for ~1 s on a quiet machine and 2-3 s on a loaded one
        worker_limit=1,
        spare_workers=1,
        worker_start_timeout=6.0,
        fork=False,
    )
    first = harness.wait_event("worker_started")
    os.kill(first["pid"], signal.SIGSTOP)  # it is still importing: no hello yet
    run_id = harness.submit(harness.workflow("simple", REGEX_HANG.replace("(a+)+$", "b$")))

    assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED
    exited = harness.wait_event("worker_exited", pid=first["pid"])
    assert exited["reason"] == "hung" and exited["run_id"] is None
    assert harness.seen("run_interrupted") == []  # the run never went to the frozen worker
    assert eventually(functools.partial(pid_gone, first["pid"]))


DESKTOP_HOLD = """\
deskpilot: 1
name: desk-hang
nodes:
  hold:
    block: suptest.desktop_hold
    with: {log: holds.log, seconds: 60}
"""


def test_a_hung_desktop_run_leaves_a_screenshot_of_the_screen(
    start_supervisor, xvfb_display, monkeypatch
) -> None:
    """A run holding the desktop is evidence on screen too: grabbed before the kill."""
    monkeypatch.setenv("DISPLAY", xvfb_display.name)
    monkeypatch.setenv("XAUTHORITY", str(xvfb_display.xauthority))
    harness = start_supervisor()
    path = harness.workflow("desk-hang", DESKTOP_HOLD)
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="hold")
    pid = harness.busy_pid(run_id)
    os.kill(pid, signal.SIGSTOP)
    assert harness.wait_event("run_interrupted", run_id=run_id)["reason"] == "hung"

    [shot] = wait_for(
        lambda: [a for a in harness.store.artifacts(run_id) if a.kind == "screenshot"] or None
    )
    assert "hung" in shot.path
    image = cv2.imread(shot.path)
    assert image is not None and image.shape[:2] == (xvfb_display.height, xvfb_display.width)
    sup = harness.sup
    harness.call(lambda: sup.cancel(run_id))
    assert harness.wait_terminal(run_id).status is RunStatus.CANCELLED


def test_a_hung_run_without_the_desktop_takes_no_screenshot(
    start_supervisor, xvfb_display, monkeypatch
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb_display.name)  # a screen there is: not this run's business
    monkeypatch.setenv("XAUTHORITY", str(xvfb_display.xauthority))
    harness = start_supervisor()
    path = harness.workflow("frozen-plain", gated("frozen-plain"))
    run_id = harness.submit(path)
    harness.wait_event("node_started", run_id=run_id, node_id="gate")
    os.kill(harness.busy_pid(run_id), signal.SIGSTOP)
    harness.wait_event("run_interrupted", run_id=run_id)
    wait_for(lambda: evidence(harness, run_id, "hung") or None)
    assert not [a for a in harness.store.artifacts(run_id) if a.kind == "screenshot"]
    (path.parent / "gate").write_text("open", encoding="utf-8")
    assert harness.wait_terminal(run_id).status is RunStatus.SUCCEEDED


def _pids_written(path: Path) -> list[str] | None:
    """The pids the block wrote, or None while it has not yet written its file."""
    try:
        return path.read_text().split() or None
    except FileNotFoundError:
        return None


CHILD_HANG = """\
deskpilot: 1
name: desk-child
nodes:
  wait:
    block: suptest.desktop_child
    with: {pids: helper.pid}
"""


def test_a_desktop_step_stuck_in_a_helper_is_killed_with_it_at_the_default_timeout(
    start_supervisor, xvfb_display, monkeypatch
) -> None:
    """No timeout in the workflow: the desktop default still bounds the step, and the kill
    takes the helper it waits on, with evidence, while heartbeats went on."""
    monkeypatch.setenv("DISPLAY", xvfb_display.name)
    monkeypatch.setenv("XAUTHORITY", str(xvfb_display.xauthority))
    harness = start_supervisor()
    path = harness.workflow("desk-child", CHILD_HANG)
    run_id = harness.submit(path)
    started = harness.wait_event("node_started", run_id=run_id, node_id="wait")
    pid = harness.busy_pid(run_id)
    helper = int(wait_for(lambda: _pids_written(path.parent / "helper.pid"))[0])

    killed = harness.wait_event("worker_exited", pid=pid)
    assert killed["reason"] == "timed_out"
    deadline = 0.5 + 2 * harness.config.kill_grace + 1.0  # the block's default, then grace
    assert deadline - 0.2 <= killed["_t"] - started["_t"] < deadline + 2.0
    assert not harness.seen("heartbeat_missed", pid=pid), "heartbeats went on: not silence"
    assert eventually(lambda: pid_gone(helper)), "the helper outlived the worker"
    [saved] = wait_for(lambda: evidence(harness, run_id, "timed_out") or None)
    assert saved["pid"] == pid
    assert helper in [p["pid"] for p in saved["process_tree"]]
    sup = harness.sup
    harness.call(lambda: sup.cancel(run_id))
    assert harness.wait_terminal(run_id).status is RunStatus.CANCELLED
