"""Misfire policies as pure functions of the times: no scheduler, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automation.model import ScheduleTrigger
from supervisor.triggers.misfire import (
    DueFires,
    FireTimes,
    Plan,
    Policy,
    due_fires,
    iter_fires,
    plan,
)
from supervisor.triggers.schedules import build_schedule

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def every(seconds: float, anchor: datetime = T0) -> FireTimes:
    schedule: FireTimes = build_schedule(ScheduleTrigger(interval=seconds), anchor)
    return schedule


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_interval_fires_strictly_after_the_mark_and_up_to_now() -> None:
    fires, more = iter_fires(every(60), after=at(60), until=at(300), limit=100)
    assert fires == [at(120), at(180), at(240), at(300)]
    assert not more


def test_interval_keeps_its_phase_from_the_anchor() -> None:
    # a mark between two fires (after a resume at 12:01:30) still fires on the minute
    fires, _ = iter_fires(every(60), after=at(90), until=at(200), limit=100)
    assert fires == [at(120), at(180)]


def test_an_interval_anchored_after_its_mark_reaches_back_on_its_grid() -> None:
    """An anchor saved on a clock ahead lies after the mark brought down (``state._adopt``).

    Its slots started at the anchor: those between the mark and it did not
    exist, and nothing was due for as long as the writer's clock was ahead.
    Given the mark, the grid reaches back past it by whole intervals.
    """
    anchor = at(600.25)
    spec = ScheduleTrigger(interval=7)
    alone, _ = iter_fires(build_schedule(spec, anchor), after=at(0), until=at(620), limit=100)
    assert alone == [anchor, anchor + timedelta(seconds=7), anchor + timedelta(seconds=14)]
    fires, _ = iter_fires(
        build_schedule(spec, anchor, at(0)), after=at(0), until=at(620), limit=100
    )
    assert fires[0] == anchor - timedelta(seconds=7 * 85) and fires[0] > at(0)
    assert fires[-3:] == alone
    assert {b - a for a, b in zip(fires, fires[1:], strict=False)} == {timedelta(seconds=7)}
    # A mark after the anchor changes nothing.
    later = build_schedule(spec, anchor, at(700))
    assert later.start_date == anchor


def test_cron_is_read_in_the_trigger_time_zone_across_daylight_saving() -> None:
    schedule = build_schedule(ScheduleTrigger(cron="0 9 * * *", timezone="Europe/Paris"), T0)
    fires, _ = iter_fires(
        schedule,
        after=datetime(2026, 3, 28, 0, 0, tzinfo=UTC),
        until=datetime(2026, 3, 30, 23, 0, tzinfo=UTC),
        limit=10,
    )
    # 09:00 in Paris is 08:00 UTC before the switch to summer time, 07:00 after it
    assert [f.astimezone(UTC).hour for f in fires] == [8, 7, 7]


def test_a_date_fires_once_and_only_if_it_fell_after_the_mark() -> None:
    schedule = build_schedule(ScheduleTrigger(at=at(100)), T0)
    assert iter_fires(schedule, after=at(0), until=at(500), limit=10)[0] == [at(100)]
    assert iter_fires(schedule, after=at(100), until=at(500), limit=10)[0] == []
    assert iter_fires(schedule, after=at(0), until=at(50), limit=10)[0] == []


def test_a_naive_date_is_read_in_the_trigger_time_zone() -> None:
    spec = ScheduleTrigger(at=datetime(2026, 7, 1, 9, 0), timezone="Europe/Paris")
    fires, _ = iter_fires(
        build_schedule(spec, T0), after=T0, until=T0 + timedelta(days=200), limit=5
    )
    assert fires == [datetime(2026, 7, 1, 7, 0, tzinfo=UTC)]


def _accounted(result: Plan, due: DueFires) -> None:
    """Every due fire is in the plan exactly once: run or missed, never dropped."""
    assert [d.fire for d in result.decisions] == list(due.fires)
    assert all(d.reason for d in result.missed)


def test_run_once_runs_the_latest_missed_fire_and_records_the_others() -> None:
    due = due_fires(every(60), at(0), at(330), grace=300)
    result = plan(due, at(330), Policy(misfire="run_once", grace=300), live=False)
    _accounted(result, due)
    assert result.runs == [at(300)]
    assert [d.fire for d in result.missed] == [at(60), at(120), at(180), at(240)]
    assert "one run was made instead" in result.missed[0].reason
    assert result.checked_through == at(300)


def test_run_once_past_the_grace_runs_nothing_and_says_why() -> None:
    due = due_fires(every(600), at(0), at(1950), grace=100)
    result = plan(due, at(1950), Policy(misfire="run_once", grace=100), live=False)
    _accounted(result, due)
    assert result.runs == []
    assert [d.fire for d in result.missed] == [at(600), at(1200), at(1800)]
    assert "150s late, past the misfire grace of 100s" in result.missed[-1].reason


def test_skip_records_every_missed_fire_and_runs_none() -> None:
    due = due_fires(every(60), at(0), at(200), grace=300)
    result = plan(due, at(200), Policy(misfire="skip", grace=300), live=False)
    _accounted(result, due)
    assert result.runs == []
    assert [d.fire for d in result.missed] == [at(60), at(120), at(180)]
    assert "misfire policy 'skip'" in result.missed[0].reason


def test_catch_up_runs_each_fire_within_the_grace_and_records_the_older_ones() -> None:
    due = due_fires(every(60), at(0), at(400), grace=150)
    result = plan(due, at(400), Policy(misfire="catch_up", grace=150), live=False)
    _accounted(result, due)
    assert result.runs == [at(300), at(360)]
    assert [d.fire for d in result.missed] == [at(60), at(120), at(180), at(240)]
    assert "past the misfire grace" in result.missed[0].reason


def test_catch_up_is_bounded() -> None:
    due = due_fires(every(1), at(0), at(50), grace=300)
    result = plan(due, at(50), Policy(misfire="catch_up", grace=300, max_runs=10), live=False)
    _accounted(result, due)
    assert result.runs == [at(s) for s in range(41, 51)]
    assert len(result.missed) == 40
    assert "at most 10" in result.missed[0].reason


@pytest.mark.parametrize("misfire", ["run_once", "skip", "catch_up"])
def test_an_on_time_fire_runs_whatever_the_policy(misfire: str) -> None:
    due = due_fires(every(60), at(0), at(60.004), grace=300)
    result = plan(due, at(60.004), Policy(misfire=misfire, grace=300), live=True)  # type: ignore[arg-type]
    assert result.runs == [at(60)]
    assert result.missed == []


def test_a_wake_up_later_than_the_grace_is_a_misfire_too() -> None:
    # the machine slept through three fires; the scheduler wakes up 150 s after the last
    due = due_fires(every(600), at(0), at(1950), grace=100)
    result = plan(due, at(1950), Policy(misfire="skip", grace=100), live=True)
    _accounted(result, due)
    assert result.runs == []
    assert "could not fire it on time" in result.missed[0].reason


def test_a_very_long_downtime_lists_boundedly_and_summarises_the_gap() -> None:
    now = at(3 * 86400)  # three days of one-second fires: 259,200 of them
    due = due_fires(every(1), at(0), now, grace=5, limit=100)
    assert len(due.head) == 100
    assert due.tail == tuple(now - timedelta(seconds=s) for s in range(4, -1, -1))
    assert due.gap == (at(100) + timedelta(microseconds=1), due.tail[0] - timedelta(microseconds=1))
    result = plan(due, now, Policy(misfire="run_once", grace=5), live=False)
    assert result.runs == [now]
    assert len(result.missed) == 104
    assert result.gap == due.gap and "one run was made instead" in result.gap_reason
    assert result.checked_through == now


def test_nothing_due_plans_nothing() -> None:
    due = due_fires(every(60), at(60), at(100), grace=300)
    result = plan(due, at(100), Policy(misfire="catch_up", grace=300), live=False)
    assert result.decisions == () and result.checked_through is None


def test_a_schedule_without_a_timezone_follows_this_computers_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``0 9 * * *`` means nine o'clock here: before, it fired at 09:00 UTC wherever it ran."""
    import tzlocal

    from automation.timezones import describe
    from supervisor.triggers.specs import summary

    monkeypatch.setenv("TZ", "America/New_York")
    tzlocal.reload_localzone()
    try:
        spec = ScheduleTrigger(cron="0 9 * * *")
        assert spec.timezone == "local"
        schedule = build_schedule(spec, T0)
        fires, _ = iter_fires(
            schedule,
            after=datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
            until=datetime(2026, 3, 3, 23, 0, tzinfo=UTC),
            limit=10,
        )
        assert [f.astimezone(UTC).hour for f in fires] == [14, 14], "09:00 in New York (EST)"
        assert describe("local") == "local (America/New_York)"
        assert "(local (America/New_York))" in summary(spec)
    finally:
        monkeypatch.delenv("TZ")
        tzlocal.reload_localzone()


def test_an_unknown_timezone_says_what_to_write() -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="use 'local'"):
        ScheduleTrigger(cron="0 9 * * *", timezone="Mars/Olympus")
