"""Environmental failures come out as StoreError saying what happened and what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from supervisor.store import (
    ConstraintViolated,
    DatabaseCorrupt,
    DatabaseLocked,
    DiskFull,
    HistoryStore,
    StoreError,
)
from supervisor.store.engine import make_engine
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from supervisor.store.types import to_micros
from tests.helpers.storage import RunEvents


def test_a_locked_database_says_so_and_loses_nothing(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    run = RunEvents()
    sqlite_store.record([run.run_started(), *run.step(1)])
    locker = sqlite3.connect(sqlite_store_path, isolation_level=None, timeout=0.1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseLocked) as raised:
            sqlite_store.record(run.step(2))
        # Readers are not blocked by the writer in WAL mode.
        assert [s.step for s in sqlite_store.steps(run.run_id)] == [1]
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    message = str(raised.value)
    assert str(sqlite_store_path) in message
    assert "locked" in message
    assert "0.2 s" in message
    assert "Close other Deskpilot instances" in message
    assert "Nothing that was already saved has been lost" in message
    sqlite_store.record(run.step(2))
    assert [s.step for s in sqlite_store.steps(run.run_id)] == [1, 2]


def test_a_full_disk_says_so_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    url = f"sqlite:///{path}"
    run = RunEvents()
    with HistoryStore.open(url) as store:
        store.record([run.run_started(), *run.step(1)])
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]

    # A database that may not grow is what SQLite reports when the disk is full.
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _limit_growth(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    store = HistoryStore(engine, owns_engine=True)
    try:
        big = [{"blob": "x" * 200_000}]
        with pytest.raises(DiskFull) as raised:
            store.record(run.step(2, emissions=big))
        steps = store.steps(run.run_id)
    finally:
        store.close()

    message = str(raised.value)
    assert "full" in message
    assert str(path) in message
    assert "Free some space" in message
    assert [(s.step, s.status.value) for s in steps] == [(1, "succeeded")]


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"these are not the pages you are looking for" * 200)

    with pytest.raises(DatabaseCorrupt) as raised:
        HistoryStore.open(f"sqlite:///{path}")

    assert str(path) in str(raised.value)
    assert "backup" in str(raised.value)


def test_store_errors_are_deskpilot_errors() -> None:
    from automation.errors import DeskpilotError

    assert issubclass(StoreError, DeskpilotError)
    assert issubclass(DatabaseLocked, StoreError)


def test_a_write_that_breaks_a_constraint_is_a_store_error_naming_what_conflicted(
    store: HistoryStore,
) -> None:
    """Both backends: a unique key taken (a run id queued twice), a required value missing."""
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    store.create_runs([QueuedRow("run-0001", "invoices", version)])
    with pytest.raises(ConstraintViolated) as taken:
        store.create_runs([QueuedRow("run-0001", "invoices", version)])
    error = taken.value
    assert isinstance(error, StoreError) and error.__cause__ is not None
    assert (error.kind, error.table) == ("unique", "runs")
    message = str(error)
    assert message.startswith(f"The history database {store.database} refused a write")
    # SQLite names the column ("runs.id"), PostgreSQL the key ("Key (id)=(run-0001)")
    assert "runs.id" in message or "(id)=(run-0001)" in message, message
    assert "Nothing of that write was saved" in message
    assert len(store.list_runs(limit=None)) == 1

    with pytest.raises(ConstraintViolated) as missing:  # outside HistoryStore's own writes
        TriggerRows(store).save_many([{"workflow_name": "w", "trigger_key": "w:0"}])
    assert (missing.value.kind, missing.value.table) == ("not null", "triggers")


def test_naive_timestamps_are_refused_with_a_clear_message() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        to_micros(datetime(2026, 1, 1))
