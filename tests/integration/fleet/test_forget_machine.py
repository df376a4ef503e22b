"""``deskpilot machines forget``: a machine removed for good, end to end on PostgreSQL.

Two real supervisors (``supervisor start --foreground``, each its own home
and ``DESKPILOT_HOST``) share a database.  pc-b alone loads a workflow with
an ``after`` trigger and runs a long run routed to it; then it is killed.
The CLI, a subprocess in pc-a's home, talks to pc-a's API: ``forget pc-b``
is refused while pc-b is not yet gone (nothing is removed), and ``forget
pc-b --force --json`` removes its row, releases and retires its trigger,
and takes back its run, which waits for a machine named pc-b again.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator

import pytest

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import SLOW, FleetDaemons, cli, two_machines
from tests.helpers.storage import store_on

pytestmark = pytest.mark.timeout(180)

CHAINED = """\
deskpilot: 1
name: chained
nodes:
  only:
    block: control.pass
triggers:
  - {type: after, workflow: upstream}
"""


@pytest.fixture
def fleet(postgres_migrated_url: str) -> Iterator[FleetDaemons]:
    with two_machines(postgres_migrated_url, {"chained": CHAINED}) as daemons:
        yield daemons


store = store_on("postgres_migrated_url")


def test_forget_refuses_a_machine_not_yet_gone_then_forced_removes_what_it_left(
    fleet: FleetDaemons, store: HistoryStore
) -> None:
    rows = TriggerRows(store)
    b = fleet.supervisor_id("pc-b")
    waited_for(lambda: rows.holders("chained", "chained:0") == {b}, 30, "pc-b holds its trigger")
    version = store.save_workflow_version("slow", None, SLOW)
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "slow", version, target_host="pc-b")])
    waited_for(lambda: store.claimant_of(run_id) == b, 30, "pc-b runs the slow run")
    fleet.signal("pc-b", signal.SIGKILL)
    fleet.processes["pc-b"].wait(30)
    home = fleet.homes["pc-a"]

    refused = cli(home, "machines", "forget", "pc-b")
    assert refused.returncode == 1, refused
    assert "stop it first, or pass --force" in refused.stderr, refused.stderr
    assert "nothing was forgotten" in refused.stderr
    assert b in {record.id for record in store.list_supervisors()}
    assert rows.holders("chained", "chained:0") == {b}

    forced = cli(home, "machines", "forget", "pc-b", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    (done,) = json.loads(forced.stdout)
    assert done["machine"]["id"] == b and done["machine"]["host"] == "pc-b"
    chained = [{"workflow": "chained", "trigger": "chained:0"}]
    assert done["holds_released"] == chained and done["triggers_retired"] == chained
    assert done["runs_taken_back"] == [run_id]
    assert done["queued_for_host"] == 1

    assert {record.host for record in store.list_supervisors()} == {"pc-a"}
    assert rows.holders("chained", "chained:0") == set()
    (trigger,) = [r for r in rows.load_all() if r.workflow_name == "chained"]
    assert trigger.chains_from is None and trigger.state["removed_at"]
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.claimed_by) == (RunStatus.QUEUED, None)
    listed = cli(home, "machines", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [m["host"] for m in json.loads(listed.stdout)] == ["pc-a"]
    again = cli(home, "machines", "forget", "pc-b")
    assert again.returncode == 1 and "no machine named 'pc-b'" in again.stderr
