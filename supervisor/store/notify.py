"""Wake a supervisor when work is queued: LISTEN/NOTIFY on PostgreSQL, polling everywhere.

On PostgreSQL every run that becomes ``queued`` sends a notification on
``deskpilot_queued`` (a trigger installed by migration 0005; the payload is
its target host, empty for any machine).  ``QueueWatcher`` listens on a
connection of its own, on the supervisor's asyncio loop (psycopg's async
connection: nothing blocks the loop), and ``wait()`` returns as soon as a
notification for this machine arrives.

Polling is the fallback, never skipped: ``wait()`` also returns after
``poll_interval`` so a lost notification (connection dropped, server
restarted, a database without the trigger) costs one interval, not the run.
While the listening connection is down the watcher reconnects with a
growing delay, and wakes its waiter on each reconnect (notifications sent
meanwhile are lost).  On SQLite there is no NOTIFY: ``wait()`` is a poll, and
``poke()`` lets the supervisor's own submissions wake it at once.

Given a ``supervisor_id`` it also listens on ``deskpilot_debug``, where the
store announces debugger requests asked through another machine's API for a
run this supervisor holds (``supervisor.debugrelay``); ``wait_debug()`` waits
for those, and on ``deskpilot_breakers``, where every change to a workflow's
shared circuit breaker is announced with the workflow's name
(``supervisor.store.breaker_rows``); ``wait_breakers()`` returns the names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.engine import URL, make_url

from supervisor.event_wait import wait_event
from supervisor.store.breaker_rows import BREAKER_CHANNEL
from supervisor.store.debug_requests import DEBUG_CHANNEL

logger = logging.getLogger(__name__)

CHANNEL = "deskpilot_queued"
DEFAULT_POLL_INTERVAL = 1.0
_RECONNECT_FIRST = 0.5
_RECONNECT_MAX = 15.0


def libpq_conninfo(url: URL) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class QueueWatcher:
    """Tells a supervisor's loop when queued work may be waiting for it.

    Use from the loop: ``await start()``, then ``await wait()`` before each
    claim, ``poke()`` after queuing work itself, ``await close()`` at stop.
    ``host`` filters notifications: runs routed to other machines do not wake
    this one.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        host: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        supervisor_id: str | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.url = make_url(url)
        self.host = host
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        #: Also listens for debugger requests for this supervisor (``DEBUG_CHANNEL``).
        self.supervisor_id = supervisor_id
        self._debug_wake = asyncio.Event()
        #: Breakers announced as changed since the last ``wait_breakers``; None: maybe any.
        self._breakers_changed: set[str] | None = set()
        self._breaker_wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._closed = False
        #: True while a LISTEN connection is open (PostgreSQL only).
        self.listening = False
        #: Notifications received (that concerned this machine), for /metrics and tests.
        self.notified = 0

    @property
    def uses_notify(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    async def start(self) -> None:
        """Start listening (PostgreSQL); returns once the first LISTEN is in place or failed."""
        if not self.uses_notify or self._task is not None:
            return
        ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._listen(ready), name="deskpilot-queue-watcher"
        )
        await ready.wait()

    def poke(self) -> None:
        """Wake the waiter now (this supervisor queued something itself)."""
        self._wake.set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Until work may be waiting: True when notified or poked, False after the poll interval."""
        limit = self.poll_interval if timeout is None else timeout
        if not await wait_event(self._wake, limit):
            return False
        self._wake.clear()
        return True

    async def wait_debug(self, timeout: float) -> bool:
        """Until a debugger request for this supervisor may be waiting, or ``timeout``."""
        if not await wait_event(self._debug_wake, timeout):
            return False
        self._debug_wake.clear()
        return True

    async def wait_breakers(self, timeout: float) -> set[str] | None:
        """Until a shared breaker changes: the workflows announced (None: any may have).

        None after (re)connecting, when announcements sent meanwhile were lost;
        an empty set after ``timeout`` with none.
        """
        await wait_event(self._breaker_wake, timeout)
        self._breaker_wake.clear()
        changed, self._breakers_changed = self._breakers_changed, set()
        return changed

    def _breakers_lost(self) -> None:
        self._breakers_changed = None
        self._breaker_wake.set()

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self.listening = False
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _listen(self, ready: asyncio.Event) -> None:
        import psycopg

        delay = _RECONNECT_FIRST
        while not self._closed:
            try:
                self._connection = await psycopg.AsyncConnection.connect(
                    libpq_conninfo(self.url), autocommit=True, connect_timeout=10
                )
                await self._connection.execute(f"LISTEN {CHANNEL}")
                if self.supervisor_id is not None:
                    await self._connection.execute(f"LISTEN {DEBUG_CHANNEL}")
                    await self._connection.execute(f"LISTEN {BREAKER_CHANNEL}")
                self.listening = True
                delay = _RECONNECT_FIRST
                ready.set()
                self._wake.set()  # what was queued while not listening is unannounced
                self._debug_wake.set()
                self._breakers_lost()
                async for notify in self._connection.notifies():
                    if notify.channel == DEBUG_CHANNEL:
                        if notify.payload == self.supervisor_id:
                            self._debug_wake.set()
                        continue
                    if notify.channel == BREAKER_CHANNEL:
                        if self._breakers_changed is not None:
                            self._breakers_changed.add(notify.payload)
                        self._breaker_wake.set()
                        continue
                    if self.host is None or notify.payload in ("", self.host):
                        self.notified += 1
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the connection or server went away
                if not self._closed:
                    logger.warning(
                        "listening for queued runs failed (%s); polling every %.1f s, "
                        "reconnecting in %.1f s",
                        error,
                        self.poll_interval,
                        delay,
                    )
            finally:
                ready.set()
                await self._drop()
            if self._closed:
                return
            self._wake.set()
            self._debug_wake.set()
            self._breakers_lost()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX)
