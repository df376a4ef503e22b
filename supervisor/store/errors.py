"""Errors raised by the history store.

The hierarchy, root first::

    DeskpilotError                  (automation.errors)
    └── StoreError                  the history database cannot be used right now
        ├── DatabaseLocked          another process held the write lock past the busy timeout
        ├── DiskFull                SQLite could not grow the file: the disk (or quota) is full
        ├── DatabaseTooNew          the file was migrated by a newer Deskpilot
        ├── DatabaseCorrupt         the file is not a readable SQLite database
        ├── DatabaseGone            the file was deleted or replaced while it was open
        ├── ConstraintViolated      a write conflicts with a row the database holds (a
        │                           unique key taken, a required value missing)
        ├── SupervisorNotRegistered this supervisor's fleet row is gone (forgotten) or
        │                           marked stopped: it takes no new run
        ├── RunNotFound             no run with that id is in the history
        └── AmbiguousRunId          a shortened run id starts several runs' ids

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


class ConstraintViolated(StoreError):
    """A write broke one of the schema's constraints; nothing of that write was saved.

    Most often a unique key already taken (a run id submitted twice); a
    missing required value or a dangling reference is a bug in the caller.
    ``kind`` ("unique", "not null", "foreign key", "check" or "constraint"),
    ``table``, ``columns`` and ``constraint`` say what, as far as the driver
    tells (SQLite names no constraint and, for a foreign key, no table).
    """

    #: The API answers it as a conflict (``supervisor.api.problems``).
    status_code = 409

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        table: str | None = None,
        columns: tuple[str, ...] = (),
        constraint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.table = table
        self.columns = columns
        self.constraint = constraint


#: SQLSTATE (PostgreSQL) and extended result code (SQLite) -> the kind of constraint.
_KINDS = {
    "23505": "unique",
    "23502": "not null",
    "23503": "foreign key",
    "23514": "check",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "unique",
    "SQLITE_CONSTRAINT_UNIQUE": "unique",
    "SQLITE_CONSTRAINT_NOTNULL": "not null",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign key",
    "SQLITE_CONSTRAINT_CHECK": "check",
}


def constraint_violated(error: BaseException, database: str) -> ConstraintViolated:
    """What an integrity error from either driver says conflicted, as a ``ConstraintViolated``."""
    original = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    kind = _KINDS.get(str(code), "constraint")
    table: str | None = None
    columns: tuple[str, ...] = ()
    constraint: str | None = None
    diag = getattr(original, "diag", None)
    if diag is not None:  # psycopg: the server names the table, constraint and key
        table = diag.table_name
        constraint = diag.constraint_name
        columns = (diag.column_name,) if diag.column_name else ()
        detail = diag.message_detail or diag.message_primary or str(original)
    else:  # SQLite: "UNIQUE constraint failed: runs.id, runs.seq"
        detail = str(original)
        _, _, named = detail.partition(" constraint failed: ")
        qualified = [part.strip() for part in named.split(",") if "." in part]
        if qualified:
            table = qualified[0].split(".", 1)[0]
            columns = tuple(part.split(".", 1)[1] for part in qualified)
    where = f" in table {table}" if table else ""
    if columns:
        where += f" ({', '.join(columns)})"
    name = f", constraint {constraint}" if constraint else ""
    return ConstraintViolated(
        f"The history database {database} refused a write that breaks a {kind} "
        f"constraint{where}{name}: {detail.strip()}. Nothing of that write was saved; what "
        "was saved before it is intact.",
        kind=kind,
        table=table,
        columns=columns,
        constraint=constraint,
    )


class SupervisorNotRegistered(StoreError):
    """This supervisor's ``supervisors`` row is gone or marked stopped: it takes no new run.

    Raised for a submit through a supervisor forgotten while it ran (``deskpilot
    machines forget --force``), in the moment before its next renewal tells it;
    answered as 503 (``supervisor.api.problems``): another machine takes the run.
    """

    def __init__(self, supervisor_id: str, unwritten: str | None = None) -> None:
        """``unwritten``: what was not written, when it is not a new run (trigger state)."""
        said = (
            "so it takes no new runs: the run was not queued; submit it through another "
            "machine, or start this supervisor again to rejoin"
            if unwritten is None
            else f"so it writes nothing: {unwritten} was not saved; a supervisor that still "
            "loads the trigger keeps it, and this one saves it again once it rejoins"
        )
        super().__init__(
            f"this supervisor ({supervisor_id}) is no longer registered in the shared "
            f"database (it was forgotten with 'deskpilot machines forget', or is stopping), {said}"
        )
        self.supervisor_id = supervisor_id


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
    if isinstance(error, sa_exc.IntegrityError | sqlite3.IntegrityError):
        return constraint_violated(error, database)
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


class AmbiguousRunId(StoreError, LookupError):
    """A shortened run id starts more than one run's id: a pick would be a guess.

    Answered as 409 by the API (``status_code``), so another machine's CLI
    says the same as this machine's.
    """

    status_code = 409

    def __init__(self, prefix: str, candidates: list[str], more: bool) -> None:
        # Cut where they differ (four characters past the prefix at least), as git does.
        cut = len(prefix) + 4
        while len({candidate[:cut] for candidate in candidates}) < len(candidates):
            cut += 1
        shown = ", ".join(
            candidate if len(candidate) <= cut else f"{candidate[:cut]}…"
            for candidate in candidates
        )
        count = f"{len(candidates)}+" if more else str(len(candidates))
        super().__init__(f"'{prefix}' starts {count} run ids ({shown}); give more of the id")
        self.prefix = prefix
        self.candidates = candidates
