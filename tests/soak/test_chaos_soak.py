"""The long chaos soak: 2,000 runs, four supervisor SIGKILLs, workers killed and frozen all along.

Not part of the default test run (``testpaths`` leaves ``tests/soak`` out);
run it with::

    .venv/bin/python -m pytest tests/soak -q

``SOAK_RUNS`` and ``SOAK_SEED`` in the environment change its size and its
random choices.  It checks what the quick chaos test checks, at scale.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from supervisor.paths import sqlite_url
from supervisor.store.store import HistoryStore
from tests.integration.supervisor.chaos import CHAOS_OPTIONS, check_no_step_ran_twice, run_chaos
from tests.integration.supervisor.harness import describe, pid_gone

logger = logging.getLogger(__name__)

RUNS = int(os.environ.get("SOAK_RUNS", "2000"))
SEED = int(os.environ.get("SOAK_SEED", "1"))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_chaos_soak(daemon_process, tmp_path: Path) -> None:
    daemon = daemon_process(**CHAOS_OPTIONS)
    folder = tmp_path / "chaos"
    report = run_chaos(
        daemon, folder, runs=RUNS, seed=SEED, timeout=max(600.0, RUNS), supervisor_kills=4
    )
    logger.warning("soak: %s", report.summary())

    assert report.runs == RUNS
    assert sum(report.statuses.values()) == RUNS, report.summary()
    assert set(report.statuses) <= {"succeeded", "failed"}, report.summary()
    assert report.statuses["succeeded"] >= 0.9 * RUNS, report.summary()
    database = daemon.home / "data" / "history.sqlite3"
    assert check_no_step_ran_twice(database, folder / "counts") >= 3 * report.statuses["succeeded"]
    daemon.stop()
    with HistoryStore.open(sqlite_url(database)) as store:
        assert store.integrity_check() == "ok"
    survivors = {pid: describe(pid) for pid in report.pids if not pid_gone(pid)}
    assert survivors == {}
