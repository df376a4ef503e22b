"""A desktop alone with its SQLite history does not load what only a fleet needs.

deskpilotd runs for weeks: every module it imports stays in its memory.
Forgetting a machine, the PostgreSQL driver and dialect, and the LISTEN
connection that hears other machines' queued runs are only ever used on a
shared database, so a plain start on SQLite (its API and triggers included)
must leave them unloaded.  Nor does it compile any block model: those are
compiled by the worker that first runs the block.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.compiled_models import COMPILED_BLOCK_MODELS

#: Modules only a supervisor on a shared (PostgreSQL) database uses.
FLEET_ONLY = (
    "supervisor.store.forget",
    "supervisor.store.notify",
    "sqlalchemy.dialects.postgresql",
    "psycopg",
)

PROBE = """
import asyncio, json, sys
from supervisor.daemon import Daemon
from supervisor.paths import DeskpilotPaths
from supervisor.session_watch import SessionWatch
from supervisor.session import SessionState


class Usable:
    reached = False

    def read(self):
        return SessionState()


daemon = Daemon(
    DeskpilotPaths.from_env(),
    session=SessionWatch(Usable(), session_bus="", system_bus="", poll=None),
)
found = {}


def ready(parts):
    found["modules"] = sorted(sys.modules)
    found["compiled"] = compiled()
    daemon.request_stop()


asyncio.run(daemon.serve(ready))
print(json.dumps(found))
"""


def daemon_start(home: Path) -> dict[str, list[str]]:
    """The modules a started daemon holds, and the block models it compiled."""
    env = {
        **os.environ,
        "DESKPILOT_HOME": str(home),
        "DESKPILOT_WORKER_LAUNCHER": "exec",
    }
    env.pop("DESKPILOT_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", COMPILED_BLOCK_MODELS + PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_a_plain_sqlite_daemon_loads_no_fleet_only_module(tmp_path: Path) -> None:
    modules = set(daemon_start(tmp_path / "home")["modules"])
    # the start went as far as the API and the store: the probe saw a whole daemon
    assert {"supervisor.api.server", "supervisor.store.store", "supervisor.core"} <= modules
    loaded = sorted(
        name for name in modules if any(name == m or name.startswith(m + ".") for m in FLEET_ONLY)
    )
    assert loaded == []


def test_a_started_daemon_compiles_no_block_model(tmp_path: Path) -> None:
    assert daemon_start(tmp_path / "home")["compiled"] == []
