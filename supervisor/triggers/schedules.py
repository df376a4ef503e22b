"""Schedule triggers on APScheduler 3: cron, interval and one date, with explicit misfires.

APScheduler only wakes us up.  Its jobs live in a ``MemoryJobStore`` (its
SQLAlchemy store pickles jobs and is slow) and are added with
``misfire_grace_time=None`` (never drop a late job) and ``coalesce=True``:
coalescing loses nothing, because each wake-up enumerates every fire due
since the trigger's persisted ``checked_through`` mark and hands them to
``misfire.plan``.  So whether the scheduler woke up once or five times for
five due fires, each fire is accounted for exactly once.  Should APScheduler
still report a job as missed or skipped (max instances), the listener runs
the same enumeration, so that too is never silent.

Cron expressions are read in the trigger's ``timezone``; an interval counts
from the trigger's persisted ``anchor``, so its phase survives restarts; a
date without a timezone is read in the trigger's ``timezone``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from automation.model import ScheduleTrigger
from automation.timezones import resolve as resolve_timezone
from supervisor.triggers.errors import TriggerError
from supervisor.triggers.misfire import DueFires, Policy, due_fires, iso, plan
from supervisor.triggers.specs import gap_label, schedule_label
from supervisor.triggers.state import NotRun

logger = logging.getLogger(__name__)

JobRunner = Callable[[str, int], Coroutine[Any, Any, None]]


def new_scheduler() -> Any:
    """An asyncio scheduler whose jobs live in memory; it computes times in UTC."""
    quiet = logging.getLogger("apscheduler")
    if quiet.level == logging.NOTSET:
        # two INFO lines per fire would drown the daemon's log; every fire is logged by us
        quiet.setLevel(logging.WARNING)
    return AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, timezone="UTC")


def build_schedule(spec: ScheduleTrigger, anchor: datetime, since: datetime | None = None) -> Any:
    """The APScheduler trigger for a schedule spec; raises TriggerError for a bad time zone.

    ``since``: the trigger's ``checked_through`` mark.  An interval's slots
    start at its anchor; one saved on a machine's clock ahead of the
    database's can lie after a mark brought down to what is known
    (``state``), and the slots between them did not exist.  The grid then
    reaches back past the mark by whole intervals (exact in microseconds,
    so the same slots), and those slots are due as any after downtime.
    """
    try:
        zone = resolve_timezone(spec.timezone)
    except ValueError as exc:
        raise TriggerError(str(exc)) from None
    if spec.cron is not None:
        return CronTrigger.from_crontab(spec.cron, timezone=zone)
    if spec.interval is not None:
        start = anchor
        if since is not None and since < anchor:
            step = timedelta(seconds=spec.interval)
            start = anchor - step * math.ceil((anchor - since) / step)
        return IntervalTrigger(seconds=spec.interval, start_date=start, timezone=zone)
    assert spec.at is not None
    run_date = spec.at if spec.at.tzinfo is not None else spec.at.replace(tzinfo=zone)
    return DateTrigger(run_date=run_date, timezone=zone)


class ScheduleJobs:
    """The APScheduler jobs of the schedule triggers, one per trigger key."""

    def __init__(
        self,
        scheduler: Any,
        run: JobRunner,
        account: Callable[[str, int], None],
        woken: Callable[[Any], Any] = lambda schedule: schedule,
    ) -> None:
        self.scheduler = scheduler
        self.run = run
        #: Called (on the loop) when APScheduler reports a job it did not run.
        self.account = account
        #: What APScheduler wakes on for a schedule (``store_clock.TriggerClock.schedule``).
        self.woken = woken

    def start(self) -> None:
        self.scheduler.add_listener(
            self._listen, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.remove_listener(self._listen)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def arm(self, key: str, schedule: Any, generation: int) -> None:
        self.scheduler.add_job(
            self.run,
            trigger=self.woken(schedule),
            args=[key, generation],
            id=key,
            name=f"schedule {key}",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )

    def disarm(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(key)

    def next_fire(self, key: str) -> datetime | None:
        job = self.scheduler.get_job(key)
        when = getattr(job, "next_run_time", None)
        if not isinstance(when, datetime):
            return None
        slot = getattr(job.trigger, "slot", None)  # a slot on the store's clock (``store_clock``)
        return slot(when) if slot is not None else when

    def _listen(self, event: Any) -> None:
        key = str(getattr(event, "job_id", ""))
        if event.code == EVENT_JOB_ERROR:
            logger.error(
                "schedule %s failed while firing", key, exc_info=getattr(event, "exception", None)
            )
            return
        # With misfire_grace_time=None this should not happen; if it does, the next
        # enumeration from the persisted mark accounts for the fire: make it now.
        logger.warning("the scheduler reported schedule %s as missed; accounting for it now", key)
        job = self.scheduler.get_job(key)
        if job is not None:
            self.account(*job.args)


@dataclass(frozen=True, kw_only=True, slots=True)
class FireBatch:
    """What to do about the fires due now: run ``runs`` (label each), write ``records``."""

    runs: list[tuple[datetime, str]]
    records: list[NotRun]
    checked_through: datetime


def account_fires(
    schedule: Any,
    *,
    key: str,
    workflow: str,
    spec: ScheduleTrigger,
    after: datetime,
    now: datetime,
    live: bool,
    recorded: Callable[[list[str]], set[str]],
    cause: str | None = None,
) -> FireBatch | None:
    """Every fire due in (after, now], each to run or to record as missed; None if none is due.

    ``recorded`` tells which labels the history already holds: those fires
    were handled before a crash and are neither run nor recorded again.
    ``cause`` says why the fires are late, when the caller knows better than
    "the supervisor was not running" (they were deferred while the screen was locked).
    """
    due = due_fires(schedule, after, now, grace=spec.misfire_grace)
    if not due.fires and due.gap is None:
        return None
    checked = max([*due.fires, *([due.gap[1]] if due.gap else [])])
    labels = {fire: schedule_label(key, fire) for fire in due.fires}
    gap = gap_label(key, *due.gap) if due.gap else None
    done = recorded([*labels.values(), *([gap] if gap else [])])
    if done:
        due = DueFires(
            head=tuple(f for f in due.head if labels[f] not in done),
            tail=tuple(f for f in due.tail if labels[f] not in done),
            gap=None if gap in done else due.gap,
        )
    policy = Policy(misfire=spec.misfire, grace=spec.misfire_grace)
    decided = plan(due, now, policy, live=live, cause=cause)
    records = [
        NotRun(
            workflow=workflow,
            trigger=labels[d.fire],
            error=f"missed: {d.reason}",
            at=d.fire,
            inputs=spec.inputs,
        )
        for d in decided.missed
    ]
    if decided.gap is not None and gap is not None:
        start, end = decided.gap
        records.append(
            NotRun(
                workflow=workflow,
                trigger=gap,
                error=(
                    f"missed: every fire from {iso(start)} to {iso(end)} "
                    f"(too many to list one by one): {decided.gap_reason}"
                ),
                at=start,
                inputs=spec.inputs,
            )
        )
    return FireBatch(
        runs=[(fire, labels[fire]) for fire in decided.runs],
        records=records,
        checked_through=max(after, checked),
    )
