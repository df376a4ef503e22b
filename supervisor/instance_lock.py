"""The supervisor's locks, exclusive ``flock``s the kernel frees if we die.

One per home (``InstanceLock``), and one per SQLite history file
(``HistoryLock``), whichever home points at it.

Kept apart from the daemon so that clients (the CLI, the API client's
port-file check) can ask who holds it without importing the supervisor.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from supervisor.errors import SupervisorError

if TYPE_CHECKING:
    from supervisor.paths import DeskpilotPaths

#: In the state folder.
LOCK_FILE = "deskpilotd.lock"


class InstanceLock:
    """An exclusive lock held for the daemon's lifetime; the kernel frees it if we die."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SupervisorError(
                f"another Deskpilot supervisor is already running (pid {holder}); "
                "stop it with 'deskpilot supervisor stop' or use a different DESKPILOT_HOME"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


def read_lock_holder(path: Path) -> int | None:
    """The pid holding the lock, or None if no supervisor runs."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


#: Beside a SQLite history file (``history.sqlite3.supervisor-lock``): who writes it.
HISTORY_LOCK_SUFFIX = ".supervisor-lock"


class HistoryLock:
    """One supervisor per SQLite history file, whichever home or user it runs from.

    The instance lock keeps one supervisor per home; this one covers two homes
    pointed at one file (``DESKPILOT_DATABASE_URL=sqlite:///shared.sqlite3``,
    or a data folder shared between accounts).  A SQLite history has no
    leases, so a second supervisor could neither see what the first holds nor
    take it over after a crash: it is refused, with a message naming the
    first (pid, host, home, supervisor id, recorded in the lock file).  The
    kernel frees the lock when the holder dies, so a restart, on either
    home, takes over the interrupted runs through the ordinary start-up
    clean-up.  Supervisors that share runs use PostgreSQL.
    """

    def __init__(self, database: Path, *, data_dir: Path, host: str, supervisor_id: str) -> None:
        self.database = database
        self.path = database.with_name(database.name + HISTORY_LOCK_SUFFIX)
        self._holder = {
            "pid": os.getpid(),
            "host": host,
            "data_dir": str(data_dir),
            "supervisor_id": supervisor_id,
        }
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise self._refusal(holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(self._holder).encode())
        self._fd = fd

    def check_free(self) -> None:
        """Raise what ``acquire`` would if another supervisor holds the file (before starting one)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._refusal(_read_holder(fd)) from None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _refusal(self, holder: str) -> SupervisorError:
        return SupervisorError(
            f"the history database {self.database} is already used by another Deskpilot "
            f"supervisor ({holder}). A SQLite history has one supervisor: it holds runs "
            "without leases, so a second one could not take them over. Stop that "
            "supervisor, give this home its own database, or share runs between "
            "supervisors through PostgreSQL (DESKPILOT_DATABASE_URL; README, 'Many "
            "supervisors on one database')"
        )

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    """How a user finds the supervisor holding a history lock, from what it wrote there."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return (
            f"pid {int(data['pid'])} on {data['host']}, data folder {data['data_dir']}, "
            f"supervisor id {data['supervisor_id']}"
        )
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "its pid is not recorded yet: it is starting"


def history_lock(paths: DeskpilotPaths) -> HistoryLock | None:
    """The lock of the SQLite history file ``paths`` names (None for PostgreSQL)."""
    from supervisor.machine import machine_host, supervisor_id
    from supervisor.store.engine import sqlite_file_of_url  # SQLAlchemy: only when starting

    database = sqlite_file_of_url(paths.database_url)
    if database is None:
        return None
    return HistoryLock(
        database,
        data_dir=paths.data_dir,
        host=machine_host(),
        supervisor_id=supervisor_id(paths.data_dir),
    )
