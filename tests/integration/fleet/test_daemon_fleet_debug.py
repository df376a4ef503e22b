"""Breakpoints, time limits and "run from here" on any machine, and the debugger across them.

Two real supervisors (``deskpilot supervisor start --foreground``, each
with its own home and ``DESKPILOT_HOST``, real workers) on one PostgreSQL.
Runs are submitted through machine A's API and run elsewhere: their options
travel in the run's row, and debugger commands given to A reach the machine
that holds the paused run through the store.  The kill comes last.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from automation.engine.events import RunStatus
from supervisor.api.models import DebugState
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from tests.helpers.daemon import CLI_BOOT, short_home, write_workflow
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import FleetDaemons
from tests.helpers.postgres import PostgresServer
from tests.helpers.storage import store_on

A, B = "dr-a", "dr-b"
TOKEN = "fleet-token-" + "x" * 32
TAKEOVER_LIMIT = 15.0

LONG = """\
deskpilot: 1
name: {name}
nodes:
  wait:
    block: control.delay
    with: {{seconds: 60}}
"""


@pytest.fixture(scope="module")
def fleet_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.fixture(scope="module")
def fleet(fleet_url: str) -> Iterator[FleetDaemons]:
    daemons = FleetDaemons(fleet_url)
    try:
        daemons.prepare(A)
        # B also listens on TCP, as a machine reachable from others would.
        daemons.prepare(
            B, env={"DESKPILOT_API_LISTEN": "127.0.0.1:0", "DESKPILOT_API_TOKEN": TOKEN}
        )
        daemons.start_all()
        yield daemons
    finally:
        daemons.close()


store = store_on("fleet_url")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flows")


def client(fleet: FleetDaemons, host: str) -> SupervisorClient:
    return SupervisorClient(DeskpilotPaths.under(fleet.homes[host]))


def paused_at(api: SupervisorClient, run_id: str, node: str) -> DebugState:
    found: list[DebugState] = []

    def check() -> bool:
        state = api.debug_state(run_id)
        if state.paused and state.node_id == node:
            found.append(state)
        return bool(found)

    waited_for(check, 60, f"run {run_id} paused at {node}", every=0.1)
    return found[-1]


def claimant(fleet: FleetDaemons, store: HistoryStore, run_id: str) -> str | None:
    run = store.get_run(run_id)
    return None if run is None else fleet.host_of(run.claimed_by)


def test_a_run_paused_on_b_is_inspected_edited_and_continued_through_a(
    fleet: FleetDaemons, store: HistoryStore, folder: Path
) -> None:
    with client(fleet, A) as api:
        run_id = api.submit(
            write_workflow(folder, "stepped"),
            inputs={"word": "original"},
            breakpoints=["second"],
            on=B,
        ).run_id

        state = paused_at(api, run_id, "second")
        assert claimant(fleet, store, run_id) == B
        assert state.reason == "breakpoint" and state.breakpoints == ["second"]
        assert state.pins == {"value": "original"}
        assert state.seconds_left is not None and 0 < state.seconds_left <= 600

        asked = time.monotonic()
        after = api.debug(run_id, "continue", inputs={"value": "edited"})
        answered = time.monotonic() - asked
        assert not after.paused
        # The request, B carrying it out and the pause's end in the history: not a renewal's 2 s.
        assert answered < 5.0, f"the command took {answered:.2f} s to reach {B}"

        run = api.wait(run_id, timeout=30).run
        assert run.status == "succeeded"
        assert run.outputs == {"echoed": "edited"}


def test_a_time_limited_run_on_b_is_stopped_by_its_limit(
    fleet: FleetDaemons, store: HistoryStore, folder: Path
) -> None:
    with client(fleet, A) as api:
        run_id = api.submit(write_workflow(folder, "long", LONG), deadline_seconds=2.0, on=B).run_id
        run = api.wait(run_id, timeout=30).run
    assert run.status == "failed" and "deadline" in (run.error or "")
    assert claimant(fleet, store, run_id) == B


def test_run_from_here_on_another_machine_reuses_the_recorded_outputs(
    fleet: FleetDaemons, store: HistoryStore, folder: Path
) -> None:
    with client(fleet, A) as api:
        first = api.submit(
            write_workflow(folder, "reused"), inputs={"word": "recorded"}, on=A
        ).run_id
        assert api.wait(first, timeout=30).run.status == "succeeded"

        again = api.rerun(first, "from_node", node="second", on=B).run_id
        run = api.wait(again, timeout=30).run
    assert run.status == "succeeded" and run.outputs == {"echoed": "recorded"}
    assert claimant(fleet, store, again) == B
    assert [step.node_id for step in store.steps(again)] == ["second"]  # "first" was reused
    assert "node_replayed" in [event.kind for event in store.events(again)]


def test_machines_show_the_advertised_address_which_needs_the_token(fleet: FleetDaemons) -> None:
    with client(fleet, A) as api:
        machines = {m.host: m for m in api.machines()}
    url = machines[B].api_url
    assert url is not None and url.startswith("http://127.0.0.1:"), url
    assert machines[A].api_url == str(fleet.homes[A] / "state" / "api.sock")  # this machine only
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/health").status_code == 401
        answer = http.get("/machines", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert {m["host"] for m in answer.json()} >= {A, B}


def test_a_bind_beyond_this_machine_without_a_token_is_refused(fleet: FleetDaemons) -> None:
    home = short_home("dpf-")
    try:
        env = {
            **os.environ,
            "DESKPILOT_HOME": str(home),
            "DESKPILOT_DATABASE_URL": fleet.url,
            "DESKPILOT_HOST": "dr-open",
            "DESKPILOT_API_LISTEN": "0.0.0.0:0",
            "SHELL": "/bin/sh",
        }
        env.pop("DESKPILOT_API_TOKEN", None)
        done = subprocess.run(
            [sys.executable, "-c", CLI_BOOT, "supervisor", "start", "--foreground"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "no DESKPILOT_API_TOKEN is set" in said, said[-2000:]


def test_a_takeover_after_a_kill_keeps_the_breakpoints_and_time_limit(
    fleet: FleetDaemons, store: HistoryStore, folder: Path
) -> None:
    with client(fleet, A) as api:
        run_id = api.submit(
            write_workflow(folder, "kept"), breakpoints=["second"], deadline_seconds=300, on=None
        ).run_id
        paused_at(api, run_id, "second")
    owner = claimant(fleet, store, run_id)
    assert owner is not None
    killed = time.monotonic()
    fleet.signal(owner, signal.SIGKILL)

    def taken_over() -> bool:
        run = store.get_run(run_id)
        return (
            run is not None
            and run.status is RunStatus.RUNNING
            and fleet.host_of(run.claimed_by) not in (None, owner)
        )

    waited_for(taken_over, TAKEOVER_LIMIT + 5, f"{owner}'s paused run taken over")
    assert time.monotonic() - killed <= TAKEOVER_LIMIT
    survivor = B if owner == A else A
    with client(fleet, survivor) as api:
        state = paused_at(api, run_id, "second")  # the breakpoint came along
        assert state.breakpoints == ["second"]
        api.debug(run_id, "continue")
        run = api.wait(run_id, timeout=30).run
    assert run.status == "succeeded" and run.outputs == {"echoed": "hello"}
    record = store.get_run(run_id)
    assert record is not None and record.resumes >= 1
    assert (record.options or {}).get("deadline_seconds") == 300
