"""Schedule passes: the due fires of some schedules accounted for, their runs written behind.

A pass runs ``TriggerManager._account`` for each of its schedules inside one
``Supervisor.batch_behind``: one transaction for all the runs they start
and their states, queued on the store lane, so the event loop never waits
for the database.

One pass is written at a time.  While one is on the lane (a locked database
keeps it there up to the busy timeout), the schedules that come due wait in
``TriggerManager._due`` and the other passes asked for wait here; they run,
in order, once it is done.  That keeps a failed pass's fires from being
accounted twice: if the history refuses its runs (a full disk, a lock held
past the busy timeout) none of them exists, the states are not saved, and
their ``checked_through`` goes back, so the next pass (or the next start)
accounts for these fires again, under the same misfire policy, instead of
believing them run.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from supervisor.triggers.active import ActiveTrigger
from supervisor.triggers.state import TriggerState

if TYPE_CHECKING:
    from supervisor.triggers.manager import TriggerManager

logger = logging.getLogger(__name__)


class SchedulePasses:
    """Runs the manager's schedule passes one at a time, each written behind."""

    def __init__(self, manager: TriggerManager) -> None:
        self.manager = manager
        #: A pass's runs are on the store lane: the next pass waits for the outcome.
        self.writing = False
        self._waiting: collections.deque[tuple[list[ActiveTrigger], bool, str | None]] = (
            collections.deque()
        )
        self._idle = asyncio.Event()
        self._idle.set()

    async def idle(self) -> None:
        """Wait until no pass is being written or waiting (a start's catch-up, a stop)."""
        await self._idle.wait()

    def run(self, triggers: list[ActiveTrigger], *, live: bool, cause: str | None = None) -> None:
        """Account for these schedules' due fires now, or after the pass being written."""
        if not triggers:
            return
        if self.writing:
            self._waiting.append((triggers, live, cause))
            return
        manager = self.manager
        before: dict[str, datetime | None] = {}
        changed: list[TriggerState] = []
        # Log lines cost a fraction of a millisecond each: written after the runs are
        # durable, they do not make the last fire of a batch later.
        manager._fired = []
        try:
            with manager.supervisor.batch_behind() as batch:
                for trigger in triggers:
                    before[trigger.key] = trigger.state.checked_through
                    try:
                        if manager._account(trigger, live=live, cause=cause):
                            changed.append(trigger.state)
                    except Exception:  # one schedule's bug must not stop the others firing
                        logger.exception("schedule %s failed while firing", trigger.key)
                if changed:
                    batch.save_with_runs(manager.writes.state_store.rows_of(changed))
        finally:
            fired, manager._fired = manager._fired, None
        assert batch.written is not None
        self.writing = True
        self._idle.clear()
        batch.written.add_done_callback(functools.partial(self._written, before, fired))

    def _written(
        self,
        before: dict[str, datetime | None],
        fired: list[tuple[str, str]],
        written: asyncio.Future[Any],
    ) -> None:
        self.writing = False
        error = written.exception() if not written.cancelled() else asyncio.CancelledError()
        if error is None:
            for key, run_id in fired:
                logger.info("trigger %s started run %s", key, run_id)
        else:
            logger.error("could not queue the runs of %d schedule(s): %s", len(before), error)
            for key, checked in before.items():
                trigger = self.manager._triggers.get(key)
                if trigger is None:
                    continue
                current = trigger.state.checked_through
                if checked is None or current is None or checked < current:
                    trigger.state.checked_through = checked
        self._next()

    def _next(self) -> None:
        manager = self.manager
        while not self.writing and self._waiting:
            triggers, live, cause = self._waiting.popleft()
            current = [t for t in triggers if manager._triggers.get(t.key) is t and t.active]
            self.run(current, live=live, cause=cause)
        if not self.writing and manager._due:
            manager._handle_due()
        if not self.writing:
            self._idle.set()
