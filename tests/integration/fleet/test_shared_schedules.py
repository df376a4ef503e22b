"""A schedule passed between machines whose clocks disagree fires each slot once, on time (PostgreSQL).

Each machine is a real supervisor core with its trigger manager, in this
process, with fake workers (``tests.unit.supervisor.fakes``), on a real
PostgreSQL.  Its machine's clock is ``SKEW`` ahead of the database or
behind it, as ``test_shared_times`` simulates it (its store's ``clock``),
and here also the clock the trigger manager and its APScheduler read
(``SkewedScheduler``): every clock of the process, but the monotonic one.

The schedule fires every ``INTERVAL`` seconds.  Its whole history, runs
and fires recorded as missed, must be one slot after another on one grid:
no slot twice (doubled), none left out (skipped), and no slot run before
it was due by the database's clock.  Each test fails when the trigger
state (the checked-through mark, misfire lateness, fire times) is read on
the machine's own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apscheduler.schedulers.base as apscheduler_base  # type: ignore[import-untyped]
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import update

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from automation.loader import parse_workflow
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.membership import Membership
from supervisor.parts import DaemonParts
from supervisor.paths import DeskpilotPaths
from supervisor.store.records import RunRecord
from supervisor.store.schema import triggers
from supervisor.store.store import HistoryStore, QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from supervisor.triggers.manager import TriggerManager
from supervisor.triggers.specs import schedule_label, spec_dump, spec_hash
from supervisor.triggers.state import TriggerState, TriggerStateStore
from tests.helpers.deadlines import scaled, stopped
from tests.integration.fleet.test_clock_skew import SkewedClock
from tests.integration.fleet.test_shared_times import DIRECTIONS, SKEW
from tests.unit.supervisor.fakes import FakeLauncher

pytestmark = pytest.mark.timeout(180)

LEASE = 5.0
INTERVAL = 2.0
KEY = "tick:0"
#: How far a run's queueing may come before its slot: the error of a machine's reading of
#: the database's clock (half a round trip) and of the microseconds between runs queued together.
EARLY = timedelta(seconds=0.5)


def ticker(policy: str) -> str:
    return (
        "name: tick\n"
        "nodes:\n  only: {block: control.pass}\n"
        "triggers:\n"
        f"  - {{type: schedule, interval: {INTERVAL:g}s, misfire: {policy}, misfire_grace: 60s}}\n"
    )


class SkewedScheduler(AsyncIOScheduler):  # type: ignore[misc]
    """APScheduler on a machine whose clock is off by ``offset``.

    It reads ``datetime.now`` itself; while it computes (one thread: the
    loop's) that name in its module reads the machine's clock.
    """

    def __init__(self, offset: timedelta) -> None:
        super().__init__(timezone="UTC")
        self.offset = offset

    @contextlib.contextmanager
    def _on_machine_clock(self) -> Iterator[None]:
        offset = self.offset

        class MachineDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return datetime.now(tz) + offset

        real = apscheduler_base.datetime
        apscheduler_base.datetime = MachineDatetime
        try:
            yield
        finally:
            apscheduler_base.datetime = real

    def _process_jobs(self) -> Any:
        with self._on_machine_clock():
            return super()._process_jobs()

    def _real_add_job(self, *args: Any, **kwargs: Any) -> Any:
        with self._on_machine_clock():
            return super()._real_add_job(*args, **kwargs)


@contextlib.asynccontextmanager
async def machine(
    url: str, home: Path, name: str, offset: timedelta, policy: str
) -> AsyncIterator[TriggerManager]:
    """A supervisor with its triggers, loading the ticker, on a machine ``offset`` off."""
    paths = DeskpilotPaths.under(home, database_url=url).ensure()
    paths.workflows_dir.mkdir(parents=True, exist_ok=True)
    (paths.workflows_dir / "tick.yaml").write_text(ticker(policy), encoding="utf-8")
    clock = SkewedClock(offset)
    store = HistoryStore.open(url, clock=clock)
    launcher = FakeLauncher()
    registry = BlockRegistry.with_builtins(plugins=False)
    supervisor = Supervisor(
        store=store,
        launcher=launcher,
        registry=registry,
        config=SupervisorConfig(
            worker_limit=2, spare_workers=0, shutdown_grace=0.1, heartbeat_timeout=60.0
        ),
        artifacts_dir=paths.artifacts_dir,
        kill=launcher.kill,
        membership=Membership(id=name * 32, host=name, lease_seconds=LEASE, renew_every=0.2),
    )
    await supervisor.start()
    triggers = TriggerManager(
        DaemonParts(paths=paths, supervisor=supervisor, store=store, registry=registry),
        now=clock.now,
        scheduler=SkewedScheduler(offset),
    )
    try:
        await triggers.start()
        yield triggers
    finally:
        try:
            await stopped(triggers.stop(), f"the triggers of machine {name}")
            await stopped(supervisor.stop(0.1), f"machine {name}")
        finally:
            store.close()


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds, for ``timeout`` seconds on a quiet machine (``scaled``)."""
    allowed = scaled(timeout)
    deadline = time.monotonic() + allowed
    while not check():
        assert time.monotonic() < deadline, f"not within {allowed:.0f} s: {what}"
        await asyncio.sleep(0.05)


def slot_of(record: RunRecord) -> datetime:
    prefix = f"schedule:{KEY}@"
    assert record.trigger.startswith(prefix) and ".." not in record.trigger, record.trigger
    return datetime.fromisoformat(record.trigger[len(prefix) :])


def is_missed(record: RunRecord) -> bool:
    return record.status is RunStatus.CANCELLED and (record.error or "").startswith("missed:")


class History:
    """The ticker's runs and missed fires, read from the database."""

    def __init__(self, url: str) -> None:
        self.store = HistoryStore.open(url)

    def fires(self) -> list[RunRecord]:
        records = self.store.list_runs(workflow="tick", limit=None)
        return sorted(records, key=lambda record: (slot_of(record), record.queued_at))

    def slots(self) -> list[datetime]:
        return [slot_of(record) for record in self.fires()]

    def check(self) -> list[RunRecord]:
        """Every slot once, one after another on the grid, none before it was due; returns them."""
        fires = self.fires()
        slots = [slot_of(record) for record in fires]
        described = [f"{slot_of(r).time()} {'missed' if is_missed(r) else r.status}" for r in fires]
        assert len(set(slots)) == len(slots), f"slots fired twice: {described}"
        for record in fires:
            # A missed fire is recorded under its slot's time; its record is written after it.
            written = record.finished_at if is_missed(record) else record.queued_at
            assert written is not None
            assert written >= slot_of(record) - EARLY, (
                f"slot {slot_of(record)} fired {(slot_of(record) - written).total_seconds():.0f} s "
                "before it was due by the database's clock"
            )
        steps = {
            (later - earlier).total_seconds()
            for earlier, later in zip(slots, slots[1:], strict=False)
        }
        assert steps <= {INTERVAL}, f"slots skipped between {slots[0]} and {slots[-1]}: {described}"
        return fires

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def history(postgres_migrated_url: str) -> Iterator[History]:
    found = History(postgres_migrated_url)
    yield found
    found.close()


async def more_slots(history: History, count: int, what: str) -> None:
    """Wait until ``count`` more slots are in the history than now."""
    known = len(history.slots())
    await until(lambda: len(history.slots()) >= known + count, 15 + 3 * count * INTERVAL, what)


def assert_caught_up_from(history: History, saved: datetime) -> None:
    """The first fire is the slot right after the save, and no slot was recorded missed."""
    fires = history.check()
    assert slot_of(fires[0]) <= saved + timedelta(seconds=INTERVAL), [
        str(slot_of(record).time()) for record in fires
    ]
    assert not [record for record in fires if is_missed(record)]


@DIRECTIONS
def test_a_schedule_passed_between_machines_fires_every_slot_once_when_it_is_due(
    postgres_migrated_url: str,
    tmp_path: Path,
    history: History,
    first: timedelta,
    second: timedelta,
) -> None:
    """One machine fires the schedule, another joins, the first leaves: one run per slot.

    On each machine's own clock the one ahead fired each slot ten minutes
    early, and together the two fired every moment twice under labels
    twenty minutes apart; the one behind, left alone with the mark the one
    ahead saved, fired nothing for twenty minutes.
    """

    async def scenario() -> None:
        url = postgres_migrated_url
        async with contextlib.AsyncExitStack() as a_running:
            await a_running.enter_async_context(
                machine(url, tmp_path / "a", "a", first, "catch_up")
            )
            await more_slots(history, 3, "the first machine fires")
            async with machine(url, tmp_path / "b", "b", second, "catch_up"):
                await more_slots(history, 3, "both fire")
                await a_running.aclose()
                await more_slots(history, 3, "the second machine fires alone")
        fires = history.check()
        assert not [record for record in fires if is_missed(record)]

    asyncio.run(scenario())


@DIRECTIONS
@pytest.mark.parametrize("policy", ["catch_up", "run_once"])
def test_slots_missed_while_no_machine_held_a_schedule_are_caught_up_once_by_the_next(
    postgres_migrated_url: str,
    tmp_path: Path,
    history: History,
    first: timedelta,
    second: timedelta,
    policy: str,
) -> None:
    """One machine fires the schedule and stops; a few slots later another starts.

    The slots due while none ran are accounted for once, by the trigger's
    misfire policy: ``catch_up`` runs each (they are well within the grace),
    ``run_once`` runs the latest and records the others as missed.  On its
    own clock a machine behind the one that stopped caught up nothing (the
    mark left was twenty minutes ahead of it); one ahead found twenty
    minutes of slots due, most not yet due by the database's clock.
    """

    async def scenario() -> None:
        url = postgres_migrated_url
        async with machine(url, tmp_path / "a", "a", first, policy):
            await more_slots(history, 2, "the first machine fires")
        last = history.slots()[-1]
        # Nobody holds the schedule for three slots and a half (the server is on this machine:
        # its clock is this one's).
        down_until = datetime.now(UTC) + timedelta(seconds=3.5 * INTERVAL)
        await until(lambda: datetime.now(UTC) >= down_until, 60, "three slots missed")
        async with machine(url, tmp_path / "b", "b", second, policy):
            await more_slots(history, 2, "the second machine catches up and fires")
        fires = history.check()
        later = [record for record in fires if slot_of(record) > last]
        slots = [slot_of(record) for record in later]
        missed = [slot_of(record) for record in later if is_missed(record)]
        assert len([slot for slot in slots if slot <= down_until]) >= 3, slots
        if policy == "catch_up":
            assert missed == [], missed
        else:
            # The latest slot due when the second machine started ran; each one before it
            # is recorded as missed, once.
            assert len(missed) >= 2 and missed == slots[: len(missed)], (missed, slots)
            assert not is_missed(later[len(missed)]), slots
            assert all("one run was made instead" in (r.error or "") for r in later if is_missed(r))

    asyncio.run(scenario())


def saved_before_the_move(
    url: str,
    *,
    checked_through: datetime,
    anchor: datetime,
    fired: tuple[datetime, ...] = (),
    holder: str | None = None,
    stamped: bool = False,
) -> None:
    """The ticker's state as a supervisor saved it before trigger times moved to the database's
    clock: on its machine's own clock, and without saying which (no ``clock``); ``fired``: the
    slots it ran, with their fire keys; ``holder``: that supervisor, when it says.  ``stamped``:
    saved while the database stamps each save with its time (revision 0017: PostgreSQL stamps
    an older build's save itself), not before."""
    store = HistoryStore.open(url)
    try:
        (spec,) = parse_workflow(ticker("catch_up")).workflow.triggers
        state = TriggerState(
            workflow="tick",
            key=KEY,
            spec=spec_dump(spec),
            spec_hash=spec_hash(spec),
            anchor=anchor,
            checked_through=checked_through,
        )
        (row,) = TriggerStateStore(store, lambda: checked_through).rows_of([state])
        TriggerRows(store).save_many(
            [{k: v for k, v in row.items() if k != "clock"}], holder=holder
        )
        if not stamped:
            with store.engine.begin() as connection:
                connection.execute(update(triggers).values(written_at=None))
        if fired:
            version = store.save_workflow_version("tick", None, ticker("catch_up"))
            queued = [
                QueuedRow(uuid.uuid4().hex, "tick", version, trigger=schedule_label(KEY, slot))
                for slot in fired
            ]
            assert store.create_runs(queued) == []
    finally:
        store.close()


def test_a_mark_saved_ahead_of_the_database_before_the_move_hides_no_slot(
    postgres_migrated_url: str, tmp_path: Path, history: History
) -> None:
    """A machine ten minutes ahead enabled the ticker and saved its mark on its own clock.

    The mark, ten minutes ahead of the database, said every slot up to it
    was accounted for, though none had run.  Read as the database's time
    (the first start after the upgrade), no slot ran for ten minutes and
    none was recorded.  Now a mark from another clock is trusted only as
    far as the history confirms it: no fire there, so up to now, and the
    next slots run when due, each once.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    saved_before_the_move(postgres_migrated_url, checked_through=now + SKEW, anchor=now)

    async def scenario() -> None:
        async with machine(postgres_migrated_url, tmp_path / "b", "b", timedelta(0), "catch_up"):
            await more_slots(history, 3, "the slots after the upgrade fire when due")

    asyncio.run(scenario())
    fires = history.check()
    assert slot_of(fires[0]) < now + SKEW / 10, [slot_of(record) for record in fires]
    assert not [record for record in fires if is_missed(record)]


def test_slots_a_machine_ahead_ran_early_before_the_move_do_not_run_again(
    postgres_migrated_url: str, tmp_path: Path, history: History
) -> None:
    """A machine ahead of the database ran the next three slots early, on its own clock.

    Its mark is past them.  Brought down to now, those slots come up again
    when due: their labels (and fire keys) in the history stop them running
    twice, and the slots after them run, none left out.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    early = tuple(now + timedelta(seconds=INTERVAL * step) for step in (1, 2, 3))
    saved_before_the_move(postgres_migrated_url, checked_through=early[-1], anchor=now, fired=early)

    async def scenario() -> None:
        async with machine(postgres_migrated_url, tmp_path / "b", "b", timedelta(0), "catch_up"):
            await until(
                lambda: len([slot for slot in history.slots() if slot > early[-1]]) >= 3,
                15 + 6 * INTERVAL,
                "three slots after those run early",
            )

    asyncio.run(scenario())
    slots = history.slots()
    assert len(set(slots)) == len(slots), f"slots fired twice: {slots}"
    assert slots[: len(early)] == list(early), slots
    steps = {(b - a).total_seconds() for a, b in zip(slots, slots[1:], strict=False)}
    assert steps == {INTERVAL}, f"slots skipped: {slots}"
    assert not [record for record in history.fires() if is_missed(record)]


def test_the_slots_of_the_downtime_after_a_mark_saved_ahead_with_no_fire_are_caught_up(
    postgres_migrated_url: str, tmp_path: Path, history: History
) -> None:
    """A machine ten minutes ahead made the ticker, saved it and went down for the upgrade.

    Its mark, on its own clock, was ten minutes past the moment it was
    saved.  With no fire in the history, it was brought down only to now
    when the machine came back on the database's clock: the slots of the
    downtime were neither run nor recorded.  The machine wrote the row (it
    holds the trigger), so its own offset places the mark where it was
    saved, and those slots follow the misfire policy (catch_up, within the
    grace: they run, each once).
    """
    now = datetime.now(UTC).replace(microsecond=0)
    down = timedelta(seconds=4 * INTERVAL)
    saved = now - down  # by the database's clock
    saved_before_the_move(
        postgres_migrated_url,
        checked_through=saved + SKEW,
        anchor=saved + SKEW,
        holder="a" * 32,
    )

    async def scenario() -> None:
        async with machine(postgres_migrated_url, tmp_path / "a", "a", SKEW, "catch_up"):
            await more_slots(history, 6, "the downtime's slots, then the next")

    asyncio.run(scenario())
    assert_caught_up_from(history, saved)


def test_the_downtime_slots_after_another_machine_saved_a_mark_ahead_with_no_fire_are_caught_up(
    postgres_migrated_url: str, tmp_path: Path, history: History
) -> None:
    """Machine b, ten minutes ahead, made the ticker on its own clock and went down; a,
    another machine, starts four slots later.

    With no fire in the history and a row that a never held, the mark was
    brought down only to now: b's offset was known to no one, and the
    downtime's slots were neither run nor recorded.  The database stamped
    b's save with its own time, so a places the mark where b saved it, and
    those slots follow the misfire policy (catch_up, within the grace: each
    runs once).
    """
    # The server is on this machine: its clock is this one's.
    saved = datetime.now(UTC).replace(microsecond=0)
    saved_before_the_move(
        postgres_migrated_url,
        checked_through=saved + SKEW,
        anchor=saved + SKEW,
        holder="b" * 32,
        stamped=True,
    )
    down_until = saved + timedelta(seconds=4 * INTERVAL)

    async def scenario() -> None:
        await until(lambda: datetime.now(UTC) >= down_until, 60, "four slots down")
        async with machine(postgres_migrated_url, tmp_path / "a", "a", -SKEW, "catch_up"):
            await more_slots(history, 6, "the downtime's slots, then the next")

    asyncio.run(scenario())
    assert_caught_up_from(history, saved)
