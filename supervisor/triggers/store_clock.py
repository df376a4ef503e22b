"""The clock schedules fire on: the shared store's in a fleet, this machine's wall clock alone.

Supervisors of a fleet fire one schedule together: each slot's run is taken
by whichever gets its fire key first (``supervisor.store.fires``), and the
trigger's saved state (its ``checked_through`` mark, its interval anchor)
is read back by whichever loads it next.  Read on each machine's own clock,
a slot's time meant a different moment on each: a machine ten minutes ahead
fired every slot ten minutes early under its own labels, one behind ten
minutes late under others (so both ran the "same" slot), and a machine that
took a trigger over judged the mark another left, and how late each missed
fire was, by its own clock: from a machine behind it wrote off as missed
slots not yet due by the database, from one ahead it waited twenty minutes
before firing anything.  So in a fleet "now" for the triggers is the
database's (``supervisor.store_time``, as for restart delays and breakers):
slots, marks, fire keys and misfire lateness mean one moment on every
machine.  Slots are still computed in the trigger's time zone (cron in the
user's wall time); only "now" comes from the store.

APScheduler wakes the manager up on this machine's wall clock, which it
reads itself.  ``StoreClockSchedule`` gives it each slot moved onto that
clock (by the skew observed when it asks), so the wake-up comes when the
slot is due by the store's clock.  A wake-up a hair early (the skew's
estimate moved since) finds nothing due; ``early_wake`` says when to look
again instead of leaving the slot to the next wake-up.

A lone supervisor (no shared store) keeps its machine's clock, as before:
there is no other clock to agree with.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]

from supervisor.triggers.misfire import iter_fires
from supervisor.triggers.state import MACHINE_CLOCK, STORE_CLOCK

if TYPE_CHECKING:
    from supervisor.runtime import SupervisorBase

#: A live wake-up this close before its slot (by the store's clock) looks again at the slot.
EARLY_WAKE_SECONDS = 1.0
#: Slots remembered by ``StoreClockSchedule``: APScheduler passes back one of its last few.
_REMEMBERED = 8


class TriggerClock:
    """The triggers' "now" (see the module): the store's time in a fleet, else ``wall``.

    ``wall`` is this machine's wall clock, the one APScheduler reads.
    """

    def __init__(self, supervisor: SupervisorBase, wall: Callable[[], datetime]) -> None:
        self.supervisor = supervisor
        self.wall = wall
        #: Whether other machines fire these schedules too (a shared store).
        self.shared = supervisor.membership.shared

    def now(self) -> datetime:
        return self.supervisor.store_now() if self.shared else self.wall()

    @property
    def name(self) -> str:
        """Which clock ``now`` reads, as trigger rows record it (``triggers.state``)."""
        return STORE_CLOCK if self.shared else MACHINE_CLOCK

    def shift(self) -> timedelta:
        """The store's clock minus this machine's: added to a wall time to read it on the store's."""
        return self.now() - self.wall()

    def schedule(self, schedule: Any) -> Any:
        """What APScheduler is given for ``schedule``: woken on the wall clock at store slots."""
        return StoreClockSchedule(schedule, self.shift) if self.shared else schedule

    def early_wake(self, schedule: Any, after: datetime, now: datetime) -> float | None:
        """Seconds until the next slot after ``after`` if a wake-up at ``now`` came just before it.

        ``after``: the slots up to it are accounted for.  None when the next
        slot is further away, or nearer to ``after`` than to ``now``: then
        this was the wake-up for a slot already accounted for (a look again
        got there first), and looking again would only repeat itself.
        """
        if not self.shared:
            return None  # APScheduler and the triggers read one clock: it cannot wake early
        upcoming, _ = iter_fires(schedule, after, now + timedelta(seconds=EARLY_WAKE_SECONDS), 1)
        if not upcoming or upcoming[0] - now >= now - after:
            return None
        return max(0.0, (upcoming[0] - now).total_seconds())


class StoreClockSchedule(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger whose slots are ``schedule``'s on the store's clock, given in wall time.

    ``shift()`` is the store's clock minus the wall clock APScheduler reads.
    APScheduler hands back the times it was given as the previous fire:
    those are mapped back to the exact slot they stood for, since the
    shift read again a moment later differs by microseconds, and a cron
    slot moved back by one would be found again as the next one.
    """

    def __init__(self, schedule: Any, shift: Callable[[], timedelta]) -> None:
        self.schedule = schedule
        self.shift = shift
        #: Wall times given to APScheduler -> the slots (store's clock) they stand for.
        self._slots: dict[datetime, datetime] = {}

    def slot(self, wall_time: datetime) -> datetime:
        """The store-clock slot of a wall time this schedule gave APScheduler."""
        known = self._slots.get(wall_time)
        return known if known is not None else wall_time.astimezone(UTC) + self.shift()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        shift = self.shift()
        previous = None if previous_fire_time is None else self.slot(previous_fire_time)
        fire: datetime | None = self.schedule.get_next_fire_time(
            previous, now.astimezone(UTC) + shift
        )
        if fire is None:
            return None
        wall_time = fire.astimezone(UTC) - shift
        self._slots[wall_time] = fire
        while len(self._slots) > _REMEMBERED:
            del self._slots[next(iter(self._slots))]
        return wall_time

    def __str__(self) -> str:
        return f"{self.schedule} (on the store's clock)"
