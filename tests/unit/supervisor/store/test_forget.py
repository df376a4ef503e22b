"""Forgetting a machine removed for good (``supervisor.store.forget``), on SQLite and PostgreSQL.

Supervisors here are ids registering, holding triggers and claiming runs,
as their daemons do; time is a ``FakeClock`` (leases judged by it too).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from automation.clock import FakeClock
from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.forget import MachineNotFound, MachineStillAlive
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from tests.helpers.storage import StoreFactory
from tests.unit.supervisor.store.test_trigger_holders import KEY, row

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GONE, LIVE = "g" * 32, "l" * 32


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture
def fleet(store_factory: StoreFactory, clock: FakeClock) -> HistoryStore:
    return store_factory(clock=clock)


def queued(store: HistoryStore, host: str | None = None) -> str:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "invoices", version, target_host=host)])
    return run_id


def test_a_silent_machine_is_forgotten_with_its_holds_and_runs(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    rows = TriggerRows(fleet)
    fleet.register_supervisor(GONE, host="old-pc")
    fleet.register_supervisor(LIVE, host="pc-1")
    rows.save_many([row()], holder=GONE)  # only the old machine loads "second"
    rows.save_many([row(workflow_name="shared")], holder=GONE)
    rows.save_many([row(workflow_name="shared")], holder=LIVE)
    held = queued(fleet)
    routed = queued(fleet, host="old-pc")
    (claimed,) = fleet.claim_queued(GONE, lease_seconds=10, run_ids=[held])
    assert claimed.id == held
    clock.advance(30)
    fleet.supervisor_heartbeat(LIVE, lease_seconds=10)

    with pytest.raises(MachineStillAlive, match="heard from 30 s ago"):
        fleet.forget_supervisor(GONE, silent_for=60)
    assert {r.id for r in fleet.list_supervisors()} == {GONE, LIVE}  # refused: nothing removed

    clock.advance(31)
    done = fleet.forget_supervisor(GONE, silent_for=60)

    assert done.supervisor.id == GONE and done.silent_seconds == 61
    assert done.holds_released == (("second", KEY), ("shared", KEY))
    assert done.triggers_retired == (("second", KEY),)  # "shared" is still loaded by pc-1
    assert done.runs_taken_back == (held,)
    assert done.queued_for_host == 1  # the run routed to old-pc waits for a new one
    assert [r.id for r in fleet.list_supervisors()] == [LIVE]
    assert rows.holders("second", KEY) == set() and rows.holders("shared", KEY) == {LIVE}
    retired = {r.workflow_name: r for r in rows.load_all()}
    assert retired["second"].chains_from is None and retired["second"].state["removed_at"]
    assert retired["shared"].chains_from == "first"
    back = fleet.get_run(held)
    assert back is not None and (back.status, back.claimed_by) == (RunStatus.QUEUED, None)
    assert back.resumes == 1
    (note,) = [e for e in fleet.events(held) if e.kind == "log"]
    assert note.message is not None and "was forgotten" in note.message
    waiting = fleet.get_run(routed)
    assert waiting is not None and waiting.status is RunStatus.QUEUED


def test_a_cleanly_stopped_machine_needs_no_force_and_a_live_one_may_be_forced(
    fleet: HistoryStore,
) -> None:
    fleet.register_supervisor(GONE, host="old-pc")
    fleet.register_supervisor(LIVE, host="pc-1")
    fleet.supervisor_stopped(GONE)
    assert fleet.forget_supervisor(GONE, silent_for=60).silent_seconds == 0
    done = fleet.forget_supervisor(LIVE, silent_for=None)  # forced
    assert done.supervisor.host == "pc-1" and fleet.list_supervisors() == []
    with pytest.raises(MachineNotFound, match="no supervisor with id"):
        fleet.forget_supervisor(LIVE, silent_for=None)


# -- a forgotten supervisor claims nothing --------------------------------------------------


def test_a_forgotten_supervisor_claims_nothing_once_the_forget_committed(
    fleet: HistoryStore,
) -> None:
    """The claims a supervisor of a fleet makes are fenced on its row: gone, it takes nothing.

    Before, a supervisor forgotten while it ran went on claiming until its
    next renewal told it, and each run it took then waited out its lease.
    """
    fleet.register_supervisor(GONE, host="old-pc")
    first, second = queued(fleet), queued(fleet)
    fleet.forget_supervisor(GONE, silent_for=None)

    outcome = fleet.claim_counted(
        GONE, first, max_starts=100, rate_window=60.0, host="old-pc", lease_seconds=10
    )
    record, count = outcome.record, outcome.first_starts
    assert (record, count) == (None, None)
    assert fleet.claim_queued(GONE, limit=5, host="old-pc", lease_seconds=10, fenced=True) == []
    for run_id in (first, second):
        run = fleet.get_run(run_id)
        assert run is not None and (run.status, run.claimed_by) == (RunStatus.QUEUED, None)

    # Registered again (started anew, it joins as a new machine), it claims again.
    fleet.register_supervisor(GONE, host="old-pc")
    outcome = fleet.claim_counted(
        GONE, first, max_starts=100, rate_window=60.0, host="old-pc", lease_seconds=10
    )
    record = outcome.record
    assert record is not None and record.claimed_by == GONE


def test_a_supervisor_marked_stopped_claims_nothing(fleet: HistoryStore) -> None:
    fleet.register_supervisor(LIVE, host="pc-1")
    run_id = queued(fleet)
    fleet.supervisor_stopped(LIVE)
    assert fleet.claim_queued(LIVE, lease_seconds=10, fenced=True) == []
    fleet.supervisor_heartbeat(LIVE, lease_seconds=10)  # renewing again: live
    (claimed,) = fleet.claim_queued(LIVE, lease_seconds=10, fenced=True)
    assert claimed.id == run_id
    # A lone supervisor never registers: its claims are not fenced.
    lone = queued(fleet)
    (alone,) = fleet.claim_queued("lone", run_ids=[lone])
    assert alone.id == lone


def test_claims_racing_a_forget_leave_it_no_run(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    """One store claims run after run for a supervisor while another forgets it.

    Whatever the interleaving, once the forget returns no run is the
    forgotten supervisor's: a claim that committed first was taken back by
    the forget, and none after it took anything.
    """
    claimer, forgetter = store_factory(clock=clock), store_factory(clock=clock)
    claimer.register_supervisor(GONE, host="old-pc")
    ids = [queued(claimer) for _ in range(60)]
    claimed: list[str] = []
    after: list[str] = []
    forgotten = threading.Event()

    def claim_all() -> None:
        for run_id in ids:
            done = forgotten.is_set()
            outcome = claimer.claim_counted(
                GONE, run_id, max_starts=1000, rate_window=60.0, lease_seconds=10
            )
            record = outcome.record
            if record is not None:
                (after if done else claimed).append(run_id)

    thread = threading.Thread(target=claim_all)
    thread.start()
    deadline = time.monotonic() + 30
    while len(claimed) < 5:
        assert time.monotonic() < deadline and thread.is_alive(), "no claim made"
        time.sleep(0.001)
    taken = forgetter.forget_supervisor(GONE, silent_for=None)
    forgotten.set()
    thread.join(60)
    assert not thread.is_alive()
    assert after == []
    assert set(taken.runs_taken_back) == set(claimed)
    held = [run_id for run_id in ids if forgetter.claimant_of(run_id) == GONE]
    assert held == []
