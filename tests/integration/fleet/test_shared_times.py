"""Times one machine writes and another compares are read on the database's clock (PostgreSQL).

Lease decisions already are (``test_clock_skew``).  Here the other times a
fleet shares: a crashed run's restart delay, a retry's backoff taken over
by another machine, a breaker's opening, and the run-rate ceiling's count
of first starts.  Each supervisor (or store) runs on a machine whose clock
is ``SKEW`` ahead of the database or behind it, as ``test_clock_skew``
simulates it: its store's ``clock`` is off.  Supervisors are the real core
in this process, with fake workers (``tests.unit.supervisor.fakes``), on a
real PostgreSQL.  Each test fails when the time is read on the machine's
own clock: a wait seen as ten minutes long, or as already over.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from automation.blocks.registry import BlockRegistry
from automation.engine.events import NodeRetrying, RunStatus
from supervisor.breaker import BreakerPolicy, BreakerState
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.membership import Membership
from supervisor.paths import DeskpilotPaths
from supervisor.protocol import event_message
from supervisor.store.store import HistoryStore, QueuedRow
from tests.helpers.storage import StoreFactory
from tests.integration.fleet.test_clock_skew import SkewedClock
from tests.unit.supervisor.fakes import FakeLauncher, FakeWorker, succeed

pytestmark = pytest.mark.timeout(120)

#: Far more than any wait here: a wait read on a machine's own clock is off by this.
SKEW = timedelta(minutes=10)
DIRECTIONS = pytest.mark.parametrize(
    ("first", "second"),
    [(SKEW, -SKEW), (-SKEW, SKEW)],
    ids=["ahead-then-behind", "behind-then-ahead"],
)
LEASE = 5.0
TINY = "name: tiny\nnodes:\n  only: {block: control.pass}\n"


@contextlib.asynccontextmanager
async def member(
    url: str,
    home: Path,
    name: str,
    launcher: FakeLauncher,
    offset: timedelta,
    **config: Any,
) -> AsyncIterator[Supervisor]:
    """A supervisor of the fleet on ``url``, on a machine whose clock is off by ``offset``."""
    paths = DeskpilotPaths.under(home, database_url=url).ensure()
    store = HistoryStore.open(url, clock=SkewedClock(offset))
    supervisor = Supervisor(
        store=store,
        launcher=launcher,
        registry=BlockRegistry.with_builtins(plugins=False),
        config=SupervisorConfig(
            worker_limit=1,
            spare_workers=0,
            shutdown_grace=0.1,
            heartbeat_timeout=60.0,  # fake workers send no heartbeats
            **config,
        ),
        artifacts_dir=paths.artifacts_dir,
        kill=launcher.kill,
        membership=Membership(id=name * 32, host=name, lease_seconds=LEASE, renew_every=0.2),
    )
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.stop(0.1)
        store.close()


async def until(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.02)


def starts(launcher: FakeLauncher) -> list[dict[str, Any]]:
    return launcher.starts()


def workflow(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


# -- a retry's backoff, taken over by another machine ---------------------------------------


@DIRECTIONS
def test_a_retry_wait_taken_over_is_waited_out_for_what_is_left_of_it(
    postgres_migrated_url: str, tmp_path: Path, first: timedelta, second: timedelta
) -> None:
    """A run waits out a 60 s retry backoff on one machine, which is then forgotten.

    The machine that takes the run over waits out the rest of it, about 60 s:
    not 20 minutes more (the wait read on a clock ahead), nor nothing (read on
    one behind, hammering what the backoff protects).
    """
    delay = 60.0
    waiting: list[FakeWorker] = []

    def retry_then_hang(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] != "start":
            return
        waiting.append(worker)
        retrying = NodeRetrying(
            run_id=message["run_id"],
            seq=int(message.get("seq_after") or 0) + 1,
            at=datetime.now(UTC) + first,  # the worker reads its machine's clock
            node_id="only",
            step=1,
            next_attempt=2,
            delay=delay,
        )
        worker.say(event_message(retrying))

    owner, taker = FakeLauncher(retry_then_hang), FakeLauncher(succeed)

    async def scenario() -> None:
        url = postgres_migrated_url
        async with member(url, tmp_path / "a", "a", owner, first) as a:
            run_id = a.submit(a.load(workflow(tmp_path)))
            await until(lambda: bool(a.store.retry_waits(run_id)), what="the retry wait recorded")
            recorded_at = time.monotonic()
            async with member(url, tmp_path / "b", "b", taker, second) as b:
                # The owner is removed for good while it runs: its run is taken back.
                b.store.forget_supervisor(a.membership.id, silent_for=None)
                await until(lambda: bool(starts(taker)), what="the other machine takes it over")
                (start,) = starts(taker)
                left = float(start["retry_waits"]["1"])
                elapsed = time.monotonic() - recorded_at
                # (slack for a loaded machine: recording the wait and taking the run over take
                # seconds there; a wait read on a skewed clock is off by ten minutes)
                assert delay - elapsed - 10 <= left <= delay + 1, start["retry_waits"]
                # The owner heard it was forgotten: its worker stopped, it takes no more work.
                await until(lambda: a.forgotten is not None, what="the owner hears it")
                assert not a.active and not a.accepting

    asyncio.run(scenario())


# -- a crashed run's restart delay ------------------------------------------------------------


@DIRECTIONS
def test_a_restart_delay_set_on_one_machine_ends_when_it_ends_for_another(
    postgres_migrated_url: str, tmp_path: Path, first: timedelta, second: timedelta
) -> None:
    """A run crashes twice on one machine, which gives it a 3 s restart delay and stops.

    Another machine starts it once the delay is over by the database's clock:
    not at once (the delay read on a clock ahead of the writer's), nor ten
    minutes later (behind it).
    """
    delay = 3.0

    def crash(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] == "start":
            worker.exit(1)

    crasher, runner = FakeLauncher(crash), FakeLauncher(succeed)
    restarts = {"restart_delay": delay, "restart_jitter": 0.0, "max_restarts": 5}

    async def scenario() -> None:
        url = postgres_migrated_url
        async with member(url, tmp_path / "a", "a", crasher, first, **restarts) as a:
            run_id = a.submit(a.load(workflow(tmp_path)))

            def delayed() -> bool:
                record = a.store.get_run(run_id)
                return record is not None and record.not_before is not None

            await until(delayed, what="a restart delay")
            seen = datetime.now(UTC)  # the database's clock: the server runs on this machine
            record = a.store.get_run(run_id)
        assert record is not None and record.not_before is not None
        not_before = record.not_before
        # The delay's end is on the database's clock, not on the writer's.
        slack = timedelta(seconds=10)  # a loaded machine; the skew is ten minutes
        assert seen - slack <= not_before <= seen + timedelta(seconds=delay) + slack
        async with member(url, tmp_path / "b", "b", runner, second, **restarts) as b:
            await until(lambda: bool(starts(runner)), delay + 20, "the run restarts elsewhere")
            started_at = datetime.now(UTC)
            assert started_at >= not_before - timedelta(seconds=0.2), (started_at, not_before)
            await until(lambda: b.store.get_run(run_id).status is RunStatus.SUCCEEDED)  # type: ignore[union-attr]

    asyncio.run(scenario())


# -- a breaker shared through the store -------------------------------------------------------


@DIRECTIONS
def test_a_breaker_opened_on_one_machine_holds_on_another_for_its_cooldown(
    postgres_migrated_url: str, tmp_path: Path, first: timedelta, second: timedelta
) -> None:
    """One machine's run rate opens a workflow's breaker; the other holds it open for the cooldown.

    Not half-open at once (an opening read on a clock behind the writer's
    looks long past), nor open for ten minutes more (ahead of it).
    """
    cooldown = 5.0
    policy = BreakerPolicy(cooldown=cooldown)

    async def scenario() -> None:
        url = postgres_migrated_url
        async with (
            member(url, tmp_path / "a", "a", FakeLauncher(), first, breaker=policy) as a,
            member(url, tmp_path / "b", "b", FakeLauncher(), second, breaker=policy) as b,
        ):
            opened = time.monotonic()
            a._rate_opened("tiny")
            await until(lambda: a.store.breaker_row("tiny").opened_at is not None)
            await b.refresh_breakers()
            view = b.breaker("tiny")
            assert view.state(b.clock()) is BreakerState.OPEN
            await until(
                lambda: b.breaker("tiny").state(b.clock()) is BreakerState.HALF_OPEN,
                cooldown + 5,
                "half-open on the other machine once the cooldown is over",
            )
            # (each machine's reading of the database's clock is off by half a round trip)
            assert time.monotonic() - opened >= cooldown - 0.5

    asyncio.run(scenario())


# -- the run-rate ceiling's count of first starts ---------------------------------------------


def test_machines_whose_clocks_disagree_count_the_same_first_starts(
    store_factory: StoreFactory,
) -> None:
    """Claims alternate between a machine ahead and one behind: each counts every start.

    A machine ahead counting by its own clock would miss the starts of the
    one behind (stamped ten minutes "ago"), and the ceiling would hold for
    neither.
    """
    ahead = store_factory(clock=SkewedClock(SKEW), leases_by_database=True)
    behind = store_factory(clock=SkewedClock(-SKEW), leases_by_database=True)
    version = ahead.save_workflow_version("tiny", None, TINY)
    ahead.register_supervisor("ahead", host="pc-ahead")
    behind.register_supervisor("behind", host="pc-behind")
    ids = [uuid.uuid4().hex for _ in range(6)]
    ahead.create_runs([QueuedRow(run_id, "tiny", version) for run_id in ids])
    counts = []
    for index, run_id in enumerate(ids):
        store, who = (ahead, "ahead") if index % 2 == 0 else (behind, "behind")
        outcome = store.claim_counted(
            who, run_id, max_starts=100, rate_window=60.0, lease_seconds=LEASE
        )
        record, count = outcome.record, outcome.first_starts
        assert record is not None and record.id == run_id
        counts.append(count)
    assert counts == [1, 2, 3, 4, 5, 6]
    # A run's first start is stamped on the database's clock, whoever claimed it.
    now = ahead.lease_time()
    for run_id in ids:
        run = ahead.get_run(run_id)
        assert run is not None and run.started_at is not None
        assert abs((now - run.started_at).total_seconds()) < 30, run.started_at


# -- the fleet's queue: first in, first out ----------------------------------------------------


def test_runs_queued_on_machines_whose_clocks_disagree_keep_the_order_they_were_queued_in(
    postgres_migrated_url: str, tmp_path: Path
) -> None:
    """A run queued on a machine ahead, then one on a machine behind: the first stays first.

    Stamped with each machine's clock, the second would be "queued" twenty
    minutes before the first, and be claimed before it (and ``/metrics``
    would call the first's wait twenty minutes longer than it is).
    """

    async def scenario() -> None:
        url = postgres_migrated_url
        async with (
            member(url, tmp_path / "a", "a", FakeLauncher(), SKEW) as ahead,
            member(url, tmp_path / "b", "b", FakeLauncher(), -SKEW) as behind,
        ):
            first = ahead.submit(ahead.load(workflow(tmp_path)))
            second = behind.submit(behind.load(workflow(tmp_path)))
            now = ahead.store.lease_time()
            records = [ahead.store.get_run(first), ahead.store.get_run(second)]
            stamps = [record.queued_at for record in records if record is not None]
            assert len(stamps) == 2 and stamps[0] < stamps[1], stamps
            assert all(abs((now - at).total_seconds()) < 30 for at in stamps), (now, stamps)

    asyncio.run(scenario())
