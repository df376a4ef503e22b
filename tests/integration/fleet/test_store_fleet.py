"""Three supervisors' store loops on one PostgreSQL, as real processes: the fleet's guarantees.

Each member (``tests.helpers.fleet_member``) is its own process and its own
"machine", and does with the store exactly what a supervisor of a fleet
does (claim under a lease, renew it, reap others' expired leases, fence its
writes, act on cancel requests), with a run's work replaced by a sleep.
Signals are real: SIGKILL, SIGSTOP and SIGCONT.  CI queues
``DESKPILOT_FLEET_RUNS`` runs (600 by default).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from tests.helpers.fleet import Fleet, queue_runs, waited_for
from tests.helpers.storage import store_on

FLEET_RUNS = int(os.environ.get("DESKPILOT_FLEET_RUNS", "600"))
LEASE = 3.0
TAKEOVER_LIMIT = 15.0


store = store_on("postgres_migrated_url")


@pytest.fixture
def fleet(postgres_migrated_url: str, tmp_path: Path) -> Iterator[Fleet]:
    members = Fleet(postgres_migrated_url, tmp_path, {"workers": 2, "lease": LEASE, "beat": 0.5})
    yield members
    members.close()


def ended(store: HistoryStore, ids: list[str]) -> bool:
    return store.count_runs(status=[RunStatus.QUEUED, RunStatus.RUNNING]) == 0 and all(
        run.status.terminal for run in store.list_runs(limit=None) if run.id in set(ids)
    )


def test_each_run_is_executed_once_by_three_supervisors(store: HistoryStore, fleet: Fleet) -> None:
    for name in ("pc-a", "pc-b", "pc-c"):
        fleet.start(name)
    ids = queue_runs(store, FLEET_RUNS, seconds=0.01)

    waited_for(lambda: store.count_runs(status=RunStatus.SUCCEEDED) == len(ids), 120, "all ran")

    starts = fleet.starts()
    assert sorted(starts) == sorted(ids)
    assert max(starts.values()) == 1, "a run was executed twice"
    by_member = {entry.member for entry in fleet.entries() if entry.what == "done"}
    assert by_member == {"pc-a", "pc-b", "pc-c"}  # the queue is shared, not one machine's


def test_a_killed_supervisors_runs_are_taken_over_within_15_seconds(
    store: HistoryStore, fleet: Fleet
) -> None:
    fleet.start("pc-a")
    ids = queue_runs(store, 2, seconds=600)  # pc-a's two workers take both
    waited_for(lambda: len(fleet.starts()) == 2, 30, "pc-a started its runs")
    fleet.start("pc-b")
    fleet.start("pc-c")
    queue_runs(store, 1, seconds=0.01)  # the others are working too
    killed = time.monotonic()
    fleet.signal("pc-a", signal.SIGKILL)

    def taken_over() -> bool:
        return all(
            (run := store.get_run(run_id)) is not None
            and run.status is RunStatus.RUNNING
            and run.claimed_by is not None
            and not run.claimed_by.startswith("pc-a")
            for run_id in ids
        )

    waited_for(taken_over, TAKEOVER_LIMIT, "pc-a's runs taken over")
    took = time.monotonic() - killed
    assert took <= TAKEOVER_LIMIT
    for run_id in ids:
        run = store.get_run(run_id)
        assert run is not None and run.resumes == 1
    restarted = [e for e in fleet.entries() if e.what == "start" and e.run_id in ids]
    assert [e.member for e in restarted][:2] == ["pc-a", "pc-a"]
    assert {e.member for e in restarted[2:]} <= {"pc-b", "pc-c"} and len(restarted) == 4


def test_a_frozen_supervisor_writes_nothing_when_it_wakes(
    store: HistoryStore, fleet: Fleet
) -> None:
    fleet.start("pc-a")
    ids = queue_runs(store, 2, seconds=2.0)
    waited_for(lambda: len(fleet.starts()) == 2, 30, "pc-a started its runs")
    fleet.signal("pc-a", signal.SIGSTOP)
    fleet.start("pc-b")
    # Past pc-a's lease: pc-b reaps the runs and runs them to the end.
    waited_for(lambda: store.count_runs(status=RunStatus.SUCCEEDED) == 2, 30, "pc-b finished them")
    woke = time.time()
    fleet.signal("pc-a", signal.SIGCONT)

    def stopped_both() -> bool:
        return {
            e.run_id for e in fleet.entries() if e.member == "pc-a" and e.what in ("lost",)
        } == set(ids)

    waited_for(stopped_both, 15, "pc-a noticed it lost both runs")
    after = [e for e in fleet.entries() if e.member == "pc-a" and e.at >= woke]
    assert not [e for e in after if e.what in ("done", "refused", "start")], after
    for run_id in ids:
        run = store.get_run(run_id)
        assert run is not None and run.status is RunStatus.SUCCEEDED
        assert (run.claimed_by or "").startswith("pc-b")


def test_a_cancel_asked_through_another_machine_stops_the_run(
    store: HistoryStore, fleet: Fleet
) -> None:
    fleet.start("pc-a")
    (run_id,) = queue_runs(store, 1, seconds=600)
    waited_for(lambda: run_id in fleet.starts(), 30, "pc-a started the run")

    # Any machine's API calls this on its own store connection.
    requested = store.request_cancel(run_id)

    assert requested.status is RunStatus.RUNNING
    waited_for(
        lambda: (run := store.get_run(run_id)) is not None and run.status is RunStatus.CANCELLED,
        10,
        "the owner cancelled the run",
    )
    assert [e.what for e in fleet.entries() if e.run_id == run_id] == ["start", "cancelled"]


def test_runs_routed_to_a_machine_run_there_only(store: HistoryStore, fleet: Fleet) -> None:
    for name in ("pc-a", "pc-b"):
        fleet.start(name)
    mine = queue_runs(store, 20, seconds=0.01, target_host="pc-b")

    waited_for(lambda: store.count_runs(status=RunStatus.SUCCEEDED) == 20, 60, "all ran")

    assert {e.member for e in fleet.entries() if e.what == "done" and e.run_id in mine} == {"pc-b"}
