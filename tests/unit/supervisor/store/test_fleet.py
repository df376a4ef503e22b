"""Many supervisors on one store: registration, routing, leases, reaping, cancels, fire keys.

Every test runs on SQLite and on the suite's PostgreSQL (``store_factory``);
time is a ``FakeClock``, so leases expire without waiting.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from automation.clock import FakeClock
from automation.engine.events import RunStatus
from supervisor.errors import RunStatusChanged
from supervisor.machine import HOST_VARIABLE, machine_host, supervisor_id
from supervisor.store import HistoryStore
from supervisor.store.fires import FireKey, schedule_fire
from supervisor.store.store import QueuedRow
from supervisor.triggers.specs import gap_label, schedule_label
from supervisor.triggers.state import NotRun, TriggerState, TriggerStateStore
from tests.helpers.storage import RunEvents, StoreFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture
def fleet(store_factory: StoreFactory, clock: FakeClock) -> HistoryStore:
    return store_factory(clock=clock)


def queue(
    store: HistoryStore,
    count: int = 1,
    *,
    host: str | None = None,
    desktop: bool = False,
    priority: int = 0,
) -> list[str]:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(count)]
    store.create_runs(
        [
            QueuedRow(
                run_id,
                "invoices",
                version,
                priority=priority,
                target_host=host,
                needs_desktop=desktop,
            )
            for run_id in ids
        ]
    )
    return ids


def test_supervisors_register_heartbeat_and_are_listed(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    fleet.register_supervisor(
        "a" * 32, host="pc-1", pid=11, api_url="unix:/tmp/a", version="1.2", resources={"w": 2}
    )
    fleet.register_supervisor("b" * 32, host="pc-2", pid=12)
    clock.advance(5)
    fleet.supervisor_heartbeat("a" * 32, lease_seconds=10)
    fleet.supervisor_stopped("b" * 32)

    first, second = fleet.list_supervisors()

    assert (first.id, first.host, first.pid, first.api_url, first.version) == (
        "a" * 32,
        "pc-1",
        11,
        "unix:/tmp/a",
        "1.2",
    )
    assert first.resources == {"w": 2}
    assert first.heartbeat_at == START + timedelta(seconds=5)
    assert first.started_at == START
    assert first.alive(clock.now(), 10)
    assert not first.alive(clock.now() + timedelta(seconds=11), 10)
    assert second.stopped_at == START + timedelta(seconds=5)
    assert not second.alive(clock.now(), 10)
    # A restart registers the same id again: running, not stopped.
    again = fleet.register_supervisor("b" * 32, host="pc-2", pid=13)
    assert again.pid == 13 and again.stopped_at is None


def test_claims_leave_runs_routed_to_other_machines(fleet: HistoryStore) -> None:
    (anywhere,) = queue(fleet)
    (on_one,) = queue(fleet, host="pc-1")
    (on_two,) = queue(fleet, host="pc-2")

    got_two = fleet.claim_queued("sup-2", limit=5, host="pc-2")
    got_one = fleet.claim_queued("sup-1", limit=5, host="pc-1")

    assert {run.id for run in got_two} == {anywhere, on_two}
    assert [run.id for run in got_one] == [on_one]
    assert got_one[0].target_host == "pc-1" and got_one[0].claimed_by == "sup-1"


def test_a_machine_runs_one_desktop_run_at_a_time(fleet: HistoryStore) -> None:
    fleet.register_supervisor("s1" + "0" * 30, host="pc-1")
    fleet.register_supervisor("s2" + "0" * 30, host="pc-1")
    first, second = queue(fleet, 2, host="pc-1", desktop=True)
    background = queue(fleet, 2)

    got = fleet.claim_queued("s1" + "0" * 30, limit=5, host="pc-1")
    # A second supervisor on the same machine: the desktop is taken.
    other = fleet.claim_queued("s2" + "0" * 30, limit=5, host="pc-1")

    assert {run.id for run in got} == {first, *background}
    assert [run.id for run in got if run.needs_desktop] == [first]
    assert other == []
    assert fleet.claim_queued("s2" + "0" * 30, host="pc-1", desktop=False) == []

    fleet.set_run_status(first, RunStatus.SUCCEEDED, owner="s1" + "0" * 30)
    assert [run.id for run in fleet.claim_queued("s2" + "0" * 30, host="pc-1")] == [second]


def test_a_heartbeat_renews_the_leases_of_its_runs_only(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    mine, theirs = queue(fleet, 2)
    fleet.claim_queued("sup-a", lease_seconds=10)
    fleet.claim_queued("sup-b", lease_seconds=10)
    clock.advance(8)

    renewal = fleet.supervisor_heartbeat("sup-a", lease_seconds=10, holding=[mine])
    clock.advance(8)  # sup-b's lease is 6 s past; sup-a's has 2 s left

    assert renewal.renewed == (mine,) and renewal.lost == ()
    assert renewal.expires_at == START + timedelta(seconds=18)
    assert fleet.reap_expired_leases() == [theirs]
    assert fleet.get_run(mine).status is RunStatus.RUNNING  # type: ignore[union-attr]


def test_expired_leases_are_reaped_and_the_run_resumes_elsewhere(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    events = RunEvents()
    (run_id,) = queue(fleet)
    events.run_id = run_id
    fleet.claim_queued("sup-a", lease_seconds=10)
    fleet.record([events.run_started(), *events.step(1), events.node_started(2)])
    clock.advance(10.5)

    assert fleet.reap_expired_leases() == [run_id]
    assert fleet.reap_expired_leases() == []

    run = fleet.get_run(run_id)
    assert run is not None
    assert (run.status, run.claimed_by, run.lease_expires_at, run.resumes) == (
        RunStatus.QUEUED,
        None,
        None,
        1,
    )
    steps = fleet.steps(run_id)
    assert [step.status.value for step in steps] == ["succeeded", "failed"]
    assert steps[1].failure == "interrupted"
    assert "lease of sup-a" in (fleet.events(run_id)[-1].message or "")
    assert fleet.events(run_id)[-1].seq == fleet.last_seq(run_id)
    assert [run.id for run in fleet.claim_queued("sup-b", lease_seconds=10)] == [run_id]
    assert set(fleet.checkpoint(run_id)) == {1}  # what the new owner's resume replays


def test_a_supervisor_that_lost_its_lease_can_write_nothing(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    (run_id,) = queue(fleet)
    fleet.claim_queued("sup-a", lease_seconds=10)
    clock.advance(11)

    # Expired but not yet reaped: the fence already holds.
    with pytest.raises(RunStatusChanged, match="lease of sup-a expired"):
        fleet.set_run_status(run_id, RunStatus.SUCCEEDED, owner="sup-a")
    renewal = fleet.supervisor_heartbeat("sup-a", lease_seconds=10, holding=[run_id])
    assert renewal.renewed == () and renewal.lost == (run_id,)

    fleet.reap_expired_leases()
    fleet.claim_queued("sup-b", lease_seconds=10)
    with pytest.raises(RunStatusChanged, match="claimed by sup-b"):
        fleet.set_run_status(run_id, RunStatus.FAILED, owner="sup-a")
    assert fleet.set_run_status(run_id, RunStatus.SUCCEEDED, owner="sup-b").status is (
        RunStatus.SUCCEEDED
    )
    assert fleet.get_run(run_id).lease_expires_at is None  # type: ignore[union-attr]


def test_cancel_requests_reach_the_owner_with_its_heartbeat(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    queued, running = queue(fleet, 2, priority=0)
    fleet.claim_queued("sup-a", lease_seconds=10)  # takes the older: ``queued`` is first
    claimed, waiting = queued, running

    assert fleet.request_cancel(waiting).status is RunStatus.CANCELLED
    requested = fleet.request_cancel(claimed)

    assert requested.status is RunStatus.RUNNING
    assert requested.cancel_requested_at == START
    renewal = fleet.supervisor_heartbeat("sup-a", lease_seconds=10, holding=[claimed])
    assert renewal.cancel_requested == (claimed,)
    assert fleet.claim_queued("sup-b") == []  # the cancelled run is not queued


def test_a_cancel_requested_for_a_lost_run_cancels_it_when_reaped(
    fleet: HistoryStore, clock: FakeClock
) -> None:
    (run_id,) = queue(fleet)
    fleet.claim_queued("sup-a", lease_seconds=10)
    fleet.request_cancel(run_id)
    clock.advance(11)

    assert fleet.reap_expired_leases() == [run_id]

    run = fleet.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    assert fleet.claim_queued("sup-b") == []


def test_cancelling_a_finished_or_unknown_run(fleet: HistoryStore) -> None:
    (run_id,) = queue(fleet)
    fleet.claim_queued("sup-a")
    fleet.set_run_status(run_id, RunStatus.SUCCEEDED, owner="sup-a")

    assert fleet.request_cancel(run_id).status is RunStatus.SUCCEEDED
    with pytest.raises(LookupError):
        fleet.request_cancel("0" * 32)


def test_a_schedule_slot_is_fired_by_one_supervisor(fleet: HistoryStore) -> None:
    slot = START + timedelta(minutes=5)
    wins: list[bool] = []

    def fire(name: str) -> None:
        wins.append(fleet.claim_fire("invoices", "every-5m", slot, fired_by=name))

    threads = [threading.Thread(target=fire, args=(f"sup-{index}",)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(wins) == [False] * 5 + [True]
    assert (fleet.fire_owner("invoices", "every-5m", slot) or "").startswith("sup-")
    assert fleet.claim_fire("invoices", "every-5m", slot + timedelta(minutes=5), fired_by="x")
    assert fleet.fire_owner("invoices", "every-5m", slot + timedelta(minutes=10)) is None


def test_the_supervisor_id_is_kept_per_home(tmp_path: Path) -> None:
    first = supervisor_id(tmp_path / "data")
    assert supervisor_id(tmp_path / "data") == first
    assert supervisor_id(tmp_path / "other") != first
    (tmp_path / "data" / "supervisor-id").write_text("garbage")
    assert supervisor_id(tmp_path / "data") not in (first, "garbage")


def test_the_host_comes_from_the_environment_when_set() -> None:
    assert machine_host({HOST_VARIABLE: "robot-3"}) == "robot-3"
    assert machine_host({}) == machine_host({HOST_VARIABLE: "  "})


def test_the_fire_key_is_read_from_the_schedule_labels() -> None:
    slot = START + timedelta(minutes=5)
    end = slot + timedelta(hours=1)

    assert schedule_fire("w", schedule_label("w:0", slot)) == FireKey(
        workflow="w", trigger_key="w:0", slot=slot
    )
    assert schedule_fire("w", gap_label("w:0", slot, end)) == FireKey(
        workflow="w", trigger_key="w:0", slot=slot
    )
    assert schedule_fire("w", "manual") is None
    assert schedule_fire("w", "webhook:w:0") is None
    assert schedule_fire("w", schedule_label("x" * 300, slot)) is None  # cut: no time to read


def test_each_schedule_slot_becomes_one_run_across_supervisors(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    first, second = store_factory(clock=clock), store_factory(clock=clock)
    first.register_supervisor("a" * 32, host="pc-1")
    second.register_supervisor("b" * 32, host="pc-2")
    version = first.save_workflow_version("invoices", None, "nodes: []\n")
    slots = [START + timedelta(minutes=minute) for minute in (5, 10)]

    def fire(store: HistoryStore, slot_list: list[datetime]) -> tuple[list[str], list[str]]:
        rows = [
            QueuedRow(uuid.uuid4().hex, "invoices", version, trigger=schedule_label("w:0", slot))
            for slot in slot_list
        ]
        rows.append(QueuedRow(uuid.uuid4().hex, "invoices", version))  # manual: never a fire
        return [row.run_id for row in rows], store.create_runs(rows)

    ids_a, lost_a = fire(first, slots[:1])
    ids_b, lost_b = fire(second, slots)

    assert lost_a == []
    assert lost_b == [ids_b[0]]  # the 09:05 slot was first's
    assert first.get_run(ids_b[0]) is None
    assert {run.id for run in first.list_runs(limit=None)} == {*ids_a, *ids_b[1:]}
    assert first.fire_owner("invoices", "w:0", slots[0]) == "a" * 32
    assert first.fire_owner("invoices", "w:0", slots[1]) == "b" * 32


def test_a_missed_fire_is_recorded_once_across_supervisors(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    first, second = store_factory(clock=clock), store_factory(clock=clock)
    slot = START + timedelta(minutes=5)
    label = schedule_label("w:0", slot)
    missed = [NotRun(workflow="invoices", trigger=label, error="missed: down", at=slot)]

    recorded = TriggerStateStore(first, clock.now).record_not_run(missed)
    again = TriggerStateStore(second, clock.now).record_not_run(missed)

    assert len(recorded) == 1 and again == []
    assert first.count_runs(status=RunStatus.CANCELLED) == 1


def test_supervisors_of_one_machine_claiming_at_once_take_one_desktop_run(
    store_factory: StoreFactory,
) -> None:
    stores = [store_factory() for _ in range(4)]
    queue(stores[0], 12, host="pc-1", desktop=True)
    queue(stores[0], 12)
    start = threading.Barrier(len(stores))
    got: list[list[str]] = [[] for _ in stores]

    def claim(index: int) -> None:
        start.wait(timeout=60)
        for _ in range(6):
            runs = stores[index].claim_queued(f"sup-{index}", limit=3, host="pc-1")
            got[index] += [run.id for run in runs if run.needs_desktop]

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sum(len(ids) for ids in got) == 1
    assert stores[0].count_runs(status=RunStatus.RUNNING) == 13


def test_supervisors_saving_one_schedule_agree_on_the_first_anchor(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    first, second = store_factory(clock=clock), store_factory(clock=clock)
    states = [TriggerStateStore(store, clock.now) for store in (first, second)]

    def state(anchor: datetime, spec_hash: str = "every-3s") -> TriggerState:
        return TriggerState(
            workflow="ticker", key="ticker:0", spec={}, spec_hash=spec_hash, anchor=anchor
        )

    states[0].save(state(START))
    states[1].save(state(START + timedelta(seconds=1)))  # started a second later

    assert states[1].stored_anchor("ticker", "ticker:0", "every-3s") == START
    # New timing: the schedule starts afresh, with the anchor of whoever saves it first.
    states[1].save(state(START + timedelta(seconds=7), "every-5s"))
    states[0].save(state(START + timedelta(seconds=8), "every-5s"))
    assert states[0].stored_anchor("ticker", "ticker:0", "every-5s") == START + timedelta(seconds=7)
    assert states[0].stored_anchor("ticker", "ticker:0", "every-3s") is None


def test_a_claim_can_be_limited_to_the_runs_a_dispatch_chose(fleet: HistoryStore) -> None:
    first, second, third = queue(fleet, 3)

    got = fleet.claim_queued("sup-a", limit=5, run_ids=[third, first])

    assert {run.id for run in got} == {first, third}
    assert fleet.claim_queued("sup-a", limit=5, run_ids=[first]) == []  # already claimed
    assert [run.id for run in fleet.claim_queued("sup-b", limit=5)] == [second]


def test_a_supervisor_that_lost_a_run_records_none_of_its_events(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    first, second = store_factory(clock=clock), store_factory(clock=clock)
    if first.engine.dialect.name == "sqlite":
        pytest.skip("events are fenced on a shared server; a SQLite file has one supervisor")
    first.register_supervisor("a" * 32, host="pc-1")
    second.register_supervisor("b" * 32, host="pc-2")
    (run_id,) = queue(first)
    events = RunEvents(run_id=run_id)
    first.claim_queued("a" * 32, lease_seconds=10)
    first.record([events.run_started(), *events.step(1)])
    clock.advance(11)  # frozen past its lease: its worker's next events are not its to write

    first.record([events.log("late", step=2), *events.step(2)])
    assert [step.step for step in first.steps(run_id)] == [1]

    second.reap_expired_leases()
    second.claim_queued("b" * 32, lease_seconds=10)
    first.record([*events.step(3)])  # taken over: still refused
    second.record([*events.step(4)])  # the new owner's are written

    assert [step.step for step in first.steps(run_id)] == [1, 4]
    messages = [event.message or "" for event in first.events(run_id)]
    assert "late" not in messages
    assert len(messages) == 1 and "lease of" in messages[0]  # only the reaper's note


def test_a_late_start_of_a_run_taken_back_does_not_make_it_running_again(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    """Reaped and queued for anyone, a run must stay queued whatever its old owner's worker says.

    Its ``run_started`` would make it ``running`` with no claim and no lease:
    no supervisor would ever claim it or take it back again.
    """
    first, second = store_factory(clock=clock), store_factory(clock=clock)
    if first.engine.dialect.name == "sqlite":
        pytest.skip("events are fenced on a shared server; a SQLite file has one supervisor")
    first.register_supervisor("a" * 32, host="pc-1")
    (run_id,) = queue(first)
    events = RunEvents(run_id=run_id)
    first.claim_queued("a" * 32, lease_seconds=10)
    clock.advance(11)
    assert second.reap_expired_leases() == [run_id]

    first.record([events.run_started(), *events.step(1), events.log("a note", step=None)])

    run = first.get_run(run_id)
    assert run is not None and (run.status, run.claimed_by) == (RunStatus.QUEUED, None)
    assert first.steps(run_id) == []
    assert "a note" in [event.message for event in first.events(run_id)]
    assert [run.id for run in second.claim_queued("b" * 32, lease_seconds=10)] == [run_id]
