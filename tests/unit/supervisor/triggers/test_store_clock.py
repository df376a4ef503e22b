"""Schedules on the store's clock, woken on the machine's: ``supervisor.triggers.store_clock``.

APScheduler is driven here as it drives a trigger (``Job._get_run_times``:
the previous fire handed back until one is past "now"), with plain times.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from supervisor.triggers.store_clock import StoreClockSchedule, TriggerClock

T0 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # the night Paris moves its clocks forward
AHEAD = timedelta(minutes=10)  # the store's clock is ten minutes ahead of this machine's


def run_times(
    schedule: StoreClockSchedule, first: datetime | None, now: datetime
) -> tuple[list[datetime], list[datetime]]:
    """What ``apscheduler.job.Job._get_run_times`` does with a job's trigger: the wake-up
    times (the machine's clock), and the slot (the store's) each stood for when given."""
    found: list[datetime] = []
    slots: list[datetime] = []
    fire = first
    while fire is not None and fire <= now and len(found) < 100:
        found.append(fire)
        slots.append(schedule.slot(fire))
        fire = schedule.get_next_fire_time(fire, now)
    return found, slots


def test_each_slot_on_the_stores_clock_is_woken_for_at_that_moment_on_the_machines() -> None:
    cron = CronTrigger.from_crontab("*/5 * * * *", timezone=ZoneInfo("Europe/Paris"))
    wrapped = StoreClockSchedule(cron, lambda: AHEAD)
    machine_now = T0 + timedelta(seconds=30)  # the store says 23:10:30
    first = wrapped.get_next_fire_time(None, machine_now)
    assert first == T0 + timedelta(minutes=5)  # the store's 23:15 is the machine's 23:05
    assert wrapped.slot(first) == T0 + timedelta(minutes=15)
    # An hour later, on the machine's clock: the slots it ran, each once, in store terms.
    _times, slots = run_times(wrapped, first, T0 + timedelta(hours=1))
    assert slots == [T0 + timedelta(minutes=15 + 5 * k) for k in range(12)]


def test_a_shift_read_a_little_differently_each_time_finds_no_slot_twice() -> None:
    """The skew is read again on every call and moves by microseconds: back by one, a cron
    slot found from its own time would be found again, and APScheduler would loop on it."""
    jitter = itertools.cycle([timedelta(microseconds=-3), timedelta(0), timedelta(microseconds=2)])
    cron = CronTrigger.from_crontab("* * * * *", timezone=UTC)
    wrapped = StoreClockSchedule(cron, lambda: AHEAD + next(jitter))
    first = wrapped.get_next_fire_time(None, T0 + timedelta(seconds=30))
    _times, slots = run_times(wrapped, first, T0 + timedelta(minutes=30, seconds=30))
    assert len(slots) == len(set(slots)) == 30
    assert slots == [T0 + AHEAD + timedelta(minutes=1 + k) for k in range(30)]


def test_an_interval_and_a_date_keep_their_slots() -> None:
    anchor = T0 + timedelta(seconds=0.25)
    interval = StoreClockSchedule(IntervalTrigger(seconds=90, start_date=anchor), lambda: -AHEAD)
    first = interval.get_next_fire_time(None, T0)
    times, slots = run_times(interval, first, T0 + timedelta(minutes=30))
    assert slots[0] == anchor and all(
        later - earlier == timedelta(seconds=90) for earlier, later in itertools.pairwise(slots)
    )
    # The store is behind: the machine wakes ten minutes after the slot on its own clock.
    assert times[0] == anchor + AHEAD
    once = StoreClockSchedule(DateTrigger(run_date=T0 + timedelta(hours=1)), lambda: AHEAD)
    woken = once.get_next_fire_time(None, T0)
    assert woken == T0 + timedelta(minutes=50)
    assert once.get_next_fire_time(woken, T0 + timedelta(hours=2)) is None


class Member:
    """What ``TriggerClock`` reads of a supervisor: whether it shares its store, and its time."""

    def __init__(self, *, shared: bool, store_now: datetime) -> None:
        self.membership = SimpleNamespace(shared=shared)
        self.now = store_now

    def store_now(self) -> datetime:
        return self.now


def test_a_wake_up_just_before_its_slot_on_the_stores_clock_looks_again_at_the_slot() -> None:
    """APScheduler woke on the machine's clock by a skew estimated a moment earlier: by the
    store's clock now, the slot is still a few milliseconds away.  Left alone, it would wait
    for the next wake-up and be a misfire."""
    slot = T0 + timedelta(seconds=60)
    schedule = IntervalTrigger(seconds=60, start_date=T0)
    almost = slot - timedelta(milliseconds=3)
    fleet = TriggerClock(Member(shared=True, store_now=almost), lambda: almost - AHEAD)
    assert fleet.shift() == AHEAD
    assert fleet.early_wake(schedule, T0, almost) == 0.003
    # Not a wake-up for the slot: it is far.
    assert fleet.early_wake(schedule, T0, T0 + timedelta(seconds=30)) is None
    # A wake-up for a slot a look again already accounted for: the next one is for later.
    every_second = IntervalTrigger(seconds=1, start_date=T0)
    just_after = slot + timedelta(milliseconds=2)
    assert fleet.early_wake(every_second, slot, just_after) is None
    assert fleet.early_wake(every_second, slot, slot + timedelta(milliseconds=998)) == 0.002
    # Alone, the scheduler and the triggers read one clock: never early, and no shift.
    alone = TriggerClock(Member(shared=False, store_now=almost), lambda: almost)
    assert alone.early_wake(schedule, T0, almost) is None
    assert alone.schedule(schedule) is schedule
