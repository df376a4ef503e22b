"""Fixtures and helpers for the runs views: a real link to the package's daemon, runs in bulk.

``link`` is a ``SupervisorLink`` on ``api_daemon`` (a real supervisor with its
API on a Unix socket, see tests/helpers/daemon.py), connected before the test
starts.  ``insert_runs`` writes history rows straight into that daemon's
database (the test's business, never the GUI's), so paging and filtering can
be checked over hundreds of runs without running them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy import insert

from app.supervisor_link import SupervisorLink, job_pool
from supervisor.store.schema import runs
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def insert_runs(
    daemon: RunningDaemon,
    workflow: str,
    count: int,
    *,
    start: datetime = START,
    step: timedelta = timedelta(minutes=7),
    statuses: Sequence[str] = ("succeeded", "succeeded", "failed"),
    triggers: Sequence[str] = ("api", "schedule:{w}:0@x", "webhook:deploy"),
) -> list[str]:
    """Insert ``count`` finished runs of ``workflow``; return their ids, newest first."""
    rows: list[dict[str, Any]] = []
    for index in range(count):
        at = start + index * step
        status = statuses[index % len(statuses)]
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "workflow_name": workflow,
                "status": status,
                "trigger": triggers[index % len(triggers)].format(w=workflow),
                "priority": 0,
                "inputs": {},
                "queued_at": at,
                "started_at": at,
                "finished_at": at + timedelta(seconds=1 + index % 5),
                "duration": float(1 + index % 5),
                "steps": 2,
                "error": f"step broke number {index}" if status == "failed" else None,
                "failed_node": "boom" if status == "failed" else None,
                "resumes": 0,
            }
        )
    store = daemon.parts.store
    with store.engine.begin() as connection:
        connection.execute(insert(runs), rows)
    return [row["id"] for row in reversed(rows)]


@pytest.fixture(name="link")
def link_fixture(api_daemon: RunningDaemon, qapp: QApplication) -> Iterator[SupervisorLink]:
    """A started link to the package's daemon; stopped (and its jobs drained) afterwards."""
    made = SupervisorLink(api_daemon.paths, autostart=False, poll_interval=0.5)
    made.start()
    try:
        eventually(lambda: _pumped(qapp) and made.connected and made.stream_open, timeout=15)
        yield made
    finally:
        made.stop()
        job_pool().waitForDone(10_000)
        qapp.processEvents()


def _pumped(qapp: QApplication) -> bool:
    qapp.processEvents()
    return True


def wait_until(qapp: QApplication, check: Any, timeout: float = 10.0) -> Any:
    """``eventually`` while Qt delivers queued signals (jobs answer on the GUI thread)."""

    def pumped() -> Any:
        qapp.processEvents()
        return check()

    return eventually(pumped, timeout=timeout)
