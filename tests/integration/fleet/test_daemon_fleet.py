"""Three real supervisors on one PostgreSQL: each run and slot once, a freeze, a kill, a cancel.

``deskpilot supervisor start --foreground`` three times, each with its own
home and ``DESKPILOT_HOST``, real workers.  Runs are queued in the shared
store (as any machine's API would), and whichever supervisor claims one runs
it.  ``DESKPILOT_FLEET_DAEMON_RUNS`` sets how many the each-run-once test
queues (120 by default; the done-means figure is 600).  A schedule every
supervisor loads ticks through the whole module; the last test checks that
it fired once per slot.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from automation.engine.events import RunStatus
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import QUICK, SLOW, FleetDaemons, pid_alive
from tests.helpers.postgres import PostgresServer
from tests.helpers.storage import store_on

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("supervisor.fleetlink") is None,
    reason="the supervisor does not dispatch from the shared store yet (supervisor.fleetlink)",
)

RUNS = int(os.environ.get("DESKPILOT_FLEET_DAEMON_RUNS", "120"))
TAKEOVER_LIMIT = 15.0
HOSTS = ("pc-a", "pc-b", "pc-c")

#: The ticker: a schedule every supervisor loads (``INTERVAL`` s apart; ``SLOTS`` awaited).
TICKER = """\
deskpilot: 1
name: ticker
nodes:
  only:
    block: control.pass
triggers:
  - {type: schedule, interval: 3s}
"""
SLOTS = 4
INTERVAL = 3

MEDIUM = """\
deskpilot: 1
name: medium
nodes:
  wait:
    block: control.delay
    with: {seconds: 4}
"""


@pytest.fixture(scope="module")
def fleet_url(postgres_server: PostgresServer) -> str:
    """One fresh database for the module: the three supervisors migrate it as they start."""
    return postgres_server.new_database()


@pytest.fixture(scope="module")
def fleet(fleet_url: str) -> Iterator[FleetDaemons]:
    """Three supervisors for the whole module; the tests run in order, the kill near the end.

    Each loads the ticker schedule: it fires all through the module, the
    freeze and the kill included, and must fire once per slot throughout.
    """
    daemons = FleetDaemons(fleet_url)
    try:
        for host in HOSTS:
            daemons.prepare(host, workflows={"ticker": TICKER})
        daemons.start_all()
        yield daemons
    finally:
        daemons.close()


store = store_on("fleet_url")


def queue(store: HistoryStore, name: str, text: str, count: int) -> list[str]:
    version = store.save_workflow_version(name, None, text)
    ids = [uuid.uuid4().hex for _ in range(count)]
    store.create_runs([QueuedRow(run_id, name, version) for run_id in ids])
    return ids


def schedule_labels(store: HistoryStore) -> Counter[str]:
    """How many runs each schedule slot of the ticker started (its run label names the slot)."""
    return Counter(
        run.trigger
        for run in store.list_runs(workflow="ticker", limit=None)
        if run.trigger.startswith("schedule:")
    )


def assert_once_per_slot(fired: Counter[str]) -> None:
    assert max(fired.values()) == 1, [label for label, count in fired.items() if count > 1]
    slots = sorted(datetime.fromisoformat(label.rpartition("@")[2]) for label in fired)
    # One phase: every slot a whole number of intervals after the first (one anchor).
    assert {(slot - slots[0]).total_seconds() % INTERVAL for slot in slots} == {0.0}


# Its own deadline below is what counts: the module's three supervisors start in this
# test's setup, and 600 runs take minutes on a loaded machine.
@pytest.mark.timeout(420)
def test_each_run_is_executed_once_by_three_supervisors(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    ids = queue(store, "quick", QUICK, RUNS)

    waited_for(
        lambda: store.count_runs(workflow="quick", status=RunStatus.SUCCEEDED) == RUNS,
        300,
        f"{RUNS} runs succeeded",
        every=0.5,
    )

    for run_id in ids:
        attempts = [(step.step, step.attempt) for step in store.steps(run_id)]
        assert attempts == [(1, 1)], f"run {run_id} ran its step as {attempts}"


def test_more_runs_than_one_machine_has_workers_for_are_shared(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    ids = queue(store, "medium", MEDIUM, 6)  # 2 workers each: one machine cannot hold them all

    waited_for(
        lambda: store.count_runs(workflow="medium", status=RunStatus.SUCCEEDED) == 6,
        120,
        "6 runs succeeded",
        every=0.5,
    )

    hosts = Counter(fleet.host_of(store.get_run(run_id).claimed_by) for run_id in ids)  # type: ignore[union-attr]
    assert None not in hosts and len(hosts) >= 2, hosts


def test_a_run_claimed_by_a_live_supervisor_that_never_started_is_released_and_runs_once(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    """A hand-over lost between the claim and the worker: the run is queued again, not stuck.

    The run is claimed in the store for a live supervisor exactly as its
    dispatch claims one, but nothing in that supervisor holds it (as after a
    fence stopped its worker, or a dispatch that lost it).  Its heartbeats go
    on renewing the lease, so no other supervisor would ever take it back:
    past its hand-over deadline the supervisor itself releases it, with a
    note in the run's log.
    """
    owner = HOSTS[0]
    owner_id = fleet.supervisor_id(owner)
    # A workflow of its own: the fleet-wide run-rate ceiling may hold "quick" after 600 runs.
    version = store.save_workflow_version("handover", None, QUICK.replace("quick", "handover"))
    run_id = ""
    for _ in range(10):  # a supervisor may claim it first, on NOTIFY: then try another
        candidate = uuid.uuid4().hex
        store.create_runs([QueuedRow(candidate, "handover", version, target_host=owner)])
        if store.claim_queued(owner_id, host=owner, lease_seconds=8.0, run_ids=(candidate,)):
            run_id = candidate
            break
    assert run_id, "every run was claimed by its supervisor before the test could claim one"
    lost_at = time.monotonic()

    waited_for(
        lambda: (run := store.get_run(run_id)) is not None and run.status is RunStatus.SUCCEEDED,
        60,
        f"the run {owner} claimed without a worker succeeded",
    )
    took = time.monotonic() - lost_at
    assert [(step.step, step.attempt) for step in store.steps(run_id)] == [(1, 1)]
    notes = [
        event.message or ""
        for event in store.events(run_id)
        if (event.data or {}).get("reason") == "handover_lost"
    ]
    assert len(notes) == 1 and "no worker of its reported it started" in notes[0], notes
    assert took < 45, f"released after {took:.1f} s"
    assert fleet.processes[owner].poll() is None


def test_a_cancel_through_another_machines_api_stops_the_run(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    (run_id,) = queue(store, "slow", SLOW, 1)
    waited_for(
        lambda: (run := store.get_run(run_id)) is not None and run.status is RunStatus.RUNNING,
        60,
        "the run is running",
    )
    owner = fleet.host_of(store.get_run(run_id).claimed_by)  # type: ignore[union-attr]
    other = next(host for host in HOSTS if host != owner)

    client = SupervisorClient(DeskpilotPaths.under(fleet.homes[other]))
    try:
        client.cancel(run_id)
    finally:
        client.close()

    waited_for(
        lambda: (run := store.get_run(run_id)) is not None and run.status is RunStatus.CANCELLED,
        15,
        f"{owner} cancelled the run asked through {other}",
    )


def test_a_frozen_supervisor_stops_its_worker_writes_nothing_and_rejoins(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    (run_id,) = queue(store, "slow", SLOW, 1)
    # Its step must be in the history before the freeze: steps are recorded in
    # batches, and an attempt frozen before its first batch leaves no row to compare.
    waited_for(
        lambda: (
            (run := store.get_run(run_id)) is not None
            and run.status is RunStatus.RUNNING
            and bool(store.steps(run_id))
        ),
        60,
        "the run is running and its step recorded",
    )
    frozen = fleet.host_of(store.get_run(run_id).claimed_by)  # type: ignore[union-attr]
    assert frozen is not None
    worker_pid = fleet.worker_pid(frozen, run_id)
    fleet.signal(frozen, signal.SIGSTOP)  # the supervisor only: its worker runs on
    try:

        def elsewhere() -> bool:
            run = store.get_run(run_id)
            return (
                run is not None
                and run.status is RunStatus.RUNNING
                and fleet.host_of(run.claimed_by) not in (None, frozen)
            )

        waited_for(elsewhere, TAKEOVER_LIMIT + 5, f"the run of frozen {frozen} taken over")
        before = store.get_run(run_id)
        first_attempt = store.steps(run_id)[0]
        assert pid_alive(worker_pid), "the frozen supervisor's worker ran on while it slept"
    finally:
        fleet.signal(frozen, signal.SIGCONT)
    woke = datetime.now(UTC)
    assert before is not None

    def nothing_written() -> None:
        run = store.get_run(run_id)
        assert run is not None
        assert (run.status, run.claimed_by) == (RunStatus.RUNNING, before.claimed_by)
        assert store.steps(run_id)[0] == first_attempt  # its attempt stays as reaped

    # Awake again: it notices its lease lapsed and stops that worker (a real pid, gone)...
    def stopped() -> bool:
        nothing_written()
        return not pid_alive(worker_pid)

    waited_for(stopped, 15, f"{frozen} stopped worker {worker_pid} of the run it lost")

    # ...and rejoins: it renews its heartbeat and claims new work, as any member does.
    frozen_id = fleet.supervisor_id(frozen)

    def renewed() -> bool:
        nothing_written()
        mine = [member for member in store.list_supervisors() if member.id == frozen_id]
        return bool(mine) and mine[0].heartbeat_at > woke

    waited_for(renewed, 15, f"{frozen} renewed its heartbeat after it woke")
    # A workflow of its own: the fleet-wide run-rate ceiling may hold "quick" after 600 runs.
    version = store.save_workflow_version("rejoin", None, QUICK.replace("quick", "rejoin"))
    routed = uuid.uuid4().hex
    # Ahead of whatever is still queued: it proves the machine claims again, not how fast.
    store.create_runs([QueuedRow(routed, "rejoin", version, priority=100, target_host=frozen)])

    def ran_there() -> bool:
        nothing_written()
        run = store.get_run(routed)
        return run is not None and run.status is RunStatus.SUCCEEDED

    waited_for(ran_there, 30, f"a run routed to {frozen} ran there after it woke")
    assert store.get_run(routed).claimed_by == frozen_id  # type: ignore[union-attr]
    assert fleet.processes[frozen].poll() is None


def test_a_killed_supervisors_runs_are_taken_over_within_15_seconds(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    ids = queue(store, "slow", SLOW, 2)

    def claimed() -> bool:
        runs = [store.get_run(run_id) for run_id in ids]
        return all(run is not None and run.status is RunStatus.RUNNING for run in runs)

    waited_for(claimed, 60, "both slow runs running")
    owner = fleet.host_of(store.get_run(ids[0]).claimed_by)  # type: ignore[union-attr]
    assert owner is not None
    held = [run_id for run_id in ids if fleet.host_of(store.get_run(run_id).claimed_by) == owner]  # type: ignore[union-attr]
    killed = time.monotonic()
    fleet.signal(owner, signal.SIGKILL)

    def taken_over() -> bool:
        for run_id in held:
            run = store.get_run(run_id)
            if run is None or run.status is not RunStatus.RUNNING:
                return False
            if fleet.host_of(run.claimed_by) in (None, owner):
                return False
        return True

    waited_for(taken_over, TAKEOVER_LIMIT + 5, f"{owner}'s runs taken over")
    took = time.monotonic() - killed
    assert took <= TAKEOVER_LIMIT, f"taken over after {took:.1f} s"


def test_a_schedule_loaded_by_three_supervisors_fired_once_per_slot_throughout(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    # They started together on a fresh database: none found the others' trigger state
    # when it loaded its own, so each anchored the interval at its own start.  They must
    # agree on one anchor (the first saver's, ``TriggerStateStore.stored_anchor``) and
    # take each slot's fire key once (``supervisor.store.fires``): while the others ran
    # hundreds of runs, while one was frozen (and woke with slots to catch up on), and
    # when one was killed with its fires in flight.
    waited_for(lambda: len(schedule_labels(store)) >= SLOTS, 90, f"{SLOTS} slots fired")

    assert_once_per_slot(schedule_labels(store))
