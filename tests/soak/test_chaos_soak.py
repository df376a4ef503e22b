"""The long chaos soak: 1,000 runs through every fault the supervisor is built to survive.

Workers SIGKILLed and SIGSTOPped all along, the fork server killed once, the
supervisor SIGKILLed four times, and another process holding the database's
write lock for 10 s, twice.  It must show 0 runs lost, 0 steps recorded
twice, and hang evidence with every thread's stack for every hung worker;
the figures are logged as one line ("soak: ...").

Not part of the default test run (``testpaths`` leaves ``tests/soak`` out);
run it with::

    .venv/bin/python -m pytest tests/soak -q -o log_cli=true --log-cli-level=WARNING

``SOAK_RUNS``, ``SOAK_SEED`` and ``SOAK_LOCK_SECONDS`` in the environment change
its size, its random choices and how long each lock is held.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from supervisor.paths import sqlite_url
from supervisor.store.store import HistoryStore
from tests.integration.supervisor.chaos import (
    CHAOS_OPTIONS,
    check_hang_evidence,
    check_no_step_ran_twice,
    run_chaos,
)
from tests.integration.supervisor.harness import describe, pid_gone

logger = logging.getLogger(__name__)

RUNS = int(os.environ.get("SOAK_RUNS", "1000"))
SEED = int(os.environ.get("SOAK_SEED", "1"))
LOCK_SECONDS = float(os.environ.get("SOAK_LOCK_SECONDS", "10"))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_chaos_soak(daemon_process, tmp_path: Path) -> None:
    daemon = daemon_process(**CHAOS_OPTIONS)
    folder = tmp_path / "chaos"
    report = run_chaos(
        daemon,
        folder,
        runs=RUNS,
        seed=SEED,
        timeout=max(600.0, RUNS),
        supervisor_kills=4,
        lock_holds=2,
        lock_seconds=LOCK_SECONDS,
    )
    database = daemon.home / "data" / "history.sqlite3"
    checked = check_no_step_ran_twice(database, folder / "counts")
    hung, with_stacks, missing = check_hang_evidence(database)
    rows = [
        ("runs", RUNS),
        ("seconds", f"{report.seconds:.0f}"),
        ("ended by status", dict(report.statuses)),
        ("runs lost", RUNS - sum(report.statuses.values())),
        ("steps recorded twice", 0),
        ("recorded steps checked against the files", checked),
        ("workers SIGKILLed", report.kills),
        ("workers SIGSTOPped", report.stops),
        ("fork server killed", report.server_kills),
        ("supervisor SIGKILLed", report.supervisor_kills),
        ("database locked by another process", [f"{s:.1f}s" for s in report.lock_holds]),
        ("interruptions recorded", dict(report.reasons)),
        ("hung workers", hung),
        ("... with every thread's stack in evidence", with_stacks),
    ]
    table = "\n".join(f"  {name:<44} {value}" for name, value in rows)
    logger.warning("soak (seed %d):\n%s", SEED, table)

    assert report.runs == RUNS
    assert sum(report.statuses.values()) == RUNS, report.summary()  # 0 runs lost
    assert set(report.statuses) <= {"succeeded", "failed"}, report.summary()
    assert report.statuses["succeeded"] >= 0.9 * RUNS, report.summary()
    assert checked >= 3 * report.statuses["succeeded"]
    assert len(report.lock_holds) == 2 and min(report.lock_holds) >= LOCK_SECONDS - 0.5
    assert hung >= 1 and with_stacks == hung, missing[:5]
    daemon.stop()
    with HistoryStore.open(sqlite_url(database)) as store:
        assert store.integrity_check() == "ok"
    survivors = {pid: describe(pid) for pid in report.pids if not pid_gone(pid)}
    assert survivors == {}
