"""Alembic owns the schema: a new file is migrated to head, a newer one is refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.schema import CreateIndex

from supervisor.store import DatabaseTooNew, HistoryStore, StoreError
from supervisor.store.engine import make_engine
from supervisor.store.migrate import HEAD_REVISION, head_revision, is_current, upgrade_in_child
from supervisor.store.schema import PARTIAL_INDEXES, metadata, runs
from tests.helpers.storage import sqlite_rows


def test_a_new_database_is_created_at_head_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "history.sqlite3"

    store = HistoryStore.open(f"sqlite:///{path}")
    try:
        tables = set(inspect(store.engine).get_table_names())
    finally:
        store.close()

    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert sqlite_rows(path, "PRAGMA journal_mode") == [("wal",)]


def test_the_head_revision_constant_is_alembics_head() -> None:
    """Opens at head skip Alembic by comparing with the constant: a new revision must move it."""
    assert head_revision() == HEAD_REVISION


def test_opening_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    HistoryStore.open(f"sqlite:///{path}").close()
    probe = (
        "import sys\n"
        "from supervisor.store import HistoryStore\n"
        f"HistoryStore.open('sqlite:///{path}').close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_migrations_build_exactly_the_schema_the_code_queries(store: HistoryStore) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_a_postgresql_engine_gives_the_partial_indexes_their_where() -> None:
    # Alembic's comparison leaves WHERE clauses out, and the tables name PostgreSQL's only
    # once a PostgreSQL engine is made (``schema.add_postgresql_options``): DDL built from
    # the tables there must still make partial indexes, or one desktop run in the whole
    # history could hold a machine's desktop.
    engine = make_engine("postgresql+psycopg://deskpilot@127.0.0.1:1/unused")  # never connects
    try:
        ddl = {
            str(index.name): str(CreateIndex(index).compile(dialect=engine.dialect))
            for index in runs.indexes
            if index.name in PARTIAL_INDEXES
        }
    finally:
        engine.dispose()

    assert set(ddl) == set(PARTIAL_INDEXES)
    for name, where in PARTIAL_INDEXES.items():
        assert ddl[name].endswith(f"WHERE {where}"), ddl[name]


def test_every_connection_gets_the_pragmas(store: HistoryStore) -> None:
    with store.engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            pytest.skip("pragmas are SQLite's")
        values = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    # synchronous=1 is NORMAL.
    assert values == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }


def test_reopening_keeps_the_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    with HistoryStore.open(url) as store:
        store.create_run("a" * 32, "invoices")
    with HistoryStore.open(url) as store:
        record = store.get_run("a" * 32)
    assert record is not None and record.workflow_name == "invoices"


def _from_a_newer_deskpilot(path: Path) -> None:
    """A history database as a future Deskpilot would leave it."""
    HistoryStore.open(f"sqlite:///{path}").close()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
        connection.execute("CREATE TABLE from_the_future (x)")
    connection.close()


def test_a_database_from_a_newer_deskpilot_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _from_a_newer_deskpilot(path)

    with pytest.raises(DatabaseTooNew) as raised:
        HistoryStore.open(f"sqlite:///{path}")

    message = str(raised.value)
    assert str(path) in message
    assert "newer version of Deskpilot" in message
    assert "9999_future" in message
    assert "Update Deskpilot" in message
    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [("9999_future",)]


def test_a_migration_in_a_child_creates_the_database_at_head(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"

    upgrade_in_child(f"sqlite:///{path}")

    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert ("table", "runs") in sqlite_rows(path, "SELECT type, name FROM sqlite_master")


def test_a_migration_in_a_child_raises_the_childs_error_here(tmp_path: Path) -> None:
    """The daemon migrates in a child; the user still reads the same message."""
    path = tmp_path / "history.sqlite3"
    _from_a_newer_deskpilot(path)

    with pytest.raises(DatabaseTooNew) as raised:
        upgrade_in_child(f"sqlite:///{path}")

    assert "newer version of Deskpilot" in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_migration_in_a_child_that_cannot_open_the_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes " * 200)

    with pytest.raises(StoreError, match="damaged or is not a Deskpilot database"):
        upgrade_in_child(f"sqlite:///{path}")


def test_two_processes_opening_a_new_database_at_once_both_succeed(tmp_path: Path) -> None:
    """Migrations run under the write lock, so a second opener waits and then finds head."""
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def open_store() -> None:
        barrier.wait()
        try:
            HistoryStore.open(url).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sqlite_rows(tmp_path / "history.sqlite3", "SELECT count(*) FROM alembic_version") == [
        (1,)
    ]


def test_a_database_at_the_first_revision_is_upgraded_with_its_runs(tmp_path: Path) -> None:
    """Revision 0002 adds the trigger-label index to a history that already holds runs."""
    from alembic import command
    from sqlalchemy import create_engine

    from supervisor.store.migrate import alembic_config

    path = tmp_path / "history.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_initial")
    engine.dispose()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "INSERT INTO runs (id, workflow_name, status, trigger, queued_at, priority)"
            " VALUES (?, 'invoices', 'succeeded', 'schedule:invoices:0@x', 0, 0)",
            ("b" * 32,),
        )
    connection.close()

    with HistoryStore.open(f"sqlite:///{path}") as store:
        record = store.get_run("b" * 32)

    assert record is not None and record.trigger == "schedule:invoices:0@x"
    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert ("ix_runs_workflow_name_trigger",) in sqlite_rows(
        path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'"
    )


def test_looking_up_fire_labels_uses_the_index_not_a_scan(tmp_path: Path) -> None:
    """The restart-time label look-ups must not read every run of the workflow."""
    path = tmp_path / "history.sqlite3"
    HistoryStore.open(f"sqlite:///{path}").close()
    plans = {
        "recorded": sqlite_rows(
            path,
            "EXPLAIN QUERY PLAN SELECT trigger FROM runs"
            " WHERE workflow_name = 'w' AND trigger IN ('a', 'b')",
        ),
        "newest": sqlite_rows(
            path,
            "EXPLAIN QUERY PLAN SELECT max(trigger) FROM runs"
            " WHERE workflow_name = 'w' AND trigger >= 'a' AND trigger < 'b'",
        ),
    }
    for name, plan in plans.items():
        details = " ".join(str(row[-1]) for row in plan)
        assert "ix_runs_workflow_name_trigger" in details, (name, details)


def test_a_fresh_postgresql_database_migrates_in_a_child_and_then_opens(postgres_url: str) -> None:
    # A new PostgreSQL database has no alembic_version table, and says so with
    # ProgrammingError (UndefinedTable), not SQLite's OperationalError.
    assert not is_current(postgres_url)

    upgrade_in_child(postgres_url)

    assert is_current(postgres_url)
    HistoryStore.open(postgres_url).close()
