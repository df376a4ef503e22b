"""The history database inside a backup: copied live with SQLite's backup API, then inspected."""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from supervisor.backup.files import connect, fsync_file
from supervisor.backup.manifest import MAX_RESTARTS, STEP_PAGES, Progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseFacts:
    revisions: tuple[str, ...]
    runs: int
    workflows: int


class DatabaseProblem(Exception):
    """The file is no healthy SQLite database; the text says why."""


class _Restarting(Exception):
    """The stepped copy keeps starting over because the history keeps changing."""


def copy_database(
    source: Path,
    target: Path,
    *,
    step_pages: int = STEP_PAGES,
    busy_timeout: float = 5.0,
    progress: Progress | None = None,
) -> None:
    """Copy a live SQLite database into a new self-contained file with the backup API.

    Each step copies ``step_pages`` pages under a short read lock.  SQLite
    starts a stepped copy over when another connection writes between steps;
    under a steady stream of writes that could go on forever, so after
    ``MAX_RESTARTS`` the copy is made in one step instead: in WAL mode that is
    a single read transaction, a consistent snapshot that never blocks the
    writer.  The copy is switched out of WAL so that it is one file.
    """
    if step_pages == 0 or step_pages < -1:
        raise ValueError(f"step_pages must be positive (or -1 for one step), got {step_pages}")
    restarts = 0
    last_remaining: int | None = None

    def on_step(_status: int, remaining: int, total: int) -> None:
        # A step that did not shrink what is left started over (or the file grew).
        nonlocal restarts, last_remaining
        if last_remaining is not None and remaining >= last_remaining:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise _Restarting
        last_remaining = remaining
        if progress is not None:
            progress(remaining, total)

    with (
        closing(connect(source, "rw", timeout=busy_timeout)) as live,
        closing(sqlite3.connect(target, isolation_level=None)) as copy,
    ):
        try:
            live.backup(copy, pages=step_pages, progress=on_step)
        except _Restarting:
            logger.info(
                "the history changed during every step of the backup; "
                "copying it in one read transaction instead"
            )
            live.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")
    os.chmod(target, 0o600)
    fsync_file(target)


def inspect_database(path: Path) -> DatabaseFacts:
    """Integrity check, schema revision and counts, read without writing a byte."""
    try:
        with closing(connect(path, "ro", immutable=True)) as connection:
            report = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
            if report != ["ok"]:
                raise DatabaseProblem("integrity check: " + "; ".join(report[:3]))
            revisions = tuple(
                str(row[0]) for row in connection.execute("SELECT version_num FROM alembic_version")
            )
            runs = int(connection.execute("SELECT count(*) FROM runs").fetchone()[0])
            workflows = int(connection.execute("SELECT count(*) FROM workflows").fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise DatabaseProblem(str(error)) from None
    return DatabaseFacts(revisions=revisions, runs=runs, workflows=workflows)
