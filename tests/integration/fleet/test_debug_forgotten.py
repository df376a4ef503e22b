"""Debugger requests for a machine that was forgotten, or is not running, fail with why.

The debugger reaches a run paused on another machine through a request row
that machine answers (``supervisor.debugrelay``).  A machine that can no
longer answer must not leave the asker waiting for nothing: a request to a
machine forgotten (``deskpilot machines forget``) while it waited is failed
by the forget, at once, naming it; a request to a run whose machine is
forgotten, stopped or silent past its lease is refused before it is written.
The first test runs two real supervisors on PostgreSQL; the second the
store, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from supervisor.store.debug_requests import COMMAND, MachineNotRunning
from supervisor.store.store import QueuedRow
from tests.helpers.daemon import write_workflow
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import FleetDaemons, cli, two_machines
from tests.helpers.storage import StoreFactory, store_on

pytestmark = pytest.mark.timeout(180)

#: How long the asker waits for an answer at most (``debugrelay.ANSWER_TIMEOUT``): the
#: failure must come well before it.
ANSWER_TIMEOUT = 10.0


@pytest.fixture
def fleet(postgres_migrated_url: str) -> Iterator[FleetDaemons]:
    with two_machines(postgres_migrated_url) as daemons:
        yield daemons


store = store_on("postgres_migrated_url")


def test_a_request_waiting_for_a_machine_that_is_forgotten_fails_at_once(
    fleet: FleetDaemons, store: HistoryStore, tmp_path: Path
) -> None:
    api = SupervisorClient(DeskpilotPaths.under(fleet.homes["pc-a"]))
    try:
        run_id = api.submit(
            write_workflow(tmp_path, "stepped"), breakpoints=["second"], on="pc-b"
        ).run_id
        waited_for(lambda: api.debug_state(run_id).paused, 60, "paused on pc-b", every=0.1)
        # pc-b freezes: it can neither answer nor notice anything.
        fleet.signal("pc-b", signal.SIGSTOP)
        outcome: list[BaseException | None] = []

        def ask() -> None:
            asker = SupervisorClient(DeskpilotPaths.under(fleet.homes["pc-a"]))
            try:
                asker.debug(run_id, "continue")
                outcome.append(None)
            except BaseException as exc:  # what the asker is told
                outcome.append(exc)
            finally:
                asker.close()

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        waited_for(
            lambda: bool(store.pending_debug_requests(fleet.supervisor_id("pc-b"))),
            10,
            "the request is written for pc-b",
        )
        forced = cli(fleet.homes["pc-a"], "machines", "forget", "pc-b", "--force")
        forgotten = time.monotonic()
        assert forced.returncode == 0, forced.stderr
        assert "refused 1 debugger request it had not carried out" in forced.stdout
        assert "it was still running" in forced.stdout
        asking.join(ANSWER_TIMEOUT)
        waited = time.monotonic() - forgotten
        assert outcome and outcome[0] is not None, outcome
        assert "was forgotten" in str(outcome[0]) and "pc-b" in str(outcome[0]), outcome[0]
        # (well before the asker's own timeout, even on a loaded machine)
        assert waited < ANSWER_TIMEOUT - 2, f"the asker heard it {waited:.1f} s after the forget"
        # Nothing of it is left in the store.
        waited_for(
            lambda: store.debug_requests_of(fleet.supervisor_id("pc-b")) == [],
            10,
            "the failed request is gone",
        )
    finally:
        api.close()
    # Woken, pc-b finds it was forgotten: it stops, its run left to a machine named pc-b.
    fleet.signal("pc-b", signal.SIGCONT)
    fleet.processes["pc-b"].wait(30)
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.claimed_by) == (RunStatus.QUEUED, None)


def test_a_request_for_a_run_whose_machine_cannot_answer_is_refused_before_it_is_written(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    version = store.save_workflow_version("stepped", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(4)]
    store.create_runs([QueuedRow(run_id, "stepped", version) for run_id in ids])
    silent, stopped, forgotten, alive = ids
    now = store.lease_time()
    store.register_supervisor("silent", host="pc-s", resources={"lease_seconds": 8.0})
    store.register_supervisor("stopped", host="pc-t")
    store.register_supervisor("forgotten", host="pc-f")
    store.register_supervisor("alive", host="pc-a", resources={"lease_seconds": 8.0})
    for who, run_id in zip(("silent", "stopped", "forgotten", "alive"), ids, strict=True):
        (claimed,) = store.claim_queued(who, lease_seconds=60.0, run_ids=[run_id])
        assert claimed.id == run_id
    # Silent past its lease: its last heartbeat a minute ago.
    store.register_supervisor(
        "silent", host="pc-s", resources={"lease_seconds": 8.0}, at=now - timedelta(minutes=1)
    )
    store.supervisor_stopped("stopped")
    store.forget_supervisor("forgotten", silent_for=None)
    # (forgetting took its run back; as if it claimed one again before it heard)
    store.claim_queued("forgotten", lease_seconds=60.0, run_ids=[forgotten])

    reasons = {
        silent: "pc-s (supervisor silent) is not running: last heard from 6",
        stopped: "pc-t (supervisor stopped) is not running: it stopped at",
        forgotten: "(supervisor forgotten) was forgotten",
    }
    for run_id, why in reasons.items():
        with pytest.raises(MachineNotRunning, match=r"nobody can carry out") as refused:
            store.request_debug(run_id, COMMAND, {"action": "continue"})
        assert why in str(refused.value)
    assert all(store.debug_requests_of(who) == [] for who in ("silent", "stopped", "forgotten"))
    written = store.request_debug(alive, COMMAND, {"action": "continue"})
    assert written.supervisor_id == "alive"
