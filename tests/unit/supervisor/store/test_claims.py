"""Atomic claims and compare-and-set status changes, on every store backend.

The race tests start real processes on one database (SQLite file or the
suite's PostgreSQL): several claimants, every queued run taken exactly once.
CI races 600 runs (300 for the per-run compare-and-set);
``DESKPILOT_RACE_RUNS=3000`` runs the full-size race, and
``tests/benchmarks/bench_fleet.py`` measures it.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from automation.clock import FakeClock
from automation.engine.events import IllegalTransition, RunStatus
from supervisor.breaker import BreakerPolicy
from supervisor.breaker_sync import Change, changed
from supervisor.errors import RunStatusChanged
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.claimers import race
from tests.helpers.storage import StoreFactory

RACE_RUNS = int(os.environ.get("DESKPILOT_RACE_RUNS", "600"))
CLAIMANTS = 4


def queue(store: HistoryStore, count: int, *, priority: int = 0) -> list[str]:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(count)]
    for start in range(0, count, 500):
        store.create_runs(
            [
                QueuedRow(run_id, "invoices", version, priority=priority)
                for run_id in ids[start : start + 500]
            ]
        )
    return ids


def test_claims_go_by_priority_then_age_and_name_their_claimant(
    store_factory: StoreFactory,
) -> None:
    clock = FakeClock(start=datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    store = store_factory(clock=clock)
    old = queue(store, 1)
    clock.advance(1)
    new = queue(store, 1)
    clock.advance(1)
    urgent = queue(store, 1, priority=5)

    first = store.claim_queued("sup-a", limit=2)
    second = store.claim_queued("sup-b", limit=5)

    assert [run.id for run in first] == [*urgent, *old]
    assert [run.id for run in second] == new
    assert all(run.status is RunStatus.RUNNING and run.started_at is not None for run in first)
    assert store.claimant_of(old[0]) == "sup-a"
    assert store.claimant_of(new[0]) == "sup-b"
    assert store.claim_queued("sup-a") == []


def test_a_status_change_fenced_by_another_claimant_is_refused(store: HistoryStore) -> None:
    (run_id,) = queue(store, 1)
    store.claim_queued("sup-a")

    with pytest.raises(RunStatusChanged, match="claimed by sup-a"):
        store.set_run_status(run_id, RunStatus.SUCCEEDED, owner="sup-b")

    assert store.get_run(run_id).status is RunStatus.RUNNING  # type: ignore[union-attr]
    done = store.set_run_status(run_id, RunStatus.SUCCEEDED, owner="sup-a")
    assert done.status is RunStatus.SUCCEEDED


def test_a_status_change_from_a_stale_view_is_refused_not_applied(store: HistoryStore) -> None:
    (run_id,) = queue(store, 1)
    store.claim_queued("sup-a")

    with pytest.raises(RunStatusChanged, match="expected to be 'queued' but is 'running'"):
        store.set_run_status(run_id, RunStatus.RUNNING, expected=RunStatus.QUEUED)
    with pytest.raises(IllegalTransition):  # what callers that catch the parent see
        store.set_run_status(run_id, RunStatus.RUNNING, expected=RunStatus.QUEUED)


def test_queuing_a_claimed_run_again_clears_its_claimant(store: HistoryStore) -> None:
    (run_id,) = queue(store, 1)
    store.claim_queued("sup-a")
    store.set_run_status(run_id, RunStatus.INTERRUPTED)

    store.set_run_status(run_id, RunStatus.QUEUED)

    assert store.claimant_of(run_id) is None
    assert [run.id for run in store.claim_queued("sup-b")] == [run_id]


def test_threads_saving_the_same_workflow_get_one_version(store: HistoryStore) -> None:
    refs = []

    def save() -> None:
        refs.append(store.save_workflow_version("invoices", "a.yaml", "v: 1"))

    threads = [threading.Thread(target=save) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(refs) == 8 and len(set(refs)) == 1


@pytest.mark.parametrize("mode", ["claim", "cas"])
def test_racing_processes_never_take_the_same_run_twice(
    store_factory: StoreFactory, mode: str
) -> None:
    store = store_factory()
    # Each ``cas`` racer tries every run, one transaction each: half as many keep CI short.
    ids = queue(store, RACE_RUNS if mode == "claim" else RACE_RUNS // 2)
    url = store.engine.url.render_as_string(hide_password=False)

    result = race(url, CLAIMANTS, mode, batch=10 if mode == "claim" else 1)

    assert result.double_claims == 0
    assert sorted(run_id for got in result.claimed.values() for run_id in got) == sorted(ids)
    assert store.count_runs(status=RunStatus.QUEUED) == 0
    if mode == "claim":
        for claimant, got in result.claimed.items():
            assert all(store.claimant_of(run_id) == claimant for run_id in got[:20])


def test_a_run_waiting_out_its_restart_delay_is_claimed_by_nobody_before_it_ends(
    store_factory: StoreFactory,
) -> None:
    clock = FakeClock(start=datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    store = store_factory(clock=clock)
    (run_id,) = queue(store, 1)
    assert [run.id for run in store.claim_queued("sup-a", lease_seconds=30)] == [run_id]
    store.set_run_status(run_id, RunStatus.INTERRUPTED, owner="sup-a")
    resume_at = clock.now() + timedelta(seconds=5)
    store.set_run_status(run_id, RunStatus.QUEUED, owner="sup-a", not_before=resume_at)
    record = store.get_run(run_id)
    assert record is not None and record.not_before == resume_at

    clock.advance(4.9)
    assert store.claim_queued("sup-b") == []
    assert store.claim_queued("sup-b", run_ids=[run_id]) == []
    clock.advance(0.1)
    assert [run.id for run in store.claim_queued("sup-b")] == [run_id]


def test_counted_claims_share_one_run_rate_ceiling_across_claimants(
    store_factory: StoreFactory,
) -> None:
    """Two claimants (two connections) claiming at once: one count, one start past the ceiling."""
    first, second = store_factory(), store_factory()
    for claimant in ("a", "b"):  # supervisors of a fleet (their claims are fenced on it)
        first.register_supervisor(claimant, host=f"pc-{claimant}")
    ids = queue(first, 12)
    results: list[tuple[str, str | None, int | None]] = []
    lock = threading.Lock()

    def claim(store: HistoryStore, claimant: str, mine: list[str]) -> None:
        for run_id in mine:
            outcome = store.claim_counted(
                claimant, run_id, max_starts=4, rate_window=60.0, lease_seconds=30
            )
            record, count = outcome.record, outcome.first_starts
            with lock:
                results.append((run_id, None if record is None else record.claimed_by, count))

    threads = [
        threading.Thread(target=claim, args=(first, "a", ids[0::2])),
        threading.Thread(target=claim, args=(second, "b", ids[1::2])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [r for r in results if r[1] is not None]
    # four under the ceiling and the one that passed it (its supervisor opens the breaker)
    assert len(claimed) == 5, results
    assert sorted(count for _, _, count in claimed) == [1, 2, 3, 4, 5]
    refused = [r for r in results if r[1] is None]
    assert all(count is not None and count > 5 for _, _, count in refused)
    assert {r.status for r in (first.get_run(run_id) for run_id, _, _ in refused) if r} == {
        RunStatus.QUEUED
    }


def test_three_claimants_at_once_never_pass_a_workflows_run_rate_ceiling(
    store_factory: StoreFactory,
) -> None:
    """Three supervisors (three connections) start one workflow at the same moments.

    Each claim's count must include every start the others committed: the
    ceiling (10 first starts, the 11th opens the breaker) holds for the fleet.
    """
    stores = [store_factory() for _ in range(3)]
    for index, store in enumerate(stores):
        store.register_supervisor(f"s{index}", host=f"pc-{index}")
    ids = queue(stores[0], 45)
    start = threading.Barrier(3)
    results: list[tuple[str, str | None, int | None]] = []
    lock = threading.Lock()

    def claim(index: int) -> None:
        start.wait(timeout=30)
        for run_id in ids[index::3]:
            outcome = stores[index].claim_counted(
                f"s{index}", run_id, max_starts=10, rate_window=60.0, lease_seconds=30
            )
            claimant = None if outcome.record is None else outcome.record.claimed_by
            with lock:
                results.append((run_id, claimant, outcome.first_starts))

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 45
    claimed = [r for r in results if r[1] is not None]
    assert sorted(count for _, _, count in claimed) == list(range(1, 12)), results
    assert {claimant for _, claimant, _ in claimed} <= {"s0", "s1", "s2"}
    refused = [run_id for run_id, claimant, _ in results if claimant is None]
    statuses = {stores[0].get_run(run_id).status for run_id in refused}  # type: ignore[union-attr]
    assert statuses == {RunStatus.QUEUED}
    assert stores[0].count_runs(status=RunStatus.RUNNING) == 11


def test_a_breaker_reset_starts_the_run_rate_count_afresh(store_factory: StoreFactory) -> None:
    """Starts before a reset inside the window no longer count towards the fleet's ceiling."""
    clock = FakeClock(start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    store = store_factory(clock=clock)
    store.register_supervisor("a", host="pc-a")
    ids = queue(store, 6)
    policy = BreakerPolicy()

    def claim(run_id: str) -> int | None:
        outcome = store.claim_counted("a", run_id, max_starts=2, rate_window=60.0)
        record, count = outcome.record, outcome.first_starts
        assert (record is not None) == (count is not None and count <= 3), (run_id, count)
        return count

    assert [claim(run_id) for run_id in ids[:4]] == [1, 2, 3, 4]  # the 4th stays queued
    clock.advance(5)
    reset_at = clock.now().timestamp()
    row, done = store.change_breaker(
        "invoices", lambda row: changed(row, Change.RESET, policy=policy, now=reset_at)
    )
    assert done and row.starts_since == reset_at
    clock.advance(1)
    # inside the same 60 s window: counted from the reset, so the queued 4th starts now
    assert [claim(run_id) for run_id in ids[3:]] == [1, 2, 3]
    clock.advance(1)
    assert store.change_breaker(
        "other", lambda row: changed(row, Change.RESET, policy=policy, now=reset_at + 2)
    )[1]
    assert store.breaker_row("invoices").starts_since == reset_at  # one workflow's alone


def test_a_resumed_run_is_claimed_without_counting(store: HistoryStore) -> None:
    for claimant in ("a", "b"):
        store.register_supervisor(claimant, host=f"pc-{claimant}")
    (run_id,) = queue(store, 1)
    outcome = store.claim_counted("a", run_id, max_starts=1, rate_window=60.0, lease_seconds=5)
    record, count = outcome.record, outcome.first_starts
    assert record is not None and count == 1
    later = datetime.now(UTC) + timedelta(seconds=10)
    assert store.reap_expired_leases(later) == [run_id]  # "a" went silent: it resumes
    outcome = store.claim_counted("b", run_id, max_starts=1, rate_window=60.0)
    record, count = outcome.record, outcome.first_starts
    assert record is not None and record.claimed_by == "b" and count is None


def test_a_claim_not_made_says_whether_the_run_may_still_be_claimed(
    store_factory: StoreFactory,
) -> None:
    """Its claimant keeps a run waiting out a restart delay, and drops one claimed elsewhere."""
    clock = FakeClock(start=datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    store = store_factory(clock=clock)
    for claimant in ("a", "b"):
        store.register_supervisor(claimant, host=f"pc-{claimant}")
    waiting, taken = queue(store, 2)
    assert [run.id for run in store.claim_queued("a", run_ids=[waiting], lease_seconds=30)]
    store.set_run_status(waiting, RunStatus.INTERRUPTED, owner="a")
    resume_at = clock.now() + timedelta(seconds=5)
    store.set_run_status(waiting, RunStatus.QUEUED, owner="a", not_before=resume_at)
    assert [run.id for run in store.claim_queued("a", run_ids=[taken], lease_seconds=30)]

    outcome = store.claim_counted("b", waiting, max_starts=10, rate_window=60.0)
    assert outcome.record is None
    assert (outcome.miss.queued, outcome.miss.not_before) == (True, resume_at)
    outcome = store.claim_counted("b", taken, max_starts=10, rate_window=60.0)
    assert outcome.record is None and not outcome.miss.queued
    # A lone supervisor's claim (``claim_queued``) asks the same afterwards.
    assert store.claim_miss(waiting).queued and not store.claim_miss(taken).queued
    assert not store.claim_miss(uuid.uuid4().hex).queued


def test_a_run_another_claim_is_taking_reads_as_taken_not_as_queued(
    store_factory: StoreFactory,
) -> None:
    """PostgreSQL: the other claim holds the row, uncommitted; the loser must not wait for it."""
    store = store_factory()
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite admits one claim at a time (BEGIN IMMEDIATE): none is in flight")
    store.register_supervisor("b", host="pc-b")
    (run_id,) = queue(store, 1)
    with store.engine.connect() as other:  # another supervisor's claim, not committed yet
        other.exec_driver_sql("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run_id,))
        outcome = store.claim_counted("b", run_id, max_starts=10, rate_window=60.0)
        other.rollback()
    assert outcome.record is None and not outcome.miss.queued


def test_the_live_supervisors_are_those_heard_from_lately_and_not_stopped(
    store_factory: StoreFactory,
) -> None:
    """Who shares the next queued runs (``supervisor.fleet_share``), by the heartbeats' clock."""
    clock = FakeClock(start=datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    store = store_factory(clock=clock)  # its heartbeats are judged by this clock too
    for claimant in ("c", "a", "b", "stopped"):
        store.register_supervisor(claimant, host=f"pc-{claimant}")
    store.supervisor_stopped("stopped")
    clock.advance(20)
    store.supervisor_heartbeat("a", lease_seconds=10)
    store.supervisor_heartbeat("c", lease_seconds=10)
    assert store.live_supervisors(within=10) == ["a", "c"]  # "b" went silent 20 s ago
    assert store.live_supervisors(within=30) == ["a", "b", "c"]
