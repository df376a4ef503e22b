"""The supervisor's one-per-user lock: an exclusive ``flock`` the kernel frees if we die.

Kept apart from the daemon so that clients (the CLI, the API client's
port-file check) can ask who holds it without importing the supervisor.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from supervisor.errors import SupervisorError

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
