"""Starting ``deskpilotd`` from a window, the tray or the command line: one per home.

A supervisor takes its instance lock within a second or two of starting, but
answers its API only after migrating the history, starting the catalog and
triggers (seconds more on a big home or a loaded machine).  A launcher that
judged "running" by the API alone started a second supervisor in that gap:
it loaded everything, found the lock taken and exited, and the window that
started it said "the supervisor exited while starting".  So:

* a held instance lock means a supervisor is there, starting, serving or
  stopping: the launcher waits for its API (``wait_for_api``, with a
  deadline) and never starts another; only once the lock is free (that one
  stopped, or failed while starting) does it start one;
* launchers take turns (``start_turn``, a second ``flock``) from their check
  of the lock until the supervisor they started holds it, so two windows
  opened together do not both see a free lock and both start one.

Light on purpose (no httpx at import): the command line imports it to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Mapping

from supervisor.errors import SupervisorError
from supervisor.instance_lock import LOCK_FILE, read_lock_holder
from supervisor.paths import DeskpilotPaths

#: In the state folder, beside the instance lock: held by a launcher while it starts one.
START_TURN_FILE = "deskpilotd.start.lock"
#: How long a launcher waits for its turn, and for the supervisor it started to take the lock.
TURN_SECONDS = 30.0
#: How long a supervisor holding the lock may take to answer before a launcher says so.
ANSWER_SECONDS = 60.0


def lock_holder(paths: DeskpilotPaths) -> int | None:
    """The pid of the supervisor holding this home's instance lock (-1: not written yet)."""
    return read_lock_holder(paths.state_dir / LOCK_FILE)


@contextlib.contextmanager
def start_turn(paths: DeskpilotPaths, timeout: float = TURN_SECONDS) -> Iterator[None]:
    """Hold the launchers' turn: no other launcher of this home checks or starts meanwhile.

    An ``flock``, which the kernel frees if the launcher dies.  Polled (with a
    deadline) rather than blocking, so a launcher stuck in its turn costs the
    others a clear error instead of a hang.
    """
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    path = paths.state_dir / START_TURN_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SupervisorError(
                        f"another program has been starting the supervisor for {timeout:g}s "
                        f"(it holds {path}); wait for it, or see 'deskpilot supervisor status'"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def start_unless_running(
    paths: DeskpilotPaths,
    env: Mapping[str, str],
    *,
    requested_by: str,
    timeout: float = TURN_SECONDS,
) -> subprocess.Popen[bytes] | None:
    """Start ``deskpilotd`` detached, unless a supervisor holds this home's lock: None then.

    None means one is running or starting: wait for its API (``wait_for_api``)
    rather than starting another.  The turn is held until the process started
    here holds the lock or has exited (or ``timeout`` passed), so the next
    launcher sees it.  The caller owns the returned process, as with
    ``start_detached``.
    """
    from supervisor.client import start_detached  # httpx: only when starting one

    with start_turn(paths, timeout):
        if lock_holder(paths) is not None:
            return None
        process = start_detached(paths, env, requested_by=requested_by)
        deadline = time.monotonic() + timeout
        while lock_holder(paths) is None and process.poll() is None:
            if time.monotonic() >= deadline:
                break  # still importing on a very busy machine: the caller keeps watching it
            time.sleep(0.05)
        return process


def wait_for_api(paths: DeskpilotPaths, holder: int, timeout: float = ANSWER_SECONDS) -> bool:
    """Wait until this home's supervisor answers ``/health`` (True) or frees its lock (False).

    ``holder`` is the pid that held the lock when the caller looked.  False
    means it stopped without answering (it was stopping, or failed while
    starting): the caller may start one now.  Raises if it holds the lock
    but does not answer within ``timeout``.
    """
    from supervisor.client import is_running

    deadline = time.monotonic() + timeout
    while not is_running(paths, timeout=1.0):
        if lock_holder(paths) is None:
            return is_running(paths, timeout=1.0)  # another one may have come up meanwhile
        if time.monotonic() >= deadline:
            pid = "pid unknown" if holder < 0 else f"pid {holder}"
            raise SupervisorError(
                f"the supervisor ({pid}) holds its lock but did not answer within "
                f"{timeout:g}s; see {paths.log_dir / 'deskpilotd.log'}"
            )
        time.sleep(0.1)
    return True
