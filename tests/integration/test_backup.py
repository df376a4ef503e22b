"""Backups of a live history, and restores that check everything before changing anything.

Real SQLite files, a real writer thread committing while the backup copies,
the real instance lock, and the ``deskpilot`` command line as subprocesses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.backup import (
    DATABASE_NAME,
    MANIFEST_NAME,
    SECRETS_NOTE,
    BackupError,
    BackupInvalid,
    BackupTooNew,
    RestoreRefused,
    create_backup,
    restore_backup,
    verify_backup,
)
from supervisor.instance_lock import InstanceLock
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from supervisor.store.migrate import head_revision
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, short_home, write_workflow
from tests.helpers.storage import RunEvents, sqlite_rows

STEPS_PER_RUN = 3

CLI_BOOT = "from supervisor.cli.main import main\nmain()\n"


@pytest.fixture
def paths(tmp_path: Path) -> DeskpilotPaths:
    paths = DeskpilotPaths.under(tmp_path / "home").ensure()
    (paths.workflows_dir / "invoices.yaml").write_text("name: invoices\n", encoding="utf-8")
    (paths.workflows_dir / "data").mkdir()
    (paths.workflows_dir / "data" / "rates.csv").write_text("eur,1\n", encoding="utf-8")
    return paths


@pytest.fixture
def store(paths: DeskpilotPaths) -> Iterator[HistoryStore]:
    store = HistoryStore.open(paths.database_url)
    yield store
    store.close()


def add_runs(store: HistoryStore, count: int, start: datetime | None = None) -> list[str]:
    """``count`` finished runs of ``STEPS_PER_RUN`` steps, committed in one transaction."""
    runs = [RunEvents(start=start or datetime.now(UTC)) for _ in range(count)]
    store.record([event for run in runs for event in run.whole_run(STEPS_PER_RUN)])
    return [run.run_id for run in runs]


def run_count(database: Path) -> int:
    return int(sqlite_rows(database, "SELECT count(*) FROM runs")[0][0])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its hash: what "nothing changed" is checked against."""
    return {
        str(path.relative_to(folder)): sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def rewrite_manifest_entry(backup: Path, relative: str, **manifest_fields: str) -> None:
    """Make the manifest agree with a file changed on purpose, as a careful forger would."""
    manifest_path = backup / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        if entry["path"] == relative:
            entry["size"] = (backup / relative).stat().st_size
            entry["sha256"] = sha256(backup / relative)
    manifest.update(manifest_fields)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


class Writer(threading.Thread):
    """Keeps committing whole runs through the store, as the supervisor does."""

    def __init__(self, store: HistoryStore) -> None:
        super().__init__(name="history-writer", daemon=True)
        self.store = store
        self.written = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                add_runs(self.store, 1)
                self.written += 1
        except BaseException as error:  # reported by the test
            self.error = error

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        assert not self.is_alive()
        assert self.error is None, self.error


# -- backup ---------------------------------------------------------------------------


def test_backup_while_a_writer_keeps_committing_is_a_consistent_snapshot(
    paths: DeskpilotPaths,
    store: HistoryStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_runs(store, 200)
    writer = Writer(store)
    writer.start()
    steps = 0

    def progress(remaining: int, total: int) -> None:
        # Hold the copy between steps until the writer commits: SQLite must start over.
        nonlocal steps
        steps += 1
        seen = writer.written
        eventually(lambda: writer.written > seen or writer.error is not None, timeout=5)

    try:
        eventually(lambda: writer.written > 0)
        before = store.count_runs()
        with caplog.at_level(logging.INFO, logger="supervisor.backup"):
            result = create_backup(paths, tmp_path / "backup", step_pages=4, progress=progress)
        after = store.count_runs()
    finally:
        writer.stop()

    copy = result.location / DATABASE_NAME
    assert steps > 1
    assert after > before, "the writer kept committing while the backup ran"
    assert sqlite_rows(copy, "PRAGMA integrity_check") == [("ok",)]
    assert before <= run_count(copy) <= after
    assert result.manifest.counts["runs"] == run_count(copy)
    # One snapshot: no run without the steps committed with it.
    assert sqlite_rows(
        copy,
        "SELECT count(*) FROM runs WHERE (SELECT count(*) FROM step_runs s "
        "WHERE s.run_id = runs.id) != ?",
        STEPS_PER_RUN,
    ) == [(0,)]
    assert "copying it in one read transaction" in caplog.text
    # The copy is one self-contained file, not a WAL database needing its -wal.
    assert sqlite_rows(copy, "PRAGMA journal_mode") == [("delete",)]


def test_a_quiet_history_is_copied_in_steps_without_starting_over(
    paths: DeskpilotPaths, store: HistoryStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_runs(store, 50)
    left: list[int] = []

    with caplog.at_level(logging.INFO, logger="supervisor.backup"):
        result = create_backup(
            paths,
            tmp_path / "backup",
            step_pages=2,
            progress=lambda remaining, _: left.append(remaining),
        )

    assert len(left) > 3
    assert left == sorted(left, reverse=True) and left[-1] == 0
    assert "one read transaction" not in caplog.text
    assert run_count(result.location / DATABASE_NAME) == 50


def test_the_manifest_holds_the_hash_and_size_of_every_file(
    paths: DeskpilotPaths, store: HistoryStore, tmp_path: Path
) -> None:
    add_runs(store, 5)

    result = create_backup(paths, tmp_path / "backup")

    manifest = json.loads((result.location / MANIFEST_NAME).read_text(encoding="utf-8"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = {
        path.relative_to(result.location).as_posix()
        for path in result.location.rglob("*")
        if path.is_file()
    }
    assert on_disk - {MANIFEST_NAME} == set(listed)
    assert set(listed) == {DATABASE_NAME, "workflows/invoices.yaml", "workflows/data/rates.csv"}
    for relative, entry in listed.items():
        path = result.location / relative
        assert entry["sha256"] == sha256(path), relative
        assert entry["size"] == path.stat().st_size, relative
    assert (result.location / "workflows" / "data" / "rates.csv").read_text() == "eur,1\n"
    assert manifest["schema_revision"] == head_revision()
    assert manifest["deskpilot_version"] == "0.1.0"
    assert manifest["counts"]["runs"] == 5
    assert manifest["source"]["database"] == str(paths.data_dir / DATABASE_NAME)
    assert manifest["source"]["workflows_dir"] == str(paths.workflows_dir)
    assert manifest["not_included"]["secrets"] == SECRETS_NOTE
    created = datetime.fromisoformat(manifest["created_at"])
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


def test_the_default_location_is_a_timestamped_folder_under_the_data_dir(
    paths: DeskpilotPaths, store: HistoryStore
) -> None:
    first = create_backup(paths)
    second = create_backup(paths)

    assert first.location.parent == paths.data_dir / "backups"
    assert first.location.name.startswith("deskpilot-") and first.location.name.endswith("Z")
    assert second.location != first.location
    assert not [p for p in first.location.parent.iterdir() if p.name.startswith(".")]


def test_a_backup_never_overwrites_an_existing_folder(
    paths: DeskpilotPaths, store: HistoryStore, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")

    with pytest.raises(BackupError, match="already exists"):
        create_backup(paths, taken)

    assert [p.name for p in taken.iterdir()] == ["keep.txt"]


def test_non_sqlite_databases_are_sent_to_their_own_tools(tmp_path: Path) -> None:
    paths = DeskpilotPaths.under(
        tmp_path / "home", database_url="postgresql://deskpilot:pw@localhost/history"
    )

    with pytest.raises(BackupError, match="own tools") as raised:
        create_backup(paths)

    assert "pg_dump" in str(raised.value)
    assert "pw" not in str(raised.value)


# -- restore --------------------------------------------------------------------------


def test_restore_brings_back_deleted_runs_and_the_workflows_folder(
    paths: DeskpilotPaths, tmp_path: Path
) -> None:
    store = HistoryStore.open(paths.database_url)
    ids = add_runs(store, 7)
    backup = create_backup(paths, tmp_path / "backup").location
    store.prune(max_runs=1)
    assert store.count_runs() == 1
    store.close()
    (paths.workflows_dir / "invoices.yaml").write_text("name: edited\n", encoding="utf-8")
    (paths.workflows_dir / "new.yaml").write_text("name: new\n", encoding="utf-8")

    result = restore_backup(paths, backup)

    store = HistoryStore.open(paths.database_url)
    try:
        assert {run.id for run in store.list_runs(limit=None)} == set(ids)
        assert len(store.steps(ids[0])) == STEPS_PER_RUN
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    assert (paths.workflows_dir / "invoices.yaml").read_text() == "name: invoices\n"
    assert not (paths.workflows_dir / "new.yaml").exists()
    assert (paths.workflows_dir / "data" / "rates.csv").read_text() == "eur,1\n"
    # What was replaced is kept, not deleted.
    assert result.previous_workflows is not None
    assert result.previous_workflows.name.startswith("workflows.before-restore-")
    assert (result.previous_workflows / "new.yaml").read_text() == "name: new\n"
    assert result.previous_database is not None
    assert run_count(result.previous_database) == 1
    assert result.backup.runs == 7
    assert not [p for p in paths.data_dir.iterdir() if p.name.startswith(".")]


def test_restore_replaces_a_corrupt_database_and_sets_its_stale_log_aside(
    paths: DeskpilotPaths, store: HistoryStore, tmp_path: Path
) -> None:
    ids = add_runs(store, 3)
    backup = create_backup(paths, tmp_path / "backup", archive=True).location
    store.close()
    database = paths.data_dir / DATABASE_NAME
    database.write_bytes(b"this is not a database" * 100)
    stale_log = database.with_name(DATABASE_NAME + "-wal")
    stale_log.write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 28)

    result = restore_backup(paths, backup)

    assert backup.name.endswith(".tar.gz")
    assert not stale_log.exists()
    assert result.previous_database is not None
    assert result.previous_database.with_name(result.previous_database.name + "-wal").exists()
    reopened = HistoryStore.open(paths.database_url)
    try:
        assert {run.id for run in reopened.list_runs(limit=None)} == set(ids)
        assert reopened.integrity_check() == "ok"
    finally:
        reopened.close()


@pytest.fixture
def backup_and_state(
    paths: DeskpilotPaths, tmp_path: Path
) -> tuple[Path, Callable[[], dict[str, str]]]:
    """A good backup, and a snapshot of the live home taken with no database open."""
    store = HistoryStore.open(paths.database_url)
    add_runs(store, 4)
    backup = create_backup(paths, tmp_path / "backup").location
    add_runs(store, 2)
    store.close()
    home = paths.data_dir.parent
    return backup, lambda: snapshot(home)


def test_restore_refuses_a_tampered_database_copy_and_changes_nothing(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, state = backup_and_state
    before = state()
    copy = backup / DATABASE_NAME
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))

    with pytest.raises(
        BackupInvalid, match=f"{DATABASE_NAME} does not match its SHA-256"
    ) as raised:
        restore_backup(paths, backup)

    assert "Nothing was changed" in str(raised.value)
    assert state() == before
    assert run_count(paths.data_dir / DATABASE_NAME) == 6


def test_restore_refuses_a_backup_with_a_missing_file(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, state = backup_and_state
    before = state()
    (backup / "workflows" / "data" / "rates.csv").unlink()

    with pytest.raises(BackupInvalid, match="workflows/data/rates.csv is missing"):
        restore_backup(paths, backup)

    assert state() == before


def test_restore_refuses_files_the_manifest_does_not_list(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, state = backup_and_state
    before = state()
    (backup / "workflows" / "planted.yaml").write_text("name: planted\n")

    with pytest.raises(BackupInvalid, match="workflows/planted.yaml is not listed"):
        restore_backup(paths, backup)

    assert state() == before


def test_restore_refuses_a_damaged_database_whose_manifest_was_updated(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, state = backup_and_state
    before = state()
    copy = backup / DATABASE_NAME
    with copy.open("r+b") as stream:
        stream.truncate(copy.stat().st_size // 2)
    rewrite_manifest_entry(backup, DATABASE_NAME)

    with pytest.raises(BackupInvalid, match=f"{DATABASE_NAME} is not a healthy database"):
        restore_backup(paths, backup)

    assert state() == before


def test_restore_refuses_a_backup_from_a_newer_schema(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, state = backup_and_state
    before = state()
    connection = sqlite3.connect(backup / DATABASE_NAME)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    connection.close()
    rewrite_manifest_entry(backup, DATABASE_NAME, schema_revision="9999_future")

    with pytest.raises(BackupTooNew, match="newer version of Deskpilot") as raised:
        restore_backup(paths, backup)

    assert "9999_future" in str(raised.value)
    assert state() == before


def test_restore_refuses_while_a_supervisor_holds_the_instance_lock(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, state = backup_and_state
    lock = InstanceLock(paths.state_dir / "deskpilotd.lock")
    lock.acquire()
    try:
        before = state()
        with pytest.raises(RestoreRefused, match="supervisor is running") as raised:
            restore_backup(paths, backup)
        assert f"pid {os.getpid()}" in str(raised.value)
        assert "deskpilot supervisor stop" in str(raised.value)
        assert state() == before
    finally:
        lock.release()

    assert restore_backup(paths, backup).backup.runs == 4


def test_verify_rejects_manifest_paths_outside_the_backup(
    paths: DeskpilotPaths, backup_and_state: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    backup, _state = backup_and_state
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    manifest["files"].append({"path": "workflows/../../escape", "size": 0, "sha256": "0" * 64})
    (backup / MANIFEST_NAME).write_text(json.dumps(manifest))

    with pytest.raises(BackupInvalid, match="unexpected path"):
        verify_backup(backup)


# -- the command line -------------------------------------------------------------------


def deskpilot(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI_BOOT, *args],
        env={**os.environ, "DESKPILOT_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_backup_and_restore_round_trip(paths: DeskpilotPaths, tmp_path: Path) -> None:
    home = paths.data_dir.parent
    store = HistoryStore.open(paths.database_url)
    ids = add_runs(store, 3)
    store.close()

    made = deskpilot(home, "backup", str(tmp_path / "saved"))
    assert made.returncode == 0, made.stderr
    assert f"Backup written to {tmp_path / 'saved'}" in made.stdout
    assert "3 runs" in made.stdout
    assert "keyring" in made.stdout
    (paths.data_dir / DATABASE_NAME).unlink()

    asked = deskpilot(home, "restore", str(tmp_path / "saved"))
    assert asked.returncode == 2
    assert "--yes" in asked.stderr
    assert not (paths.data_dir / DATABASE_NAME).exists()

    restored = deskpilot(home, "restore", "--yes", str(tmp_path / "saved"))
    assert restored.returncode == 0, restored.stderr
    assert "Restored history: 3 runs" in restored.stdout
    assert run_count(paths.data_dir / DATABASE_NAME) == 3
    assert {
        row[0] for row in sqlite_rows(paths.data_dir / DATABASE_NAME, "SELECT id FROM runs")
    } == set(ids)


def test_backup_works_and_restore_is_refused_while_a_real_supervisor_runs() -> None:
    home = short_home("dp-backup-")
    daemon = RunningDaemon(home, api=False).start()
    try:
        supervisor = daemon.parts.supervisor
        workflow = write_workflow(daemon.paths.workflows_dir, "echo")
        run_id = daemon.call(lambda: supervisor.submit(supervisor.load(workflow), {}))
        eventually(
            lambda: (
                (run := daemon.parts.store.get_run(run_id)) is not None
                and run.status == RunStatus.SUCCEEDED
            ),
            timeout=30,
        )

        made = deskpilot(home, "backup", str(home / "saved"))
        assert made.returncode == 0, made.stderr
        assert "1 run " in made.stdout
        assert "1 workflow file" in made.stdout
        assert run_count(home / "saved" / DATABASE_NAME) == 1

        database = daemon.paths.data_dir / DATABASE_NAME
        before = sha256(home / "workflows" / "echo.yaml")
        refused = deskpilot(home, "restore", "--yes", str(home / "saved"))
        assert refused.returncode == 1
        assert "supervisor is running" in refused.stderr
        assert f"pid {os.getpid()}" in refused.stderr
        assert "deskpilot supervisor stop" in refused.stderr
        assert database.exists()
        assert sha256(home / "workflows" / "echo.yaml") == before
        assert not list(home.glob("workflows.before-restore-*"))
    finally:
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_cli_history_prune_follows_the_config_file_and_removes_artifacts(
    paths: DeskpilotPaths,
) -> None:
    home = paths.data_dir.parent
    store = HistoryStore.open(paths.database_url)
    old = add_runs(store, 2, start=datetime(2020, 1, 1, tzinfo=UTC))
    new = add_runs(store, 1)
    store.close()
    for run_id in [*old, *new]:
        (paths.artifacts_dir / run_id).mkdir()
    config = paths.config_dir / "config.toml"
    config.write_text("[retention]\nmax_age_days = 30\n", encoding="utf-8")

    dry = deskpilot(home, "history", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2 runs (older than 30 days or beyond the newest 100000 runs)" in dry.stdout
    assert run_count(paths.data_dir / DATABASE_NAME) == 3

    pruned = deskpilot(home, "history", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 2 runs" in pruned.stdout
    assert "1 run left" in pruned.stdout
    assert {p.name for p in paths.artifacts_dir.iterdir()} == set(new)

    config.write_text("[retention]\nmax_age_days = -1\n", encoding="utf-8")
    refused = deskpilot(home, "history", "prune")
    assert refused.returncode == 1
    assert "max_age_days" in refused.stderr and "config.toml" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run_count(paths.data_dir / DATABASE_NAME) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("9" * 5000, "cannot be read.*digits"),
    ],
    ids=["deep", "digits"],
)
def test_a_hostile_manifest_is_a_clear_refusal_not_a_traceback(
    paths: DeskpilotPaths,
    backup_and_state: tuple[Path, Callable[[], dict[str, str]]],
    extra: str,
    message: str,
) -> None:
    backup, state = backup_and_state
    before = state()
    text = (backup / MANIFEST_NAME).read_text()
    (backup / MANIFEST_NAME).write_text(text.rstrip()[:-1] + f', "extra": {extra}}}')
    with pytest.raises(BackupInvalid, match=message):
        verify_backup(backup)
    with pytest.raises(BackupInvalid, match=message):
        restore_backup(paths, backup)
    assert state() == before
