"""Real supervisors on one PostgreSQL fire a chain left behind by a dead supervisor, once.

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

from collections.abc import Iterator

import pytest

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.chain_fires import chained_run_id
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


@pytest.fixture
def fleet(postgres_url: str) -> Iterator[FleetDaemons]:
    daemons = FleetDaemons(postgres_url)
    try:
        yield daemons
    finally:
        daemons.close()


def test_a_chain_left_by_a_killed_supervisor_fires_once_on_the_others(
    postgres_url: str, fleet: FleetDaemons
) -> None:
    store = HistoryStore.open(postgres_url)
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
