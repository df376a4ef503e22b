"""Two homes pointed at one SQLite history: the second supervisor is refused, and takes over after a kill.

A SQLite history holds runs without leases, so two supervisors on one file
could neither see what the other holds nor take it over.  Real
``deskpilot supervisor start --foreground`` processes, each with its own
home, share ``DESKPILOT_DATABASE_URL=sqlite:///.../history.sqlite3``: the
second start fails naming the first (``HistoryLock``); once the first is
SIGKILLed, the kernel frees its lock, the second starts, and it resumes the
run the first left running (``Reconciling._mine``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import SLOW, FleetDaemons


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[FleetDaemons]:
    database = tmp_path / "shared" / "history.sqlite3"
    HistoryStore.open(f"sqlite:///{database}").close()  # made and migrated once, up front
    daemons = FleetDaemons(f"sqlite:///{database}")
    try:
        yield daemons
    finally:
        daemons.close()


def test_a_second_supervisor_on_one_sqlite_file_is_refused_then_takes_over_after_a_kill(
    shared: FleetDaemons,
) -> None:
    shared.prepare("first", workflows={"slow": SLOW})
    shared.prepare("second")
    first = shared.spawn("first")
    shared.wait_serving("first")
    # Submitted through its API, as anything queues a run on a SQLite history it holds alone
    # (it looks for runs queued behind its back only every few minutes: ``fleetlink``).
    submitter = SupervisorClient(DeskpilotPaths.under(shared.homes["first"]))
    try:
        run_id = submitter.submit(shared.homes["first"] / "workflows" / "slow.yaml").run_id
    finally:
        submitter.close()
    store = HistoryStore.open(shared.url)
    try:
        waited_for(
            lambda: (
                (run := store.get_run(run_id)) is not None
                and run.status is RunStatus.RUNNING
                and run.claimed_by == shared.supervisor_id("first")
            ),
            60,
            "the first supervisor runs the run",
        )

        refused = shared.spawn("second")
        assert refused.wait(timeout=120) != 0
        said = shared.stderr("second")
        assert "already used by another Deskpilot supervisor" in said, said
        assert f"pid {first.pid}" in said and str(shared.homes["first"] / "data") in said, said
        assert store.get_run(run_id).status is RunStatus.RUNNING  # type: ignore[union-attr]

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        shared.spawn("second")
        shared.wait_serving("second")

        second = shared.supervisor_id("second")

        def resumed_there() -> bool:
            run = store.get_run(run_id)
            return run is not None and run.status is RunStatus.RUNNING and run.claimed_by == second

        waited_for(resumed_there, 60, "the second supervisor resumed the run")
        assert store.get_run(run_id).resumes == 1  # type: ignore[union-attr]

        client = SupervisorClient(DeskpilotPaths.under(shared.homes["second"]))
        try:
            client.cancel(run_id)  # so its stop need not wait out the shutdown grace
        finally:
            client.close()
        waited_for(
            lambda: store.get_run(run_id).status is RunStatus.CANCELLED,  # type: ignore[union-attr]
            30,
            "the resumed run cancelled",
        )
    finally:
        store.close()
