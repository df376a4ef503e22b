"""Chaos, quick version: 200 runs through worker SIGKILLs and SIGSTOPs and a supervisor SIGKILL.

The long version is ``tests/soak/test_chaos_soak.py`` (1,000 runs, the database locked twice), run by
its own command: ``.venv/bin/python -m pytest tests/soak -q``.
"""

from __future__ import annotations

import logging
from pathlib import Path

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


def test_chaos_every_run_ends_and_no_recorded_step_runs_twice(
    daemon_process, tmp_path: Path
) -> None:
    daemon = daemon_process(**CHAOS_OPTIONS)
    folder = tmp_path / "chaos"
    report = run_chaos(daemon, folder, runs=200, seed=20240611, timeout=50)
    logger.info("chaos: %s", report.summary())

    assert report.runs == 200
    assert sum(report.statuses.values()) == 200, report.summary()  # no run lost
    assert set(report.statuses) <= {"succeeded", "failed"}, report.summary()  # all ended
    assert report.statuses["succeeded"] >= 150, report.summary()
    # the chaos really happened, and the history says what each interruption was
    assert report.kills >= 5 and report.stops >= 2, report.summary()
    assert report.reasons["crashed"] >= 1 and report.reasons["hung"] >= 1, report.summary()

    database = daemon.home / "data" / "history.sqlite3"
    checked = check_no_step_ran_twice(database, folder / "counts")
    assert checked >= 3 * report.statuses["succeeded"]
    hung, with_stacks, missing = check_hang_evidence(database)  # py-spy read every frozen worker
    assert hung >= 1 and with_stacks == hung, missing[:5]
    daemon.stop()
    with HistoryStore.open(sqlite_url(database)) as store:
        assert store.integrity_check() == "ok"
    # no worker outlives the chaos: not the frozen ones, not those orphaned by the fork
    # server's death, not those of the supervisor that was killed
    assert daemon.workers() == []
    survivors = {pid: describe(pid) for pid in report.pids if not pid_gone(pid)}
    assert survivors == {}
