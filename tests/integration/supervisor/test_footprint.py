"""The daemon stays small: libraries only runs need are left to the workers.

The supervisor loads every block module to validate workflows.  Before these
imports were made lazy, that pulled httpx (with rich and pygments), keyring
(with secretstorage and cryptography), jsonpath-ng and Alembic into a process
that runs for weeks: 100 MiB idle, against a budget of 80.  The benchmark
measures the figure; this test keeps the cause from coming back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.integration.supervisor.harness import ROOT

#: Top-level packages the daemon must not import while serving idle.
WORKER_ONLY = (
    "alembic",
    "mako",
    "pygments",
    "httpx",
    "rich",
    "keyring",
    "secretstorage",
    "cryptography",
    "jsonpath_ng",
    # what runs need of the engine: the daemon plans and checks, it does not execute
    "automation.engine.execution",
    # D-Bus client, loaded only when a bus socket exists (the probe points both at none)
    "jeepney",
    # the run report's models (seven of them): loaded when a report is asked for
    "supervisor.run_report",
)

#: What only a supervisor sharing a PostgreSQL database with others needs: a lone
#: supervisor on SQLite loads none of it.
FLEET_ONLY = (
    # SQLAlchemy's PostgreSQL dialect, with its four drivers' modules: 2 MiB resident
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    # no LISTEN connection, no lease renewals
    "supervisor.store.notify",
    # a trigger's ``on:`` naming another machine is checked against the fleet's
    "supervisor.triggers.machines",
)

USES_THEM = """\
deskpilot: 1
name: fetch-and-pick
triggers:
  - {type: schedule, cron: "0 3 * * *"}
  - {type: webhook, name: fetch, secret: hook_token}
nodes:
  fetch:
    block: http.request
    with: {url: "http://127.0.0.1:9/data.json"}
  pick:
    block: data.json_path
    with: {data: "{{ nodes.fetch.json }}", expression: "$.items[*].name"}
links:
  - fetch -> pick
"""

PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from supervisor.daemon import Daemon
    from supervisor.paths import DeskpilotPaths

    daemon = Daemon(DeskpilotPaths.under(Path(sys.argv[1])))

    def ready(parts):
        workflows = [(w["name"], w["valid"], w["issues"]) for w in parts.catalog.list()]
        loaded = sorted(set(sys.modules) & set(sys.argv[2:]))
        print(json.dumps({"workflows": workflows, "loaded": loaded}), flush=True)
        daemon.request_stop()

    asyncio.run(daemon.serve(ready=ready))
    """
)


@pytest.fixture(scope="module")
def serving_daemon(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a lone supervisor on SQLite has loaded once it serves: started once for the module."""
    base = tmp_path_factory.mktemp("footprint")
    home = base / "home"
    workflows = home / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "fetch-and-pick.yaml").write_text(USES_THEM, encoding="utf-8")

    no_bus = {
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={base / 'no-session-bus'}",
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={base / 'no-system-bus'}",
    }
    env = {**os.environ, **no_bus}
    env.pop("DESKPILOT_DATABASE_URL", None)  # the home's own SQLite file
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(home), *WORKER_ONLY, *FLEET_ONLY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_a_serving_daemon_leaves_run_only_libraries_to_the_workers(
    serving_daemon: dict[str, Any],
) -> None:
    # the workflow using them was validated: every block module was loaded
    assert serving_daemon["workflows"] == [["fetch-and-pick", True, []]]
    assert [name for name in serving_daemon["loaded"] if name in WORKER_ONLY] == []


def test_a_lone_supervisor_on_sqlite_loads_nothing_only_a_fleet_needs(
    serving_daemon: dict[str, Any],
) -> None:
    assert [name for name in serving_daemon["loaded"] if name in FLEET_ONLY] == []


#: What a client of the API (the GUI, the CLI's run commands) must not pay to import.
DAEMON_ONLY = (
    "sqlalchemy",
    "alembic",
    "supervisor.core",
    "supervisor.store",
    "supervisor.workers",
    "automation.engine.engine",
    "automation.engine.execution",
)


def test_the_api_client_imports_neither_the_core_nor_the_store_nor_the_engine() -> None:
    # What `python -X importtime -c "import supervisor.client"` lists, read by a test:
    # SupervisorError and the transition errors live in supervisor.errors for this.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import supervisor.client"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "supervisor.client" in imported
    loaded = sorted(
        name for name in imported if any(name == m or name.startswith(m + ".") for m in DAEMON_ONLY)
    )
    assert loaded == []
