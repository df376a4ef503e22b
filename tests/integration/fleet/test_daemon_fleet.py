"""Three real supervisors on one PostgreSQL: each run once, a kill taken over, a cancel from afar.

``deskpilot supervisor start --foreground`` three times, each with its own
home and ``DESKPILOT_HOST``, real workers.  Runs are queued in the shared
store (as any machine's API would), and whichever supervisor claims one runs
it.  ``DESKPILOT_FLEET_DAEMON_RUNS`` sets how many the first test queues
(120 by default; the done-means figure is 600).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from automation.engine.events import RunStatus
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import FleetDaemons
from tests.helpers.postgres import PostgresServer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("supervisor.fleetlink") is None,
    reason="the supervisor does not dispatch from the shared store yet (supervisor.fleetlink)",
)

RUNS = int(os.environ.get("DESKPILOT_FLEET_DAEMON_RUNS", "120"))
TAKEOVER_LIMIT = 15.0
HOSTS = ("pc-a", "pc-b", "pc-c")

QUICK = """\
deskpilot: 1
name: quick
nodes:
  only:
    block: control.pass
    with: {value: 1}
"""
MEDIUM = """\
deskpilot: 1
name: medium
nodes:
  wait:
    block: control.delay
    with: {seconds: 4}
"""
SLOW = """\
deskpilot: 1
name: slow
nodes:
  wait:
    block: control.delay
    with: {seconds: 60}
"""


@pytest.fixture(scope="module")
def fleet_url(postgres_server: PostgresServer) -> str:
    """One database for the module: starting three supervisors takes a while."""
    return postgres_server.new_database()


@pytest.fixture(scope="module")
def fleet(fleet_url: str) -> Iterator[FleetDaemons]:
    """Three supervisors for the whole module; the tests run in order, the kill last."""
    daemons = FleetDaemons(fleet_url)
    try:
        for host in HOSTS:
            daemons.prepare(host)
        daemons.start_all()
        yield daemons
    finally:
        daemons.close()


@pytest.fixture
def store(fleet_url: str) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(fleet_url)
    yield opened
    opened.close()


def queue(store: HistoryStore, name: str, text: str, count: int) -> list[str]:
    version = store.save_workflow_version(name, None, text)
    ids = [uuid.uuid4().hex for _ in range(count)]
    store.create_runs([QueuedRow(run_id, name, version) for run_id in ids])
    return ids


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


def test_a_frozen_supervisor_writes_nothing_when_it_wakes(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    (run_id,) = queue(store, "slow", SLOW, 1)
    # Its step must be in the history before the freeze: steps are recorded in
    # batches, and an attempt frozen before its first batch leaves no row to compare.
    waited_for(
        lambda: (run := store.get_run(run_id)) is not None
        and run.status is RunStatus.RUNNING
        and bool(store.steps(run_id)),
        60,
        "the run is running and its step recorded",
    )
    frozen = fleet.host_of(store.get_run(run_id).claimed_by)  # type: ignore[union-attr]
    assert frozen is not None
    fleet.signal(frozen, signal.SIGSTOP)
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
    finally:
        fleet.signal(frozen, signal.SIGCONT)

    # Awake again: it must notice its lease lapsed, stop its worker, and write nothing.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        run = store.get_run(run_id)
        assert run is not None and before is not None
        assert (run.status, run.claimed_by) == (RunStatus.RUNNING, before.claimed_by)
        assert store.steps(run_id)[0] == first_attempt  # its attempt stays as reaped
        time.sleep(0.5)
    assert fleet.processes[frozen].poll() is None  # and it is still serving


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
