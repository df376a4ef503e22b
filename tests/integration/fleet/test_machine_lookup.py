"""``deskpilot --machine HOST`` from a machine with no supervisor: the address from the shared database.

robot1 is a real supervisor process on PostgreSQL (``DESKPILOT_HOST=robot1``)
whose API also listens on 127.0.0.1 with TLS and a fleet token.  The CLI
runs as a subprocess in another home that has no supervisor and no
connection saved, only ``DESKPILOT_DATABASE_URL`` naming the same database:
``--machine robot1`` reads the address robot1 advertised in the
``supervisors`` table and talks to it (a submit of robot1's workflow, then
``runs list``).  A machine the table does not know, one that advertises no
API address, and a home whose history is not shared are refused with
what to do; none of it starts a supervisor in the CLI's home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from tests.helpers.daemon import CLI_BOOT, TINY_WORKFLOW, short_home
from tests.helpers.fleet_daemons import FleetDaemons
from tests.helpers.tls import CertFiles, self_signed

pytestmark = pytest.mark.timeout(180)

TOKEN = "fleet-token-for-the-machine-look-up-0123456789abcdef"


@pytest.fixture
def robot1(postgres_migrated_url: str) -> Iterator[tuple[FleetDaemons, CertFiles]]:
    files = short_home("dp-tls-")
    cert = self_signed(files, "server")
    fleet = FleetDaemons(postgres_migrated_url)
    fleet.prepare(
        "robot1",
        {"far": TINY_WORKFLOW.format(name="far")},
        env={
            "DESKPILOT_API_LISTEN": "127.0.0.1:0",
            "DESKPILOT_API_TOKEN": TOKEN,
            "DESKPILOT_API_TLS_CERT": str(cert.cert),
            "DESKPILOT_API_TLS_KEY": str(cert.key),
        },
    )
    try:
        fleet.start_all()
        yield fleet, cert
    finally:
        fleet.close()
        shutil.rmtree(files, ignore_errors=True)


@pytest.fixture
def client_home() -> Iterator[Path]:
    home = short_home("dpc-")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def cli(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DESKPILOT_API", "DESKPILOT_REMOTE", "DESKPILOT_DATABASE_URL"))
    }
    return subprocess.run(
        [sys.executable, "-c", CLI_BOOT, *args],
        env={**base, "DESKPILOT_HOME": str(home), "SHELL": "/bin/sh", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_machine_reaches_a_fleet_member_through_the_shared_database(
    robot1: tuple[FleetDaemons, CertFiles], client_home: Path, postgres_migrated_url: str
) -> None:
    fleet, cert = robot1
    shared = {"DESKPILOT_DATABASE_URL": postgres_migrated_url, "DESKPILOT_API_TOKEN": TOKEN}
    tls = ("--ca", str(cert.cert))
    far = fleet.homes["robot1"] / "workflows" / "far.yaml"  # a file of robot1's catalog

    submitted = cli(
        client_home, "--machine", "robot1", *tls, "submit", str(far), "--wait", env=shared
    )
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    assert "succeeded" in submitted.stdout + submitted.stderr

    listed = cli(client_home, "--machine", "robot1", *tls, "runs", "list", env=shared)
    assert listed.returncode == 0, listed.stderr
    assert "far" in listed.stdout and "succeeded" in listed.stdout

    unknown = cli(client_home, "--machine", "robot9", *tls, "runs", "list", env=shared)
    assert unknown.returncode == 1
    assert "no machine named 'robot9' in the fleet (known: robot1)" in unknown.stderr
    assert "--api URL" in unknown.stderr

    store = HistoryStore.open(postgres_migrated_url)
    try:  # a supervisor that advertises no API address
        store.register_supervisor("n" * 32, host="robot3", api_url=None)
    finally:
        store.close()
    quiet = cli(client_home, "--machine", "robot3", *tls, "runs", "list", env=shared)
    assert quiet.returncode == 1
    assert "answers on that machine only (it advertises no address)" in quiet.stderr
    assert "DESKPILOT_API_LISTEN" in quiet.stderr, quiet.stderr

    alone = cli(
        client_home, "--machine", "robot1", "runs", "list", env={"DESKPILOT_API_TOKEN": TOKEN}
    )
    assert alone.returncode == 1
    assert "its database is not shared (DESKPILOT_DATABASE_URL)" in alone.stderr, alone.stderr

    # the look-ups started nothing in the CLI's home
    state = client_home / "state"
    assert not state.exists() or not any(state.glob("*.lock")), sorted(state.iterdir())
    assert not (state / "api.sock").exists()


def test_runs_show_json_through_a_fleet_members_api_is_the_schema_run_document(
    robot1: tuple[FleetDaemons, CertFiles], client_home: Path, postgres_migrated_url: str
) -> None:
    """``runs show --json`` prints one document, whichever way it reads the run.

    Read from the shared history (no machine chosen) it prints what
    ``deskpilot schema run`` describes; through robot1's API it printed the
    API's own answer (``{"run": ..., "steps": ...}``) instead.
    """
    fleet, cert = robot1
    shared = {"DESKPILOT_DATABASE_URL": postgres_migrated_url, "DESKPILOT_API_TOKEN": TOKEN}
    through = ("--machine", "robot1", "--ca", str(cert.cert))
    far = fleet.homes["robot1"] / "workflows" / "far.yaml"
    submitted = cli(client_home, *through, "submit", str(far), "--wait", "--json", env=shared)
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    run_id = json.loads(submitted.stdout)["run_id"]

    remote = cli(client_home, *through, "runs", "show", run_id, "--json", env=shared)
    assert remote.returncode == 0, remote.stderr
    local = cli(
        client_home,
        "runs",
        "show",
        run_id,
        "--json",
        env={"DESKPILOT_DATABASE_URL": postgres_migrated_url},
    )
    assert local.returncode == 0, local.stderr
    shown = json.loads(remote.stdout)
    assert shown == json.loads(local.stdout) == json.loads(submitted.stdout)
    schema = cli(client_home, "schema", "run", env={})
    assert schema.returncode == 0, schema.stderr
    assert set(shown) == set(json.loads(schema.stdout)["properties"]), sorted(shown)
    assert shown["run_id"] == run_id and shown["status"] == "succeeded"


def test_a_short_run_id_names_the_same_run_through_a_fleet_members_api(
    robot1: tuple[FleetDaemons, CertFiles], client_home: Path, postgres_migrated_url: str
) -> None:
    """``runs show`` takes a unique prefix of a run id through robot1's API as on this machine.

    Through the API it asked for the prefix as a whole id, and robot1 had
    no such run.  A prefix that starts several ids is refused both ways,
    listing them.
    """
    _fleet, cert = robot1
    shared = {"DESKPILOT_DATABASE_URL": postgres_migrated_url, "DESKPILOT_API_TOKEN": TOKEN}
    through = ("--machine", "robot1", "--ca", str(cert.cert))
    here = {"DESKPILOT_DATABASE_URL": postgres_migrated_url}
    twins = ["5e5e5e5e" + "a" * 24, "5e5e5e5e" + "b" * 24]
    store = HistoryStore.open(postgres_migrated_url)
    try:
        for run_id in twins:
            store.create_run(run_id, "far", status=RunStatus.CANCELLED)
    finally:
        store.close()

    for how in (through, ()):
        env = shared if how else here
        shown = cli(client_home, *how, "runs", "show", "5e5e5e5eb", env=env)
        assert shown.returncode == 0, (how, shown.stderr)
        assert f"run {twins[1]}  far  cancelled" in shown.stdout, (how, shown.stdout)
        said = cli(client_home, *how, "runs", "show", "5E5E5E5E", env=env)
        assert said.returncode == 1, (how, said.stdout)
        expected = "'5E5E5E5E' starts 2 run ids (5e5e5e5eaaaa…, 5e5e5e5ebbbb…); give more of the id"
        assert expected in said.stderr, (how, said.stderr)
        unknown = cli(client_home, *how, "runs", "show", "5e5e5e5ec", env=env)
        assert unknown.returncode == 1 and "no run with id '5e5e5e5ec'" in unknown.stderr, (
            how,
            unknown.stderr,
        )
