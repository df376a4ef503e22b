"""Forgetting a machine removed for good (``supervisor.store.forget``), on SQLite and PostgreSQL.

Supervisors here are ids registering, holding triggers and claiming runs,
as their daemons do; time is a ``FakeClock`` (leases judged by it too).
"""

from __future__ import annotations

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
