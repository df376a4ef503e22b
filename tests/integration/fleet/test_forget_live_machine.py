"""``deskpilot machines forget --force`` of a supervisor that is still running (PostgreSQL).

Two real supervisors (``supervisor start --foreground``, each its own home
and ``DESKPILOT_HOST``) share a database.  pc-b runs a long run routed to
it; pc-a's CLI forgets pc-b by force while it runs.  The forget takes the
run back (queued again, for a machine named pc-b), so pc-b must behave as a
supervisor that lost its lease: at its next renewal it finds its row gone,
stops the run's worker, writes nothing more for the run, says why, and
stops.  It does not come back on its own (``deskpilot machines`` no longer
lists it); started again, it joins as a new machine and runs the run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from automation.engine.events import RunStatus
from supervisor.client import SupervisorClient
from supervisor.client_errors import SupervisorApiError
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import QUICK, SLOW, FleetDaemons, cli, pid_alive, two_machines
from tests.helpers.storage import store_on

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def fleet(postgres_migrated_url: str) -> Iterator[FleetDaemons]:
    with two_machines(postgres_migrated_url) as daemons:
        yield daemons


store = store_on("postgres_migrated_url")


def test_a_machine_forgotten_while_it_runs_stops_its_runs_and_itself(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    b = fleet.supervisor_id("pc-b")
    version = store.save_workflow_version("slow", None, SLOW)
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "slow", version, target_host="pc-b")])
    waited_for(lambda: store.claimant_of(run_id) == b, 30, "pc-b runs the slow run")
    worker = fleet.worker_pid("pc-b", run_id)

    forced = cli(fleet.homes["pc-a"], "machines", "forget", "pc-b", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    (done,) = json.loads(forced.stdout)
    assert done["runs_taken_back"] == [run_id]
    written = [event.seq for event in store.events(run_id)]

    # At its next renewal (every 2 s) it hears it: its worker is stopped, and it stops.
    process = fleet.processes["pc-b"]
    process.wait(30)
    assert process.returncode == 0, fleet.stderr("pc-b")
    assert not pid_alive(worker)
    assert process.stdout is not None
    said = process.stdout.read()
    assert "supervisor stopped: this supervisor" in said and "was forgotten" in said, said
    assert "start it again to rejoin as a new machine" in said
    log = fleet.stderr("pc-b")
    assert "was forgotten while it ran" in log and "without recording anything more" in log, log

    # It wrote nothing more for the run, which waits for a machine named pc-b.
    assert [event.seq for event in store.events(run_id)] == written
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.claimed_by) == (RunStatus.QUEUED, None)
    listed = cli(fleet.homes["pc-a"], "machines", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [machine["host"] for machine in json.loads(listed.stdout)] == ["pc-a"]

    # Started again, it joins as a new machine and takes its run.
    fleet.spawn("pc-b")
    fleet.wait_serving("pc-b")
    waited_for(lambda: store.claimant_of(run_id) == b, 30, "pc-b, started again, runs the run")
    assert {record.host for record in store.list_supervisors()} == {"pc-a", "pc-b"}


def test_a_machine_forgotten_while_it_runs_starts_no_run_after_the_forget(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    """Runs routed to pc-b queued just after it was forgotten, before it hears of it: none starts.

    The forget lands right after one of pc-b's renewals, so about two
    seconds pass before its next one tells it; runs queued for it meanwhile
    wake it at once (NOTIFY).  Its claims are fenced on its row, so it takes
    none of them: they wait, never claimed, for a machine named pc-b.
    Before, it claimed and started them, and they stayed running under its
    name until their lease ran out.
    """
    b = fleet.supervisor_id("pc-b")
    version = store.save_workflow_version("slow", None, SLOW)

    def heartbeat() -> object:
        (record,) = [record for record in store.list_supervisors() if record.id == b]
        return record.heartbeat_at

    last = heartbeat()
    waited_for(lambda: heartbeat() != last, 30, "a renewal of pc-b")
    store.forget_supervisor(b, silent_for=None)
    ids = [uuid.uuid4().hex for _ in range(3)]
    store.create_runs([QueuedRow(run_id, "slow", version, target_host="pc-b") for run_id in ids])

    process = fleet.processes["pc-b"]
    process.wait(30)
    assert process.returncode == 0, fleet.stderr("pc-b")
    log = fleet.stderr("pc-b")
    assert "was forgotten while it ran" in log, log
    for run_id in ids:
        run = store.get_run(run_id)
        assert run is not None, run_id
        assert (run.status, run.claimed_by, run.started_at) == (RunStatus.QUEUED, None, None), run
        assert store.events(run_id) == [], run_id
        assert run_id not in log


def test_a_machine_forgotten_while_it_runs_takes_no_submit_through_its_api(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    """A submit through pc-b's API just after pc-b was forgotten, before it hears of it: refused.

    The forget lands right after one of pc-b's renewals, so for about two
    seconds pc-b still serves as if registered.  Its submits are fenced on
    its row as its claims and fires are: the caller hears that this machine
    is no longer registered, and no run is queued under its name.  Before,
    the submit was accepted (queued by a machine the fleet no longer counts,
    which then stopped), and the caller heard nothing of it.
    """
    b = fleet.supervisor_id("pc-b")
    path = fleet.homes["pc-b"] / "quick.yaml"
    path.write_text(QUICK)
    run_id = uuid.uuid4().hex
    client = SupervisorClient(DeskpilotPaths.under(fleet.homes["pc-b"]))
    try:
        client.health()  # connected before the window opens: the submit is all that is left

        def heartbeat() -> object:
            (record,) = [record for record in store.list_supervisors() if record.id == b]
            return record.heartbeat_at

        last = heartbeat()
        waited_for(lambda: heartbeat() != last, 30, "a renewal of pc-b")
        renewed = time.monotonic()
        store.forget_supervisor(b, silent_for=None)
        with pytest.raises(SupervisorApiError) as refused:
            client.submit(path, run_id=run_id)
        after = time.monotonic() - renewed
    finally:
        client.close()
    said = str(refused.value)
    assert refused.value.status == 503, said
    assert f"this supervisor ({b}) is no longer registered" in said, f"{said} ({after:.2f} s)"
    assert "was not queued" in said, said
    assert store.get_run(run_id) is None

    process = fleet.processes["pc-b"]
    process.wait(30)
    assert process.returncode == 0, fleet.stderr("pc-b")
    assert "was forgotten while it ran" in fleet.stderr("pc-b")
    assert store.get_run(run_id) is None
