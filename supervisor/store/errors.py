"""Errors raised by the history store.

The hierarchy, root first::

    DeskpilotError                  (automation.errors)
    └── StoreError                  the history database cannot be used right now
        ├── DatabaseLocked          another process held the write lock past the busy timeout
        ├── DiskFull                SQLite could not grow the file: the disk (or quota) is full
        ├── DatabaseTooNew          the file was migrated by a newer Deskpilot
        ├── DatabaseCorrupt         the file is not a readable SQLite database
        ├── DatabaseGone            the file was deleted or replaced while it was open
        └── RunNotFound             no run with that id is in the history

Every message names the database and says what to do, because these reach the
user as is (tray notification, CLI error line).  A failed write rolls back its
own transaction only: nothing committed before it is lost.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

from automation.errors import DeskpilotError

_NOTHING_LOST = "Nothing that was already saved has been lost."


class StoreError(DeskpilotError):
    """The history database cannot be used right now."""


class DatabaseLocked(StoreError):
    """Another process kept the database locked for longer than the busy timeout."""


class DiskFull(StoreError):
    """The database could not grow: the disk or the user's quota is full."""


class DatabaseTooNew(StoreError):
    """The database schema is newer than this build of Deskpilot understands."""


class DatabaseCorrupt(StoreError):
    """The file is not a database SQLite can read."""


class DatabaseGone(StoreError):
    """The history file was deleted or replaced while open: writes into it would be lost."""


class RunNotFound(StoreError, LookupError):
    """No run with the given id is in the history."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id '{run_id}' in the history")
        self.run_id = run_id


def translate(error: BaseException, database: str, busy_timeout: float | None = None) -> StoreError:
    """Turn a driver error into a StoreError whose message says what happened and what to do.

    ``database`` is how the user knows the database: a file path for SQLite,
    the URL without password otherwise.
    """
    if isinstance(error, StoreError):
        return error
    original = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    text = str(original).lower()
    if "database is locked" in text or "database table is locked" in text:
        waited = f" for {busy_timeout:g} s" if busy_timeout is not None else ""
        return DatabaseLocked(
            f"The history database {database} stayed locked by another program{waited}. "
            "Close other Deskpilot instances or tools that have this file open "
            "(a database browser, a backup job), then try again. " + _NOTHING_LOST
        )
    if "disk is full" in text or "disk full" in text or "no space left" in text:
        return DiskFull(
            f"The disk holding the history database {database} is full. "
            "Free some space (pruning old runs helps too), then try again. " + _NOTHING_LOST
        )
    if "file is not a database" in text or "malformed" in text:
        return DatabaseCorrupt(
            f"The history database {database} is damaged or is not a Deskpilot database. "
            "Restore it from a backup, or move it aside so Deskpilot starts a new one."
        )
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"The history database {database} is read-only. "
            "Give your user write access to the file and its folder, then try again."
        )
    if "unable to open database" in text:
        return StoreError(
            f"The history database {database} cannot be opened. "
            "Check that its folder exists and that your user may write to it."
        )
    if isinstance(original, sqlite3.Error | sa_exc.SQLAlchemyError):
        return StoreError(f"The history database {database} could not be used: {original}")
    return StoreError(f"The history database {database} could not be used: {error!r}")
