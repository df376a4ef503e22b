"""One retry policy for every store write: run a transaction again when the server says so.

On PostgreSQL, supervisors, their recorders and reapers write the same rows
at once, and the server aborts a transaction to break a deadlock
(``40P01``), a serialisation conflict (``40001``) or a lock it could not
take (``55P03``).  The aborted transaction was rolled back whole, so running
it again writes it once: every write transaction in ``supervisor.store``
goes through ``retrying``.

A dropped connection is different: the commit may have landed before the
reply was lost.  Only work that is idempotent (saving a workflow version,
a heartbeat, an upsert of trigger state, a reap) is run again after one;
a claim, a fenced status change, a schedule fire or a recorder batch is not
(running it twice could claim other runs, or insert twice), and the error
reaches the caller, whose own recovery (the next claim, the recorder's
backlog) takes over.

SQLite reports no such states: its writers queue on the file lock under the
busy timeout instead, so nothing here applies to it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLSTATEs after which the server rolled the whole transaction back: safe to run again.
ROLLED_BACK = {
    "40P01": "deadlock detected",
    "40001": "serialization failure",
    "55P03": "lock not available",
}
#: SQLSTATE classes of a lost connection ("08": connection exception; "57P01"-"57P03": the
#: server shut down or restarted under it).
CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")
#: Attempts in all, the first included.
ATTEMPTS = 5
#: The first pause before running again; it doubles, with jitter, so two writers that
#: deadlocked on each other do not meet again in step.
FIRST_DELAY = 0.01
MAX_DELAY = 0.5


def _driver_error(error: BaseException) -> BaseException | None:
    """The driver's exception under a SQLAlchemy error, or under a StoreError raised from one."""
    for candidate in (error, error.__cause__):
        if isinstance(candidate, sa_exc.DBAPIError):
            return candidate.orig
    return None


def transient(error: BaseException, *, idempotent: bool) -> str | None:
    """Why ``error`` may be retried (a short reason for the log), or None if it may not."""
    original = _driver_error(error)
    if original is None:
        return None
    state = getattr(original, "sqlstate", None)
    if state in ROLLED_BACK:
        return ROLLED_BACK[state]
    if not idempotent:
        return None
    wrapped = error if isinstance(error, sa_exc.DBAPIError) else error.__cause__
    invalidated = isinstance(wrapped, sa_exc.DBAPIError) and wrapped.connection_invalidated
    lost = state is None and type(original).__name__ == "OperationalError"  # psycopg: no reply
    if invalidated or lost or (state is not None and state.startswith(CONNECTION_STATES)):
        return "connection lost"
    return None


def retrying(
    write: Callable[[], T],
    what: str,
    *,
    idempotent: bool = False,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``write`` (one whole transaction) until it succeeds or fails for good.

    ``what`` names the write for the log; ``idempotent`` allows a retry after
    a lost connection too (see the module).  The last error is raised as is.
    """
    delay = FIRST_DELAY
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as error:
            reason = transient(error, idempotent=idempotent)
            if reason is None or attempt == attempts:
                raise
            logger.info(
                "%s: the database aborted it (%s); running it again (attempt %d of %d)",
                what,
                reason,
                attempt + 1,
                attempts,
            )
            sleep(delay * (1 + random.random()))  # noqa: S311 - jitter, not secrecy
            delay = min(delay * 2, MAX_DELAY)
    raise AssertionError("unreachable")  # pragma: no cover
