"""Restoring a verified backup: refused while a supervisor runs, swapped in with renames."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from automation.clock import SYSTEM_CLOCK, Clock
from supervisor.backup.files import SQLITE_HEADER, connect, copy_hashed, free_name, fsync_dir
from supervisor.backup.manifest import (
    DATABASE_NAME,
    NOTHING_CHANGED,
    RestoreRefused,
    RestoreResult,
    VerifiedBackup,
    invalid,
    sqlite_database,
)
from supervisor.backup.verification import opened_backup, verify_backup
from supervisor.errors import SupervisorError
from supervisor.instance_lock import LOCK_FILE, InstanceLock, read_lock_holder
from supervisor.paths import DeskpilotPaths

logger = logging.getLogger(__name__)


def restore_backup(
    paths: DeskpilotPaths, source: Path, *, clock: Clock = SYSTEM_CLOCK
) -> RestoreResult:
    """Verify the backup at ``source``, then put its history and workflows in place.

    Nothing is changed unless the whole backup verifies and no supervisor
    runs; the supervisor's own instance lock is held meanwhile so none can
    start halfway.  The replaced database and workflows folder are kept
    beside the new ones (``*.before-restore-<time>``), not deleted.
    """
    database = sqlite_database(paths)
    with opened_backup(source) as root:
        verified = verify_backup(root, str(source))
        lock = _lock_out_supervisor(paths)
        try:
            return _install(paths, database, verified, clock.now().astimezone(UTC))
        finally:
            lock.release()


def _lock_out_supervisor(paths: DeskpilotPaths) -> InstanceLock:
    lock_path = paths.state_dir / LOCK_FILE
    holder = read_lock_holder(lock_path)
    if holder is None:
        lock = InstanceLock(lock_path)
        try:
            lock.acquire()
            return lock
        except SupervisorError:
            holder = read_lock_holder(lock_path) or -1
    pid = f"pid {holder}" if holder > 0 else "pid unknown"
    raise RestoreRefused(
        f"A Deskpilot supervisor is running ({pid}). Stop it with 'deskpilot supervisor stop', "
        f"then restore again. {NOTHING_CHANGED}"
    )


def _install(
    paths: DeskpilotPaths, database: Path, verified: VerifiedBackup, now: datetime
) -> RestoreResult:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    workflows_dir = paths.workflows_dir.absolute()
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    workflows_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _settle(database)
    staged_database = database.with_name(f".{database.name}.restore-{stamp}-{os.getpid()}")
    staged_workflows = workflows_dir.with_name(
        f".{workflows_dir.name}.restore-{stamp}-{os.getpid()}"
    )
    try:
        _stage(verified, staged_database, staged_workflows)
        previous_database = _swap_database(database, staged_database, stamp)
    except BaseException:
        staged_database.unlink(missing_ok=True)
        shutil.rmtree(staged_workflows, ignore_errors=True)
        raise
    try:
        previous_workflows = _swap_workflows(workflows_dir, staged_workflows, stamp)
    finally:
        shutil.rmtree(staged_workflows, ignore_errors=True)
    logger.info(
        "restored %d runs and %d files from %s",
        verified.runs,
        len(verified.manifest.files),
        verified.shown_as,
    )
    return RestoreResult(
        backup=verified,
        database=database,
        previous_database=previous_database,
        workflows_dir=workflows_dir,
        previous_workflows=previous_workflows,
    )


def _settle(database: Path) -> None:
    """Fold the current database's write-ahead log into it, so the file alone holds every commit.

    After this, keeping the old file aside under another name loses nothing,
    and no stale ``-wal`` can be replayed onto the restored file.
    """
    if not database.exists():
        return
    with database.open("rb") as stream:
        header = stream.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER and database.stat().st_size > 0:
        # Opening it would let SQLite discard the -wal beside it: keep both as they are.
        logger.warning("the current history database %s is not a SQLite file", database)
        return
    try:
        with closing(connect(database, "rw", timeout=2.0)) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            busy = 1
        else:
            logger.warning("the current history database %s is unreadable: %s", database, error)
            return
    except sqlite3.DatabaseError as error:
        logger.warning("the current history database %s is unreadable: %s", database, error)
        return
    if busy:
        raise RestoreRefused(
            f"The history database {database} is in use by another program (a 'deskpilot' "
            f"command or a database browser). Close it, then restore again. {NOTHING_CHANGED}"
        )


def _stage(verified: VerifiedBackup, staged_database: Path, staged_workflows: Path) -> None:
    """Copy the backup next to the live files, checking each copy against the manifest again.

    The second check covers the backup changing after it was verified: what
    is installed is exactly what was hashed.
    """
    staged_workflows.mkdir(mode=0o700)
    for entry in verified.manifest.files:
        source = verified.root / entry.path
        if entry.path == DATABASE_NAME:
            target = staged_database
        else:
            target = staged_workflows.joinpath(*PurePosixPath(entry.path).parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if copy_hashed(source, target) != (entry.size, entry.sha256):
            raise invalid(verified.shown_as, f"{entry.path} changed while it was being restored")
        if target != staged_database:
            shutil.copystat(source, target)
    os.chmod(staged_database, 0o600)
    for directory, _subdirs, _names in os.walk(staged_workflows):
        fsync_dir(Path(directory))


def _swap_database(database: Path, staged: Path, stamp: str) -> Path | None:
    """Replace the database with one rename; keep the old one under a ``before-restore`` name."""
    aside = free_name(database.with_name(f"{database.name}.before-restore-{stamp}"))
    previous: Path | None = None
    if database.exists():
        try:
            os.link(database, aside)
        except OSError:
            shutil.copy2(database, aside)
        os.chmod(aside, 0o600)
        previous = aside
    for suffix in ("-wal", "-shm", "-journal"):
        # Empty after _settle, unless the old file was unreadable: keep them with it.
        leftover = database.with_name(database.name + suffix)
        if leftover.exists():
            os.replace(leftover, aside.with_name(aside.name + suffix))
    os.replace(staged, database)
    fsync_dir(database.parent)
    return previous


def _swap_workflows(folder: Path, staged: Path, stamp: str) -> Path | None:
    previous: Path | None = None
    if folder.exists() or folder.is_symlink():
        previous = free_name(folder.with_name(f"{folder.name}.before-restore-{stamp}"))
        os.rename(folder, previous)
    try:
        os.rename(staged, folder)
    except OSError:
        if previous is not None:
            os.rename(previous, folder)
        raise
    fsync_dir(folder.parent)
    return previous
