"""One view of the fleet: any supervisor's API lists every machine and every run.

Two real supervisors (their own homes, workers and API sockets) share one
PostgreSQL history, as a fleet does (a SQLite file takes one supervisor).
The other machines of the fleet are rows their supervisors would have
written through the same store calls (``register_supervisor``,
``claim_queued``), at chosen times, so that each state (alive, late, gone,
stopped) is on the list at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor.api.models import MachineInfo
from supervisor.machine import machine_host, supervisor_id
from supervisor.store import HistoryStore
from tests.helpers.daemon import CLI_BOOT, RunningDaemon, short_home, write_workflow
from tests.helpers.postgres import PostgresServer

OTHERS = {"desk-late": 20, "desk-gone": 300, "desk-stopped": 1}


@dataclass
class Fleet:
    first: RunningDaemon
    second: RunningDaemon
    ids: dict[str, str]  # host -> supervisor id
    busy_run: str  # running on desk-late
    waiting_run: str  # queued for desk-gone


@pytest.fixture(scope="module")
def fleet(postgres_server: PostgresServer) -> Iterator[Fleet]:
    url = postgres_server.new_database()
    # The rows the others wrote, through a store of their own: registering through a
    # supervisor's store would fence its recorder to the id registered.
    store = HistoryStore.open(url)  # and migrated once, not by both supervisors at start
    homes = [short_home("dp-a-"), short_home("dp-b-")]
    daemons: list[RunningDaemon] = []
    try:
        for home in homes:
            daemons.append(RunningDaemon(home, database_url=url).start())
        first, second = daemons
        now = store.clock.now()
        ids: dict[str, str] = {}
        for daemon in daemons:  # as each supervisor registers itself when it starts
            own = supervisor_id(daemon.paths.data_dir)
            store.register_supervisor(own, host=machine_host(), version="test", pid=1)
            ids[f"self-{daemon.home.name}"] = own
        for host, silent in OTHERS.items():
            made = store.register_supervisor(
                host.replace("-", "")[:8] + "0" * 24,
                host=host,
                pid=4000 + silent,
                api_url=f"http://{host}:8765",
                version="0.9.0",
                resources={"workers": 2, "desktop": True, "lease_seconds": 8.0},
                at=now - timedelta(seconds=silent),
            )
            ids[host] = made.id
        busy = store.create_run("b" * 32, "invoices", target_host="desk-late", priority=999)
        claimed = store.claim_queued(ids["desk-late"], host="desk-late", lease_seconds=3600)
        assert [r.id for r in claimed] == [busy.id]
        waiting = store.create_run(
            "c" * 32, "nightly", target_host="desk-gone", at=now - timedelta(minutes=10)
        )
        # Marked stopped after the runs are queued: this store submits as the supervisor it
        # registered last, and a stopped supervisor takes no new run (``fires``).
        store.supervisor_stopped(ids["desk-stopped"])
        yield Fleet(first, second, ids, busy.id, waiting.id)
    finally:
        for daemon in daemons:
            daemon.stop()
        store.close()
        for folder in homes:
            shutil.rmtree(folder, ignore_errors=True)


def _by_host(machines: list[MachineInfo]) -> dict[str, MachineInfo]:
    return {m.host: m for m in machines if m.host in OTHERS}


def test_every_supervisor_lists_every_machine_with_its_state(fleet: Fleet) -> None:
    with fleet.first.client() as one, fleet.second.client() as two:
        seen_by_first, seen_by_second = one.machines(), two.machines()
    assert {m.id for m in seen_by_first} == {m.id for m in seen_by_second}
    others = _by_host(seen_by_second)
    assert {host: m.state for host, m in others.items()} == {
        "desk-late": "late",
        "desk-gone": "gone",
        "desk-stopped": "gone",
    }
    late = others["desk-late"]
    assert late.running == 1 and late.version == "0.9.0"
    assert late.api_url == "http://desk-late:8765" and late.pid == 4020
    assert 19 <= late.heartbeat_age_seconds < 60
    assert others["desk-stopped"].stopped_at is not None
    # each answers as itself
    first_id, second_id = (supervisor_id(d.paths.data_dir) for d in (fleet.first, fleet.second))
    assert [m.id for m in seen_by_first if m.this] == [first_id]
    assert [m.id for m in seen_by_second if m.this] == [second_id]
    assert {m.state for m in seen_by_first if m.id in (first_id, second_id)} == {"alive"}


def test_every_supervisor_lists_every_run(fleet: Fleet, tmp_path: Path) -> None:
    with fleet.first.client() as one, fleet.second.client() as two:
        mine = one.submit(write_workflow(tmp_path, "shared-history")).run_id
        assert one.wait(mine, timeout=30).finished
        listed = {r.id for r in two.list_runs(limit=500).runs}
        assert {mine, fleet.busy_run, fleet.waiting_run} <= listed
        assert two.get_run(mine).run.status == "succeeded"


def test_metrics_label_the_machine_and_show_the_fleet(fleet: Fleet) -> None:
    with fleet.second.http() as http:
        text = http.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    host = machine_host()
    for name in ("deskpilot_queue_depth", "deskpilot_workers", "deskpilot_breakers_open"):
        assert {s.labels["machine"] for s in families[name].samples} == {host}, name
    states = {s.labels["state"]: s.value for s in families["deskpilot_supervisors"].samples}
    assert states["late"] >= 1 and states["gone"] >= 2 and states["alive"] >= 2
    ages = {
        s.labels["host"]: s.value
        for s in families["deskpilot_supervisor_heartbeat_age_seconds"].samples
    }
    assert ages["desk-gone"] >= 300 and "desk-stopped" not in ages
    oldest = {
        s.labels["target"]: s.value
        for s in families["deskpilot_oldest_queued_run_age_seconds"].samples
    }
    assert oldest["desk-gone"] >= 600 and "any" in oldest


def test_the_machines_command_prints_a_table_and_json(
    fleet: Fleet, deskpilot_cli: Callable[..., CompletedProcess[str]]
) -> None:
    home = fleet.first.home
    table = deskpilot_cli(home, "machines")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "id",
        "host",
        "state",
        "heartbeat",
        "running",
        "queued",
        "version",
        "api",
    ]
    # a run queued for a machine where no supervisor is alive says so
    assert "1 queued run wait for desk-gone, where no supervisor is alive" in table.stdout
    assert "wait for desk-late" not in table.stdout  # nothing queued there
    late = next(line for line in lines if "desk-late" in line)
    # piped: one unwrapped line per machine, the id as a 12-character prefix
    assert late.split()[:3] == [fleet.ids["desk-late"][:12], "desk-late", "late"]
    assert "http://desk-late:8765" in late
    assert any("(this)" in line for line in lines)

    as_json = deskpilot_cli(home, "machines", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = {m["host"]: m for m in json.loads(as_json.stdout)}
    assert data["desk-late"]["id"] == fleet.ids["desk-late"]
    assert data["desk-late"]["running"] == 1
    assert (data["desk-gone"]["queued"], data["desk-late"]["queued"]) == (1, 0)

    one = deskpilot_cli(home, "machines", fleet.ids["desk-gone"][:6], "--json")
    assert [m["host"] for m in json.loads(one.stdout)] == ["desk-gone"]
    by_host = deskpilot_cli(home, "machines", "desk-stopped", "--json")
    assert [m["state"] for m in json.loads(by_host.stdout)] == ["gone"]
    unknown = deskpilot_cli(home, "machines", "no-such-desk")
    assert unknown.returncode == 1
    assert "no machine named 'no-such-desk'" in unknown.stderr


def test_runs_show_says_a_queued_run_waits_for_a_machine_nobody_runs_on(fleet: Fleet) -> None:
    env = {
        **os.environ,
        "DESKPILOT_HOME": str(fleet.first.home),
        "DESKPILOT_DATABASE_URL": fleet.first.paths.database_url,
    }
    shown = subprocess.run(
        [sys.executable, "-c", CLI_BOOT, "runs", "show", fleet.waiting_run],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "machine: desk-gone; waiting: no supervisor on machine 'desk-gone' is alive" in (
        shown.stdout
    )
    # the same fact in the JSON and the API, from either supervisor
    printed = subprocess.run(
        [sys.executable, "-c", CLI_BOOT, "runs", "show", fleet.waiting_run, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    report = json.loads(printed.stdout)
    assert report["machine"] == "desk-gone"
    assert report["waiting"].startswith("no supervisor on machine 'desk-gone' is alive (last ")
    with fleet.second.client() as client:
        run = client.get_run(fleet.waiting_run).run
    assert run.target_host == "desk-gone" and run.waiting is not None
    assert run.waiting.startswith("no supervisor on machine 'desk-gone' is alive (last heartbeat")
