"""What to do about schedule fires that did not happen on time: a pure function of the times.

A fire is *due* when its time is after the trigger's ``checked_through``
mark (every earlier fire is accounted for) and not after ``now``.  Normally
exactly one fire is due when the scheduler wakes up, and it runs.  More are
due after downtime (the supervisor was stopped, the machine slept, the loop
was blocked); those are *misfires* and the trigger's policy decides:

* ``run_once``: one run for the latest fire if it is at most ``misfire_grace``
  late; every other due fire is recorded as missed;
* ``catch_up``: one run per fire at most ``misfire_grace`` late (the newest
  ``max_runs`` of them), the rest recorded as missed;
* ``skip``: nothing runs; every due fire is recorded as missed.

Nothing here touches the database or the clock: the caller passes ``now``
and applies the plan, so tests drive every case with plain datetimes.  Every
due fire appears in the plan exactly once, either to run or as missed with a
reason: none is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

#: Fires listed one by one at most; past that, a gap is recorded as one summary.
ENUMERATION_LIMIT = 1000
#: Runs ``catch_up`` starts at most for one batch of misfires.
CATCH_UP_LIMIT = 100

_TICK = timedelta(microseconds=1)


class FireTimes(Protocol):
    """APScheduler 3's trigger interface (cron, interval, date)."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class DueFires:
    """Due fire times, oldest first.

    When more than ``limit`` are due, ``head`` holds the oldest ``limit``,
    ``tail`` those within the grace window before ``now`` and ``gap`` the
    (start, end) span between them, whose fires are not listed one by one.
    """

    head: tuple[datetime, ...] = ()
    tail: tuple[datetime, ...] = ()
    gap: tuple[datetime, datetime] | None = None

    @property
    def fires(self) -> tuple[datetime, ...]:
        return self.head + self.tail

    @property
    def latest(self) -> datetime | None:
        fires = self.fires
        return fires[-1] if fires else None


def iter_fires(
    trigger: FireTimes, after: datetime, until: datetime, limit: int
) -> tuple[list[datetime], bool]:
    """Fire times in (after, until], at most ``limit``; True if more were left out."""
    fires: list[datetime] = []
    previous: datetime | None = None
    candidate = trigger.get_next_fire_time(None, after + _TICK)
    while candidate is not None and candidate <= after:
        # an interval's float arithmetic can land a microsecond short of ``after``
        previous = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + _TICK)
    while candidate is not None and candidate <= until:
        if len(fires) >= limit:
            return fires, True
        fires.append(candidate)
        previous = candidate
        candidate = trigger.get_next_fire_time(previous, previous + _TICK)
        if candidate is not None and candidate <= previous:
            break  # a trigger that does not move forward would loop forever
    return fires, False


def due_fires(
    trigger: FireTimes,
    after: datetime,
    now: datetime,
    *,
    grace: float,
    limit: int = ENUMERATION_LIMIT,
) -> DueFires:
    """Every fire in (after, now], listing at most ``2 * limit`` of them.

    The oldest ``limit`` are listed (each is recorded), and so are those in
    the grace window before ``now`` (those may still run); only a run of fires
    between the two is summarised as a gap, so a week of one-second fires costs
    two bounded walks, not six hundred thousand steps.
    """
    head, more = iter_fires(trigger, after, now, limit)
    if not more:
        return DueFires(head=tuple(head))
    window_start = max(head[-1], now - timedelta(seconds=grace))
    tail, _ = iter_fires(trigger, window_start, now, limit)
    gap_end = tail[0] - _TICK if tail else now
    return DueFires(head=tuple(head), tail=tuple(tail), gap=(head[-1] + _TICK, gap_end))


Action = Literal["run", "missed"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    fire: datetime
    action: Action
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    decisions: tuple[Decision, ...] = ()
    #: A span of fires not listed one by one, and why they did not run.
    gap: tuple[datetime, datetime] | None = None
    gap_reason: str = ""
    #: Every fire up to this time is accounted for once the plan is applied.
    checked_through: datetime | None = None

    @property
    def runs(self) -> list[datetime]:
        return [d.fire for d in self.decisions if d.action == "run"]

    @property
    def missed(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "missed"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Policy:
    misfire: Literal["run_once", "skip", "catch_up"]
    grace: float
    max_runs: int = CATCH_UP_LIMIT


def iso(moment: datetime) -> str:
    """How fire times appear in trigger labels and messages: UTC, ISO 8601."""
    return moment.astimezone(UTC).isoformat()


def _late(now: datetime, fire: datetime) -> float:
    return (now - fire).total_seconds()


def plan(
    due: DueFires, now: datetime, policy: Policy, *, live: bool, cause: str | None = None
) -> Plan:
    """Decide, for every due fire, whether it runs; ``live`` means the scheduler woke up for it.

    When ``live`` and the latest due fire is within the grace, it is the
    normal, on-time fire and runs whatever the policy; only the fires before
    it are misfires.  Otherwise (start-up, a trigger re-armed after an edit,
    or a wake-up later than the grace, as after a suspend) every due fire is
    a misfire.  ``cause``, when given, is why they are late (in every reason).
    """
    fires = list(due.fires)
    if not fires and due.gap is None:
        return Plan(checked_through=None)
    checked = max([*fires, *([due.gap[1]] if due.gap else [])])
    grace = policy.grace
    decisions: dict[datetime, Decision] = {}
    misfires = fires
    if live and fires and _late(now, fires[-1]) <= grace:
        decisions[fires[-1]] = Decision(fire=fires[-1], action="run")
        misfires = fires[:-1]
        on_time_run: datetime | None = fires[-1]
    else:
        on_time_run = None
    down = cause or (
        "the scheduler could not fire it on time" if live else "the supervisor was not running"
    )

    if policy.misfire == "skip":
        for fire in misfires:
            decisions[fire] = Decision(
                fire=fire, action="missed", reason=f"{down} (misfire policy 'skip')"
            )
        gap_reason = f"{down} (misfire policy 'skip')"
    elif policy.misfire == "run_once":
        runner = on_time_run
        if runner is None and misfires and _late(now, misfires[-1]) <= grace:
            runner = misfires[-1]
            decisions[runner] = Decision(fire=runner, action="run")
        for fire in misfires:
            if fire == runner:
                continue
            if runner is not None:
                reason = f"{down}; one run was made instead, for {iso(runner)} (misfire policy 'run_once')"
            else:
                reason = (
                    f"{down}; the latest missed fire was {_late(now, misfires[-1]):.0f}s late, "
                    f"past the misfire grace of {grace:g}s"
                )
            decisions[fire] = Decision(fire=fire, action="missed", reason=reason)
        gap_reason = (
            f"{down}; one run was made instead, for {iso(runner)} (misfire policy 'run_once')"
            if runner is not None
            else f"{down}; past the misfire grace of {grace:g}s"
        )
    else:  # catch_up
        within = [f for f in misfires if _late(now, f) <= grace]
        allowed = set(within[-policy.max_runs :]) if policy.max_runs > 0 else set()
        for fire in misfires:
            if fire in allowed:
                decisions[fire] = Decision(fire=fire, action="run")
            elif fire in within:
                decisions[fire] = Decision(
                    fire=fire,
                    action="missed",
                    reason=f"{down}; catch-up runs at most {policy.max_runs} missed fires at once",
                )
            else:
                decisions[fire] = Decision(
                    fire=fire,
                    action="missed",
                    reason=f"{down}; {_late(now, fire):.0f}s late, past the misfire grace of {grace:g}s",
                )
        gap_reason = f"{down}; past the misfire grace of {grace:g}s"
    ordered = tuple(decisions[f] for f in fires)
    return Plan(
        decisions=ordered,
        gap=due.gap,
        gap_reason=gap_reason if due.gap else "",
        checked_through=checked,
    )
