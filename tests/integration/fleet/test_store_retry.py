"""A real deadlock on PostgreSQL: the store's write is aborted by the server, runs again, lands once.

Three connections: the store's recorder writes a batch that starts runs
r1, r3 and r2 (in that order, one row lock each); ``blocker`` holds r3 and
``rival`` holds r2.  The recorder locks r1 and waits for r3; the rival then
asks for r1 and waits for the recorder.  When the blocker lets r3 go, the
recorder asks for r2: a cycle.  The recorder is the last to wait, so its
deadlock check (``deadlock_timeout``, 50 ms on this database) runs first and
PostgreSQL aborts it with ``40P01``; the rival's check is set to a minute,
so it never fires.  The rival then gets r1 and commits; the store must run
its batch again and record it exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from automation.engine.events import Event, LogEmitted, RunStarted, RunStatus
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for

psycopg = pytest.importorskip("psycopg")


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def database(postgres_migrated_url: str) -> Iterator[str]:
    # already at head (a migrated copy), before the short deadlock check is set
    with psycopg.connect(_dsn(postgres_migrated_url), autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchone()[0]
        admin.execute(f"ALTER DATABASE \"{name}\" SET deadlock_timeout = '50ms'")
    yield postgres_migrated_url


def _waiting_on_a_lock(watcher: Any, pid: int) -> Callable[[], bool]:
    def check() -> bool:
        row = watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        return row is not None and row[0] == "Lock"

    return check


def _store_backends(watcher: Any, others: set[int]) -> list[int]:
    rows = watcher.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    ).fetchall()
    return [int(row[0]) for row in rows if int(row[0]) not in others]


def test_a_recorder_batch_aborted_by_a_deadlock_runs_again_and_lands_once(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = HistoryStore.open(database)
    blocker = psycopg.connect(_dsn(database))
    rival = psycopg.connect(_dsn(database))
    watcher = psycopg.connect(_dsn(database), autocommit=True)
    try:
        version = store.save_workflow_version("w", None, "deskpilot: 1\nname: w\nnodes: {}\n")
        r1, r2, r3 = (uuid.uuid4().hex for _ in range(3))
        store.create_runs([QueuedRow(run_id, "w", version) for run_id in (r1, r2, r3)])
        for connection in (blocker, rival):
            connection.execute("SET deadlock_timeout = '60s'")
        blocker.execute("SELECT 1 FROM runs WHERE id = %s FOR UPDATE", (r3,))
        rival.execute("SELECT 1 FROM runs WHERE id = %s FOR UPDATE", (r2,))

        at = datetime.now(UTC)
        batch: list[Event] = []
        for run_id in (r1, r3, r2):
            batch.append(RunStarted(run_id=run_id, seq=1, at=at, workflow="w"))
            batch.append(
                LogEmitted(run_id=run_id, seq=2, at=at, node_id=None, level="info", message="hi")
            )
        failures: list[BaseException] = []

        def record() -> None:
            try:
                store.record(batch)
            except BaseException as error:  # reported by the test below
                failures.append(error)

        caplog.set_level(logging.INFO, logger="supervisor.store.retry")
        recorder = threading.Thread(target=record)
        recorder.start()
        mine = {blocker.info.backend_pid, rival.info.backend_pid, watcher.info.backend_pid}
        waited_for(lambda: bool(_store_backends(watcher, mine)), 10, "the recorder waits for r3")

        def take_r1() -> None:
            rival.execute("UPDATE runs SET priority = 7 WHERE id = %s", (r1,))

        taker = threading.Thread(target=take_r1)
        taker.start()
        waited_for(
            _waiting_on_a_lock(watcher, rival.info.backend_pid), 10, "the rival waits for r1"
        )
        started = time.monotonic()
        blocker.commit()  # the recorder goes on to r2, which the rival holds: a deadlock
        taker.join(20)
        assert not taker.is_alive(), "PostgreSQL did not break the deadlock"
        rival.commit()
        recorder.join(20)
        assert not recorder.is_alive() and not failures, failures
        assert time.monotonic() - started < 10

        assert "deadlock detected" in caplog.text, caplog.text  # it really met one
        for run_id in (r1, r2, r3):
            run = store.get_run(run_id)
            assert run is not None and run.status is RunStatus.RUNNING and run.started_at == at
            kinds = watcher.execute(
                "SELECT kind, seq FROM events WHERE run_id = %s", (run_id,)
            ).fetchall()
            assert kinds == [("log", 2)], kinds  # written once
        assert store.get_run(r1).priority == 7  # type: ignore[union-attr]  # the rival's too
    finally:
        for connection in (blocker, rival, watcher):
            connection.close()
        store.close()
