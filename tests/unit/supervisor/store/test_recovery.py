"""The history file deleted or replaced under an open store: writes refused, then recovered.

Real SQLite files: the store notices the vanished file on the next write
(``DatabaseGone``), ``divert`` copies what the open connection still reads
into a recovery file and writes there, and a store opened on the path again
imports it: once, whatever was already there.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.errors import DatabaseGone
from supervisor.triggers.state import NotRun, TriggerStateStore
from tests.helpers.storage import RunEvents


def delete_files(database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def test_a_deleted_file_refuses_writes_and_says_what_to_do(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    assert sqlite_store.problem() is None
    delete_files(sqlite_store_path)
    assert "was deleted" in (sqlite_store.problem() or "")
    run = RunEvents()
    with pytest.raises(DatabaseGone, match="was deleted.*recovery file"):
        sqlite_store.record(run.whole_run(1))
    with pytest.raises(DatabaseGone):
        sqlite_store.create_run(run.run_id, run.workflow)
    assert not sqlite_store_path.exists()  # nothing wrote a new, empty file there


def test_a_replaced_file_refuses_writes(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    copy = sqlite_store_path.with_name("copy.sqlite3")
    shutil.copyfile(sqlite_store_path, copy)
    os.replace(copy, sqlite_store_path)
    assert "replaced by another file" in (sqlite_store.problem() or "")
    with pytest.raises(DatabaseGone):
        sqlite_store.create_run(RunEvents().run_id, "invoices")


def test_diverted_history_is_imported_once_by_the_next_store(tmp_path: Path) -> None:
    database = tmp_path / "history.sqlite3"
    store = HistoryStore.open(f"sqlite:///{database}")
    version = store.save_workflow_version("invoices", "/flows/invoices.yaml", "v: 1")
    before, during = RunEvents(), RunEvents()
    store.create_run(before.run_id, before.workflow, version=version)
    store.record(before.whole_run(2))
    store.create_run(during.run_id, during.workflow, version=version)
    store.record([during.run_started(), *during.step(1)])

    delete_files(database)
    pending = [*during.step(2), during.run_finished(steps=2)]
    with pytest.raises(DatabaseGone):
        store.record(pending)
    recovery = store.divert()
    store.record(pending)  # what waited in memory lands in the recovery file
    store.close()
    assert recovery.parent == tmp_path and recovery.name.startswith("history.sqlite3.recovery-")

    # A new database at the path: both runs come back, with their steps and version.
    again = HistoryStore.open(f"sqlite:///{database}")
    try:
        [(path, copied)] = again.import_recoveries()
        assert path == recovery and copied == 2
        for run in (before, during):
            record = again.get_run(run.run_id)
            assert record is not None and record.status is RunStatus.SUCCEEDED
            assert [s.step for s in again.steps(run.run_id)] == [1, 2]
            assert record.version_id is not None
            assert again.version_content(record.version_id) == "v: 1"
        assert again.import_recoveries() == []  # renamed: imported once
        assert recovery.with_name(recovery.name + ".imported").exists()
    finally:
        again.close()


def test_importing_skips_runs_already_held_as_they_are(tmp_path: Path) -> None:
    database = tmp_path / "history.sqlite3"
    store = HistoryStore.open(f"sqlite:///{database}")
    done = RunEvents()
    store.create_run(done.run_id, done.workflow)
    store.record(done.whole_run(1))
    # Replaced by a copy of itself (same content, another file): nothing differs but new events.
    copy = database.with_name("copy.sqlite3")
    store.close()
    store = HistoryStore.open(f"sqlite:///{database}")
    shutil.copyfile(database, copy)
    os.replace(copy, database)
    store.divert()
    store.close()
    again = HistoryStore.open(f"sqlite:///{database}")
    try:
        [(_, copied)] = again.import_recoveries()
        assert copied == 0
        assert again.count_runs() == 1
    finally:
        again.close()


def test_trigger_state_is_not_written_into_a_deleted_file(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    database = tmp_path / "history.sqlite3"
    with HistoryStore.open(f"sqlite:///{database}") as store:
        states = TriggerStateStore(store, lambda: now)
        delete_files(database)
        with pytest.raises(DatabaseGone):
            states.record_not_run(
                [NotRun(workflow="w", trigger="schedule:w:0@x", error="x", at=now)]
            )


def test_writes_resume_once_the_same_file_is_back(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    aside = sqlite_store_path.with_name("aside.sqlite3")
    run = RunEvents()
    sqlite_store_path.rename(aside)
    with pytest.raises(DatabaseGone):
        sqlite_store.create_run(run.run_id, run.workflow)
    aside.rename(sqlite_store_path)  # the same file (device and inode) at its path again
    assert sqlite_store.problem() is None
    sqlite_store.create_run(run.run_id, run.workflow)
    sqlite_store.record(run.whole_run(1))
    record = sqlite_store.get_run(run.run_id)
    assert record is not None and record.status is RunStatus.SUCCEEDED
