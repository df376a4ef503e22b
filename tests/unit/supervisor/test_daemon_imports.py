"""A desktop alone with its SQLite history does not load what only a fleet needs.

deskpilotd runs for weeks: every module it imports stays in its memory.
Forgetting a machine, the PostgreSQL driver and dialect, and the LISTEN
connection that hears other machines' queued runs are only ever used on a
shared database, so a plain start on SQLite (its API and triggers included)
must leave them unloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
found = []


def ready(parts):
    found.extend(sorted(sys.modules))
    daemon.request_stop()


asyncio.run(daemon.serve(ready))
print(json.dumps(found))
"""


def daemon_modules(home: Path) -> set[str]:
    env = {
        **os.environ,
        "DESKPILOT_HOME": str(home),
        "DESKPILOT_WORKER_LAUNCHER": "exec",
    }
    env.pop("DESKPILOT_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_plain_sqlite_daemon_loads_no_fleet_only_module(tmp_path: Path) -> None:
    modules = daemon_modules(tmp_path / "home")
    # the start went as far as the API and the store: the probe saw a whole daemon
    assert {"supervisor.api.server", "supervisor.store.store", "supervisor.core"} <= modules
    loaded = sorted(
        name for name in modules if any(name == m or name.startswith(m + ".") for m in FLEET_ONLY)
    )
    assert loaded == []
