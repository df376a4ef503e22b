"""A renewal that waits on row locks past its lease's end does not renew it (real databases).

The renewal locks its supervisor's runs before it judges their leases, by
the database's clock (``supervisor.store.leasing``).  Here another
connection holds a run's row (PostgreSQL: ``SELECT ... FOR UPDATE``;
SQLite: the write lock of ``BEGIN IMMEDIATE``) while the renewal waits, on
the real clock: released before the lease ends, the renewal renews it;
released after, the renewal reports the run lost and leaves the lease as it
was, so the reaper takes the run back.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from supervisor.store import HistoryStore
from supervisor.store.leasing import database_now
from supervisor.store.records import LeaseRenewal
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for
from tests.helpers.postgres import PostgresServer
from tests.helpers.storage import migrated_sqlite_copy

pytestmark = pytest.mark.timeout(60)

OWNER = "sup-a"
LEASE = 1.0


class Renewal:
    """``supervisor_heartbeat`` in a thread, as the supervisor's lease lane runs it."""

    def __init__(self, store: HistoryStore, run_id: str) -> None:
        self.answer: LeaseRenewal | None = None
        self.error: BaseException | None = None

        def renew() -> None:
            try:
                self.answer = store.supervisor_heartbeat(
                    OWNER, lease_seconds=LEASE, holding=[run_id]
                )
            except BaseException as exc:  # handed to the test
                self.error = exc

        self.thread = threading.Thread(target=renew, daemon=True)
        self.thread.start()

    def result(self) -> LeaseRenewal:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the renewal never came back"
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


def claimed_run(store: HistoryStore) -> str:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "invoices", version)])
    (run,) = store.claim_queued(OWNER, lease_seconds=LEASE)
    assert run.id == run_id
    return run_id


def lease_end(store: HistoryStore, run_id: str) -> datetime:
    run = store.get_run(run_id)
    assert run is not None and run.lease_expires_at is not None
    return run.lease_expires_at


def db_time(store: HistoryStore) -> datetime:
    with store.engine.connect() as connection:
        return database_now(connection)


def check_renewal_against_a_held_row(
    store: HistoryStore,
    hold: Callable[[str], AbstractContextManager[None]],
    waiting: Callable[[], bool],
) -> None:
    run_id = claimed_run(store)

    # Released while the lease still runs: renewed.
    first_end = lease_end(store, run_id)
    with hold(run_id):
        early = Renewal(store, run_id)
        waited_for(waiting, 10, "the renewal waits on the row")
        assert early.thread.is_alive()
    renewed = early.result()
    assert (renewed.renewed, renewed.lost) == ((run_id,), ())
    end = lease_end(store, run_id)
    assert end > first_end

    # Released after it ended: not renewed, lost, and the lease left as it was.
    with hold(run_id):
        late = Renewal(store, run_id)
        waited_for(waiting, 10, "the renewal waits on the row")
        waited_for(lambda: db_time(store) > end, 10, "the lease ends by the database's clock")
        assert late.thread.is_alive(), "the renewal did not wait for the row"
    refused = late.result()
    assert (refused.renewed, refused.lost) == ((), (run_id,))
    assert lease_end(store, run_id) == end
    assert store.reap_expired_leases() == [run_id]


@pytest.fixture
def postgres_store(postgres_server: PostgresServer) -> Iterator[tuple[HistoryStore, str]]:
    url = postgres_server.new_migrated_database()
    store = HistoryStore.open(url)
    yield store, url
    store.close()


def test_postgresql_refuses_a_renewal_that_waited_past_the_lease(
    postgres_store: tuple[HistoryStore, str],
) -> None:
    import psycopg

    store, url = postgres_store
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    blocker = psycopg.connect(conninfo)
    watcher = psycopg.connect(conninfo, autocommit=True)

    @contextmanager
    def hold(run_id: str) -> Iterator[None]:
        with blocker.transaction():
            blocker.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run_id,))
            yield

    def waiting() -> bool:
        """Some other session of this database waits on a row lock held by ``blocker``."""
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
            (blocker.info.backend_pid,),
        ).fetchone()
        return bool(row and row[0])

    try:
        check_renewal_against_a_held_row(store, hold, waiting)
    finally:
        blocker.close()
        watcher.close()


def test_sqlite_refuses_a_renewal_that_waited_past_the_lease(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    path = migrated_sqlite_copy(migrated_sqlite, tmp_path / "history.sqlite3")
    store = HistoryStore.open(f"sqlite:///{path}", busy_timeout=10.0)
    blocker = sqlite3.connect(path, isolation_level=None, timeout=10.0)

    @contextmanager
    def hold(run_id: str) -> Iterator[None]:
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("COMMIT")

    def waiting() -> bool:
        # SQLite shows nobody its waiters.  The renewal cannot pass its BEGIN IMMEDIATE while
        # the lock is held (its thread is checked alive at the release), so the one released
        # after the lease ended came after it, whenever it started to wait.
        return True

    try:
        check_renewal_against_a_held_row(store, hold, waiting)
    finally:
        blocker.close()
        store.close()
