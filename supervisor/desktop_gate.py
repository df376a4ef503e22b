"""Queued desktop runs wait while the session is not usable (locked screen, going to sleep).

A run that needs the ``desktop`` resource and reaches the head of the queue
while the screen is locked would click into the lock screen.  The dispatch
asks ``DesktopGate.holds(entry)`` before it starts such a run: while
``SessionWatch.reason()`` names a reason, the run stays queued (not started,
no attempt used), and its history gets one warning saying why and since
when.  When the watch reports the session usable again the gate asks the
supervisor to dispatch, and the run's history gets a second line saying how
long it waited before it started.

Only desktop runs wait: HTTP or file workflows do not need the screen.
Scheduled fires are held back earlier, by the trigger manager
(``supervisor/triggers/deferral.py``); this gate covers every other way a
desktop run reaches the queue (the CLI, the GUI, the API, other triggers,
resumes after a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from supervisor.runqueue import QueuedRun

logger = logging.getLogger(__name__)


class Watch(Protocol):
    def reason(self) -> str | None: ...

    def subscribe(self, callback: Callable[[str | None], None]) -> None: ...


class Notes(Protocol):
    """What the gate needs from the supervisor: its queue, a line in a run's history, a dispatch."""

    @property
    def queue(self) -> Mapping[str, Any]: ...

    def _note(self, run_id: str, seq: int, message: str, data: dict[str, Any]) -> None: ...

    def _dispatch(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    reason: str
    since: datetime


class DesktopGate:
    """Says whether a queued desktop run must wait, and writes why into its history."""

    def __init__(
        self,
        supervisor: Notes,
        watch: Watch,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.supervisor = supervisor
        self.watch = watch
        self.now = now
        #: Runs held back now (run id -> why and since when).
        self.held: dict[str, Held] = {}
        watch.subscribe(self._changed)

    def holds(self, entry: QueuedRun) -> bool:
        """True while ``entry`` (a desktop run whose turn it is) must stay queued."""
        reason = self.watch.reason()
        held = self.held.get(entry.run_id)
        if reason is None:
            if held is not None:
                del self.held[entry.run_id]
                waited = (self.now() - held.since).total_seconds()
                self._note(
                    entry,
                    f"the session is usable again: the run starts after waiting "
                    f"{waited:.1f}s because {held.reason}",
                    {"reason": "session_usable", "waited_seconds": round(waited, 3)},
                )
            return False
        if held is None or held.reason != reason:
            since = held.since if held is not None else self.now()
            self.held[entry.run_id] = Held(reason=reason, since=since)
            logger.info("run %s waits: %s", entry.run_id, reason)
            self._note(
                entry,
                f"waiting: {reason}; desktop runs start when the session is usable again",
                {"reason": "session_unusable", "session": reason},
            )
        return True

    def _note(self, entry: QueuedRun, message: str, data: dict[str, Any]) -> None:
        # The worker numbers its events on from ``last_seq``, so this line keeps its place.
        entry.last_seq += 1
        self.supervisor._note(entry.run_id, entry.last_seq, message, data)

    def _changed(self, reason: str | None) -> None:
        # runs cancelled while they waited are forgotten here
        self.held = {k: v for k, v in self.held.items() if k in self.supervisor.queue}
        if reason is None and self.held:
            self.supervisor._dispatch()
