"""Step deadlines enforced on blocks that ignore them, with the real clock.

Each test is bounded: the busy blocks spin for a fixed number of real
seconds at most, so a watchdog that never fires makes a test fail, not hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.clock import SYSTEM_CLOCK
from automation.engine.events import NodeFailed, NodeFinished, RunStatus
from automation.errors import StepInterrupted
from tests.helpers.common import eventually
from tests.unit.automation.blockkit import Harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=SYSTEM_CLOCK)
    yield harness
    harness.close()


def test_busy_loop_is_interrupted_at_its_deadline(h: Harness) -> None:
    engine = h.engine(kill_grace=0.3)
    started = time.monotonic()
    result = h.run(
        "name: w\nnodes:\n  spin: {block: kit.busy, with: {seconds: 5}, timeout: 0.3s}\n"
        "  after: {block: kit.emit}\nlinks: [spin -> after]\n",
        engine=engine,
    )
    elapsed = time.monotonic() - started
    assert result.status is RunStatus.FAILED
    assert result.failed_node == "spin"
    assert 0.5 <= elapsed < 2.5, elapsed  # deadline + grace, well before the 5 s spin ends
    (failed,) = h.typed(NodeFailed)
    assert (failed.error_type, failed.failure) == ("StepInterrupted", "timeout")
    assert h.journal.count("after") == 0


def test_interrupted_step_is_retried_per_policy(h: Harness) -> None:
    engine = h.engine(kill_grace=0.2)
    result = h.run(
        "name: w\nnodes:\n  spin: {block: kit.busy, with: {seconds: 5}, timeout: 0.2s, "
        "retry: {max_attempts: 2, delay: 0s}}\n  handler: {block: kit.emit}\n"
        "links: [spin.error -> handler.value]\n",
        engine=engine,
    )
    assert result.ok  # the error pin caught the final timeout
    assert h.journal.count("spin") == 2
    failed = h.typed(NodeFailed)
    assert [(e.attempt, e.failure, e.will_retry) for e in failed] == [
        (1, "timeout", True),
        (2, "timeout", False),
    ]
    (payload,) = h.journal.values("handler")
    assert (payload["failure"], payload["attempts"], payload["type"]) == (
        "timeout",
        2,
        "StepInterrupted",
    )


def test_block_that_swallows_the_interrupt_still_times_out(h: Harness) -> None:
    engine = h.engine(kill_grace=0.2)
    result = h.run(
        "name: w\nnodes:\n  stubborn: {block: kit.busy, with: {seconds: 1.2, swallow: true}, timeout: 0.2s}\n",
        engine=engine,
    )
    assert result.status is RunStatus.FAILED
    assert ("stubborn", "swallowed StepInterrupted") in h.journal.notes
    (failed,) = h.typed(NodeFailed)
    assert failed.failure == "timeout"
    assert failed.error_type == "StepTimeout"
    assert failed.duration >= 1.0  # it ran to its own end, past deadline and grace


def test_block_returning_after_its_deadline_within_the_grace_times_out(h: Harness) -> None:
    engine = h.engine(kill_grace=3.0)
    result = h.run(
        "name: w\nnodes:\n  late: {block: kit.busy, with: {seconds: 0.6}, timeout: 0.2s}\n",
        engine=engine,
    )
    assert result.status is RunStatus.FAILED
    (failed,) = h.typed(NodeFailed)
    assert (failed.error_type, failed.failure) == ("StepTimeout", "timeout")
    assert h.journal.notes == []  # not interrupted: the grace had not run out


def test_quick_steps_never_time_out(h: Harness) -> None:
    engine = h.engine(kill_grace=0.2)
    result = h.run(
        "name: w\nnodes:\n  loop: {block: control.for_each, with: {items: '{{ range(200) | list }}'}}\n"
        "  body: {block: kit.emit, timeout: 5s}\n"
        "  short: {block: kit.emit, timeout: 0.8s}\n"
        "links: [loop.item -> body.value, body -> short]\n",
        engine=engine,
    )
    assert result.ok
    assert h.journal.count("body") == h.journal.count("short") == 200
    assert h.typed(NodeFailed) == []
    assert len(h.typed(NodeFinished)) == 401
    # the last step's deadline plus grace passes while this thread runs Python:
    # a watchdog that was not disarmed would interrupt us here
    stray: list[BaseException] = []
    end = time.monotonic() + 1.2
    while time.monotonic() < end:
        try:
            sum(range(1000))
        except StepInterrupted as exc:  # pragma: no cover - the failure being tested for
            stray.append(exc)
    assert stray == []


def test_one_engine_runs_several_workflows_in_turn(h: Harness) -> None:
    engine = h.engine(kill_grace=0.2)
    spin = "name: w\nnodes:\n  spin: {block: kit.busy, with: {seconds: 5}, timeout: 0.2s}\n"
    quick = "name: w\nnodes:\n  a: {block: kit.emit, timeout: 0.2s}\n"
    assert h.run(spin, engine=engine).status is RunStatus.FAILED
    assert h.run(quick, engine=engine).ok
    assert h.run(spin, engine=engine).status is RunStatus.FAILED
    assert [e.error_type for e in h.typed(NodeFailed)] == ["StepInterrupted"] * 2


def test_two_threads_on_one_engine_keep_their_own_deadlines(h: Harness) -> None:
    engine = h.engine(kill_grace=0.2)
    spinning = h.load(
        "name: a\nnodes:\n  spin: {block: kit.busy, with: {seconds: 1.5}, timeout: 0.2s}\n"
    )
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(engine.run(spinning)))
    worker.start()
    assert h.journal.started.wait(10)
    assert engine.run(h.load("name: b\nnodes: {a: {block: kit.emit}}\n", "b.yaml")).ok
    worker.join(timeout=10)
    assert results[0].status is RunStatus.FAILED


def test_runs_leave_no_watchdog_threads_behind(h: Harness) -> None:
    engine = h.engine(kill_grace=0.2)
    loaded = h.load(
        "name: w\nnodes:\n  a: {block: kit.emit, timeout: 5s}\n  b: {block: kit.emit}\n"
    )
    for _ in range(20):
        assert engine.run(loaded).ok

    def watchdogs() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "deskpilot-step-watchdog"]

    assert eventually(lambda: not watchdogs(), timeout=5) is True
