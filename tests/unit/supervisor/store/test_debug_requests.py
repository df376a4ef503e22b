"""Debugger requests between supervisors, a run's pause read from history, its stored options.

Every test runs on SQLite and on the suite's PostgreSQL (``store_factory``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from automation.clock import FakeClock
from automation.engine.events import Event, LogEmitted, NodePaused, NodeResumed, RunStatus
from supervisor.store import HistoryStore
from supervisor.store.debug_requests import COMMAND, NotHeldElsewhere
from supervisor.store.notify import QueueWatcher
from supervisor.store.store import QueuedRow
from tests.helpers.storage import StoreFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
E = TypeVar("E", bound=Event)


@pytest.fixture
def store(store_factory: StoreFactory) -> HistoryStore:
    return store_factory(clock=FakeClock(start=START))


def queued(store: HistoryStore, **options: object) -> str:
    version = store.save_workflow_version("stepped", None, "nodes: []\n")
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "stepped", version, options=dict(options) or None)])
    return run_id


def running(store: HistoryStore, claimant: str = "b" * 32, **options: object) -> str:
    """A run claimed by ``claimant``, a registered supervisor (it can answer requests)."""
    store.register_supervisor(claimant, host="pc-b")
    run_id = queued(store, **options)
    assert store.claim_queued(claimant, run_ids=(run_id,), lease_seconds=60)
    return run_id


def event(kind: type[E], run_id: str, seq: int, at: float = 0.0, **fields: Any) -> E:
    """An event of ``run_id`` as history records it, ``at`` seconds after ``START``."""
    return kind(run_id=run_id, seq=seq, at=START + timedelta(seconds=at), **fields)


def worker_died(run_id: str, seq: int, at: float) -> LogEmitted:
    """The supervisor's note on a worker killed mid-run, ``at`` seconds after ``START``."""
    message = "the worker exited (killed by signal 9)"
    return event(LogEmitted, run_id, seq, at, node_id=None, level="warning", message=message)


def test_a_request_reaches_the_runs_supervisor_and_comes_back_answered(
    store: HistoryStore,
) -> None:
    run_id = running(store)
    asked = store.request_debug(run_id, COMMAND, {"action": "continue", "inputs": {"v": 1}})
    assert asked.supervisor_id == "b" * 32
    assert store.pending_debug_requests("a" * 32) == []
    (pending,) = store.pending_debug_requests("b" * 32)
    assert pending.payload == {"action": "continue", "inputs": {"v": 1}}

    store.answer_debug_request(pending.id, "run is not paused")
    answer = store.debug_request(asked.id)
    assert answer is not None and answer.answered_at is not None
    assert (answer.outcome, answer.payload) == ("run is not paused", None)  # values do not stay
    assert store.pending_debug_requests("b" * 32) == []
    assert not store.withdraw_debug_request(asked.id)  # answered: not withdrawn
    store.forget_debug_request(asked.id)
    assert store.debug_request(asked.id) is None


def test_answers_nobody_read_are_dropped_after_a_while(store_factory: StoreFactory) -> None:
    clock = FakeClock(start=START)
    store = store_factory(clock=clock)
    run_id = running(store)
    left = store.request_debug(run_id, COMMAND, {})
    store.answer_debug_request(left.id)
    clock.advance(30)
    assert store.drop_answered_debug_requests("b" * 32, older_than=60) == 0
    clock.advance(31)
    assert store.drop_answered_debug_requests("b" * 32, older_than=60) == 1
    assert store.debug_request(left.id) is None


def test_nobody_is_asked_about_a_run_that_is_not_running(store: HistoryStore) -> None:
    run_id = queued(store)
    with pytest.raises(NotHeldElsewhere, match="not running on any machine"):
        store.request_debug(run_id, COMMAND, {})
    unanswered = store.request_debug(running(store), COMMAND, {})
    assert store.withdraw_debug_request(unanswered.id)


def test_the_pause_is_the_latest_of_the_current_claim(store: HistoryStore) -> None:
    run_id = running(store, breakpoints=["second"], deadline_seconds=30)
    record = store.get_run(run_id)
    assert record is not None
    assert record.options == {"breakpoints": ["second"], "deadline_seconds": 30}
    assert store.run_pause(run_id) is None
    store.record(
        [
            event(
                NodePaused,
                run_id,
                1,
                at=1,
                node_id="second",
                step=2,
                reason="breakpoint",
                pins={"value": "***"},
                timeout=600,
            )
        ]
    )
    found = store.run_pause(run_id)
    assert found is not None and (found.node_id, found.step) == ("second", 2)
    assert (found.data or {})["pins"] == {"value": "***"}
    store.record(
        [event(NodeResumed, run_id, 2, at=1, node_id="second", step=2, action="step", waited=4.5)]
    )
    assert store.run_pause(run_id) is None
    assert store.paused_seconds(run_id) == 4.5

    store.set_run_options(run_id, {"breakpoints": ["first"]})
    assert store.get_run(run_id).options == {"breakpoints": ["first"]}  # type: ignore[union-attr]
    store.set_run_status(run_id, RunStatus.SUCCEEDED)
    assert store.run_pause(run_id) is None


def test_a_request_is_announced_to_its_supervisor(store: HistoryStore) -> None:
    if store.engine.url.get_backend_name() != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite the owner polls")
    run_id = running(store)

    async def scenario() -> None:
        watcher = QueueWatcher(store.engine.url, supervisor_id="b" * 32, poll_interval=30)
        other = QueueWatcher(store.engine.url, supervisor_id="c" * 32, poll_interval=30)
        await watcher.start()
        await other.start()
        try:
            await watcher.wait_debug(0.01)  # the wake-up every (re)connect gives
            await other.wait_debug(0.01)
            await asyncio.to_thread(store.request_debug, run_id, COMMAND, {})
            assert await watcher.wait_debug(10)
            assert not await other.wait_debug(0.3)  # another supervisor's request
        finally:
            await watcher.close()
            await other.close()

    asyncio.run(scenario())


def test_a_pause_cut_short_by_its_supervisors_death_counts_until_its_last_heartbeat(
    store: HistoryStore,
) -> None:
    """Nobody answered it: it lasted until its supervisor died, not until the lease was reaped."""
    owner = "b" * 32
    store.register_supervisor(owner, host="pc-b", at=START)
    run_id = running(store, owner, deadline_seconds=60)
    answered = [
        event(NodePaused, run_id, 1, node_id="first", step=1, reason="breakpoint"),
        event(NodeResumed, run_id, 2, node_id="first", step=1, action="continue", waited=3.0),
        event(NodePaused, run_id, 3, at=5, node_id="second", step=2, reason="breakpoint"),
    ]
    store.record(answered)
    assert store.paused_seconds(run_id) == 3.0  # still paused: its supervisor counts that
    # its last heartbeat, 20 s into the pause; then SIGKILL, and the lease runs out
    store.supervisor_heartbeat(owner, at=START + timedelta(seconds=25), holding=[run_id])
    assert store.reap_expired_leases(START + timedelta(seconds=200)) == [run_id]
    assert store.paused_seconds(run_id) == pytest.approx(3.0 + 20.0)


def test_a_pause_cut_short_by_its_workers_death_counts_until_the_note_on_it(
    store: HistoryStore,
) -> None:
    run_id = running(store)
    store.record(
        [
            event(NodePaused, run_id, 1, node_id="only", step=1, reason="step"),
            worker_died(run_id, 2, at=7.5),
        ]
    )
    assert store.paused_seconds(run_id) == pytest.approx(7.5)


def _hold_line(run_id: str, seq: int, seconds: float, hold: str, **data: object) -> LogEmitted:
    """The engine's line on a locked screen's hold (``automation.engine.hold``)."""
    message = {
        "held": "held: the screen is locked (x) (since ...); desktop input waits before step 1",
        "released": "released: held for 4.0s because the screen is locked (x); the step goes on",
        "gave_up": "stopped waiting after 2.0s, still held because the screen is locked (x)",
    }[hold]
    return event(
        LogEmitted,
        run_id,
        seq,
        seconds,
        node_id="type",
        level="info",
        message=message,
        data={"hold": hold, **data},
    )


def test_a_locked_screen_s_holds_are_not_on_the_run_s_clock_either(store: HistoryStore) -> None:
    """Ended holds count what they say; one cut by the worker's death, until the note on it."""
    run_id = running(store)
    store.record(
        [
            event(NodePaused, run_id, 1, node_id="first", step=1, reason="step"),
            event(NodeResumed, run_id, 2, node_id="first", step=1, action="step", waited=1.0),
            _hold_line(run_id, 3, 10.0, "held", session="locked"),
            _hold_line(run_id, 4, 14.0, "released", held_seconds=4.0),
            _hold_line(run_id, 5, 20.0, "held", session="locked"),
        ]
    )
    assert store.paused_seconds(run_id) == pytest.approx(5.0)  # the second still holds
    store.record([worker_died(run_id, 6, at=26.5)])
    assert store.paused_seconds(run_id) == pytest.approx(5.0 + 6.5)
