"""Real supervisors on one PostgreSQL share breakers and chains, as one machine would.

``deskpilot supervisor start --foreground`` processes, each with its own
home and ``DESKPILOT_HOST``, on one database (``tests.helpers.fleet_daemons``).

A breaker opened by failures on any of them holds on all, and a reset
through one machine's API lets the others go.

A supervisor SIGKILLed between recording a run's end and submitting the
runs its ``after`` triggers start leaves exactly this in the history: the
run ended, and its row in the chain outbox (``supervisor.store.chain_fires``)
written in the same transaction, not done.  Nothing of the dead process
survives but the database, so the test writes that state itself, the way
the killed supervisor's recorder would have (a finished run of a chain
source, through ``HistoryStore.record``), and then starts two real
supervisors that both load the chained trigger.  They drain the outbox at
start and race for it: the chained workflow runs, once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from automation.engine.events import RunStatus
from supervisor.breaker import BreakerPolicy
from supervisor.breaker_sync import Change, changed
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from supervisor.store.chain_fires import chained_run_id
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import FleetDaemons
from tests.helpers.storage import RunEvents

FIRST = """\
deskpilot: 1
name: first
nodes:
  only: {block: control.pass}
"""
SECOND = """\
deskpilot: 1
name: second
nodes:
  only: {block: control.pass}
triggers:
  - {type: after, workflow: first}
"""
BROKEN = """\
deskpilot: 1
name: broken
nodes:
  boom: {block: control.fail, with: {message: on purpose}}
"""
#: The default breaker: open at 5 failures, for 300 s (longer than this test).
THRESHOLD = 5


@pytest.fixture
def fleet(postgres_migrated_url: str) -> Iterator[FleetDaemons]:
    daemons = FleetDaemons(postgres_migrated_url)
    try:
        yield daemons
    finally:
        daemons.close()


def test_a_chain_left_by_a_killed_supervisor_fires_once_on_the_others(
    postgres_migrated_url: str, fleet: FleetDaemons
) -> None:
    store = HistoryStore.open(postgres_migrated_url)
    try:
        # What the supervisor killed at the critical point left: the end and its outbox row.
        store.chain_sources = frozenset({"first"})
        upstream = RunEvents(workflow="first")
        store.record(upstream.whole_run(1))
        assert store.outstanding_chain_fires() == [upstream.run_id]

        for host in ("pc-a", "pc-b"):
            fleet.prepare(host, {"first": FIRST, "second": SECOND})
        fleet.start_all()

        def chained() -> list[str]:
            return [
                run.id
                for run in store.list_runs(workflow="second", limit=None)
                if run.status is RunStatus.SUCCEEDED
            ]

        waited_for(lambda: bool(chained()), 60, "the chained run ran")
        waited_for(lambda: not store.outstanding_chain_fires(), 30, "the outbox row is done")
        runs = store.list_runs(workflow="second", limit=None)
        assert [run.id for run in runs] == [chained_run_id(upstream.run_id, "second:0")]
        assert runs[0].trigger == f"after:first:{upstream.run_id}"
    finally:
        store.close()


def queue(store: HistoryStore, count: int) -> list[str]:
    version = store.save_workflow_version("broken", None, BROKEN)
    ids = [uuid.uuid4().hex for _ in range(count)]
    store.create_runs([QueuedRow(run_id, "broken", version) for run_id in ids])
    return ids


def test_a_breaker_opened_on_any_machine_holds_on_all_and_a_reset_anywhere_lifts_it(
    postgres_migrated_url: str, fleet: FleetDaemons
) -> None:
    for host in ("pc-a", "pc-b"):
        fleet.prepare(host)
    fleet.start_all()
    store = HistoryStore.open(postgres_migrated_url)
    clients = [SupervisorClient(DeskpilotPaths.under(fleet.homes[h])) for h in ("pc-a", "pc-b")]
    try:

        def statuses(ids: list[str]) -> list[RunStatus | None]:
            return [None if (r := store.get_run(i)) is None else r.status for i in ids]

        failed = queue(store, THRESHOLD)
        waited_for(
            lambda: statuses(failed) == [RunStatus.FAILED] * THRESHOLD, 90, "the runs failed"
        )
        waited_for(lambda: store.breaker_row("broken").opened_at is not None, 15, "it opened")
        for client in clients:  # each lists the shared breaker (and adopts it)
            (breaker,) = [b for b in client.breakers() if b.workflow == "broken"]
            assert breaker.state == "open" and breaker.failures == THRESHOLD
        waiting = queue(store, 3)
        deadline = time.monotonic() + 5.0  # two renewals and more: none starts them
        while time.monotonic() < deadline:
            assert statuses(waiting) == [RunStatus.QUEUED] * 3
            time.sleep(0.2)
        reset = clients[1].reset_breaker("broken")
        assert (reset.state, reset.failures) == ("closed", 0)
        waited_for(lambda: statuses(waiting) == [RunStatus.FAILED] * 3, 60, "they ran after it")
    finally:
        for client in clients:
            client.close()
        store.close()


#: The most a breaker's change may take to reach another supervisor: far below the 2 s
#: between lease renewals, which were the only way it travelled before NOTIFY.
PROPAGATION_LIMIT = 0.6


def test_a_breaker_change_reaches_another_supervisor_by_notify_not_at_its_next_renewal(
    postgres_migrated_url: str, fleet: FleetDaemons
) -> None:
    fleet.prepare("pc-a")
    fleet.start_all()
    store = HistoryStore.open(postgres_migrated_url)
    client = SupervisorClient(DeskpilotPaths.under(fleet.homes["pc-a"]))
    policy = BreakerPolicy()
    try:
        client.health()  # listening since it served; the first answer warms the client

        def shown() -> str | None:
            return client.health().breakers.get("remote")

        took: list[float] = []
        # Each change written the way another supervisor's breaker link writes it.
        for change, expected in [(Change.RATE_OPENED, "open"), (Change.RESET, None)] * 3:
            store.change_breaker(
                "remote",
                lambda row, change=change: changed(row, change, policy=policy, now=time.time()),
            )
            took.append(
                waited_for(lambda e=expected: shown() == e, 5, f"pc-a shows {expected}", 0.01)
            )
        assert max(took) <= PROPAGATION_LIMIT, [f"{t:.3f}" for t in took]
    finally:
        client.close()
        store.close()


def test_a_run_ended_where_its_chain_is_not_loaded_fires_the_chain_on_the_machine_that_has_it(
    postgres_migrated_url: str, fleet: FleetDaemons
) -> None:
    """pc-a runs ``first`` and knows of no trigger; only pc-b loads ``second``'s ``after`` trigger."""
    fleet.prepare("pc-a", {"first": FIRST})
    fleet.prepare("pc-b", {"second": SECOND})
    fleet.start_all()
    store = HistoryStore.open(postgres_migrated_url)
    rows = TriggerRows(store)
    try:
        # pc-b saves its triggers' state as it loads them: the store knows of the chain then
        waited_for(
            lambda: any(row.chains_from == "first" for row in rows.load_all()),
            60,
            "pc-b's after trigger is in the store",
        )
        version = store.save_workflow_version("first", None, FIRST)
        upstream = uuid.uuid4().hex
        store.create_runs([QueuedRow(upstream, "first", version, target_host="pc-a")])

        def chained() -> list[str]:
            return [run.id for run in store.list_runs(workflow="second", limit=None)]

        waited_for(lambda: bool(chained()), 60, "pc-b started the chained run")
        first = store.get_run(upstream)
        assert first is not None and first.claimed_by == fleet.supervisor_id("pc-a")
        assert chained() == [chained_run_id(upstream, "second:0")]
        waited_for(lambda: not store.outstanding_chain_fires(), 15, "the outbox row is done")
        (second,) = store.list_runs(workflow="second", limit=None)
        assert second.trigger == f"after:first:{upstream}"
    finally:
        store.close()
