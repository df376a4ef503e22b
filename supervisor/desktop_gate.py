"""Queued desktop runs wait while the session is not usable (locked screen, going to sleep).

A run that needs the ``desktop`` resource and reaches the head of the queue
while the screen is locked would click into the lock screen.  The dispatch
asks ``DesktopGate.holds(entry)`` before it starts such a run: while
``SessionWatch.reason()`` names a reason, the run stays queued (not started,
no attempt used), and its history gets one warning saying why and since
when.  When the watch reports the session usable again the gate asks the
supervisor to dispatch, and the run's history gets a second line saying how
long it waited before it started.  A run that had started before (a resume)
and waits so does not spend its time limit meanwhile: the wait goes to its
``paused_seconds``, as a debugger pause does.

Both lines are the wait's durable record.  A supervisor that restarts while
a run waits finds the first line without the second
(``HistoryStore.session_wait``, read as the run is loaded): the wait goes
on from when it began, with no second "waiting" line, and its end counts
the whole of it.  The second line says how much of the wait was off the
run's clock, which ``HistoryStore.paused_seconds`` adds up after a restart.

A desktop run already running when the screen locks is told to hold (a
``Hold`` message to its worker; ``automation/engine/hold.py`` is the engine's
side): its desktop steps wait, before the next one or between two chunks of a
long input, until the gate sends ``Release`` at the unlock.  While a run is
held its step's kill deadline is lifted (the step's clock is stopped in the
worker), and so is the run's: the time its engine waits is not counted
against its time limit, in the engine nor here (``Running._held_or_released``
reads the engine's "held" and "released" lines).  Only a cancel or the
unlock ends the wait.

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

from supervisor.protocol import Hold, Release
from supervisor.store.debug_requests import WAIT_BEGAN, WAIT_ENDED

if TYPE_CHECKING:
    from supervisor.config import SupervisorConfig
    from supervisor.runqueue import ActiveRun, QueuedRun
    from supervisor.workers import WorkerHandle

logger = logging.getLogger(__name__)

DESKTOP = "desktop"


class Watch(Protocol):
    def reason(self) -> str | None: ...

    def subscribe(self, callback: Callable[[str | None], None]) -> None: ...


class Notes(Protocol):
    """What the gate needs from the supervisor: its queue, a line in a run's history, a dispatch,
    and its running runs with what lets it message their workers and move their deadlines."""

    @property
    def queue(self) -> Mapping[str, Any]: ...

    @property
    def active(self) -> Mapping[str, ActiveRun]: ...

    @property
    def config(self) -> SupervisorConfig: ...

    def _spawn_task(self, coro: Any) -> None: ...

    def _run_deadline(self, active: ActiveRun) -> float: ...

    def _arm(self, worker: WorkerHandle) -> None: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    def _note(self, run_id: str, seq: int, message: str, data: dict[str, Any]) -> None: ...

    def _dispatch(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    reason: str
    since: datetime


def _recorded(entry: QueuedRun) -> Held | None:
    """The wait ``entry``'s history shows going on when it was loaded (taken once), if any."""
    wait, entry.session_wait = entry.session_wait, None
    return None if wait is None else Held(reason=wait.reason, since=wait.since)


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
        #: Running runs told to hold (run id -> the reason sent).
        self.holding: dict[str, str] = {}
        #: When the session became unusable; None while it is usable.
        self.since: datetime | None = None if watch.reason() is None else self.now()
        watch.subscribe(self._changed)

    def holds(self, entry: QueuedRun) -> bool:
        """True while ``entry`` (a desktop run whose turn it is) must stay queued."""
        reason = self.watch.reason()
        held = self.held.pop(entry.run_id, None) or _recorded(entry)
        if reason is None:
            if held is not None:
                waited = max(0.0, (self.now() - held.since).total_seconds())
                # Its time limit runs once it first started: not while it waits.
                paused = waited if entry.first_started is not None else 0.0
                entry.paused_seconds += paused
                self._note(
                    entry,
                    f"the session is usable again: the run starts after waiting "
                    f"{waited:.1f}s because {held.reason}",
                    {
                        "reason": WAIT_ENDED,
                        "waited_seconds": round(waited, 3),
                        # read back by ``HistoryStore.paused_seconds`` after a restart
                        "paused_seconds": round(paused, 3),
                        "since": held.since.isoformat(),
                    },
                )
            return False
        if held is None or held.reason != reason:
            held = Held(reason=reason, since=held.since if held is not None else self.now())
            logger.info("run %s waits: %s", entry.run_id, reason)
            self._note(
                entry,
                f"waiting: {reason}; desktop runs start when the session is usable again",
                # durable: a supervisor that restarts during the wait goes on with it
                # (``HistoryStore.session_wait``)
                {"reason": WAIT_BEGAN, "session": reason, "since": held.since.isoformat()},
            )
        self.held[entry.run_id] = held
        return True

    def _note(self, entry: QueuedRun, message: str, data: dict[str, Any]) -> None:
        # The worker numbers its events on from ``last_seq``, so this line keeps its place.
        entry.last_seq += 1
        self.supervisor._note(entry.run_id, entry.last_seq, message, data)

    def started(self, active: ActiveRun) -> None:
        """A run was just handed to its worker: a desktop run holds at once if the session
        became unusable between the dispatch and now."""
        self.holding.pop(active.entry.run_id, None)  # a new worker has heard nothing yet
        reason = self.watch.reason()
        if reason is not None and DESKTOP in active.entry.resources:
            self._hold(active, reason)

    def _changed(self, reason: str | None) -> None:
        # runs cancelled while they waited are forgotten here
        self.held = {k: v for k, v in self.held.items() if k in self.supervisor.queue}
        if reason is None:
            self.since = None
        elif self.since is None:
            self.since = self.now()
        self.holding = {k: v for k, v in self.holding.items() if k in self.supervisor.active}
        for active in list(self.supervisor.active.values()):
            if DESKTOP not in active.entry.resources:
                continue  # runs that do not drive the desktop go on
            if reason is None:
                self._release(active)
            else:
                self._hold(active, reason)
        if reason is None and self.held:
            self.supervisor._dispatch()

    def _hold(self, active: ActiveRun, reason: str) -> None:
        run_id = active.entry.run_id
        if self.holding.get(run_id) == reason:
            return
        self.holding[run_id] = reason
        logger.info("run %s holds its desktop steps: %s", run_id, reason)
        since = self.since or self.now()
        self.supervisor._spawn_task(active.worker.send(Hold(reason=reason, since=since)))
        if not active.cancel_requested:
            # the worker stops its step's clock while held: only the run's limit may kill it
            worker = active.worker
            worker.hard_deadline = self.supervisor._run_deadline(active)
            self.supervisor._arm(worker)

    def _release(self, active: ActiveRun) -> None:
        run_id = active.entry.run_id
        if self.holding.pop(run_id, None) is None:
            return
        logger.info("run %s goes on: the session is usable again", run_id)
        self.supervisor._spawn_task(active.worker.send(Release()))
        if not active.cancel_requested:
            # a held step's clock starts again: the longest step's kill deadline, from now
            longest = max(active.entry.step_timeouts.values(), default=None)
            worker = active.worker
            deadline = self.supervisor._run_deadline(active)
            if longest is not None:
                grace = self.supervisor.config.kill_grace
                step = self.supervisor.clock() + longest + 2 * grace + 1.0
                deadline = min(deadline, step)
            worker.hard_deadline = deadline
            self.supervisor._arm(worker)
