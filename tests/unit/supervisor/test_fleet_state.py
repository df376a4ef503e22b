"""State several supervisors on one database share: restart delays, breakers, chains.

Two supervisors in one process on one real SQLite history, as in
``test_fleet_core``; each has its own fake workers and identity.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation.engine.events import RunStatus
from supervisor.breaker import BreakerPolicy
from supervisor.core import Supervisor
from supervisor.store import HistoryStore
from supervisor.store.fleet import registered_hosts
from tests.unit.supervisor.fakes import FakeLauncher, FakeWorker
from tests.unit.supervisor.test_fleet_core import TINY, member, status, until, workflow


class CrashFirst:
    """The first ``crashes`` run starts crash their worker; when each start arrived is kept."""

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.arrivals: list[datetime] = []

    def __call__(self, worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] != "start":
            return
        self.arrivals.append(datetime.now(UTC))
        if len(self.arrivals) > self.crashes:
            worker.finish(message)
            return
        worker.exit(-9)


def test_a_restart_delay_holds_on_whichever_supervisor_takes_the_run(tmp_path: Path) -> None:
    """A run waiting out its restart delay is not taken early by another supervisor,
    nor right away once the supervisor that gave it the delay is gone."""
    # The first restart is immediate, the second waits ``restart_delay``.
    crashing, other = CrashFirst(crashes=2), CrashFirst(crashes=0)
    db = tmp_path / "shared.db"
    delay = {"restart_delay": 1.5, "restart_jitter": 0.0}

    async def scenario() -> None:
        async with member(db, tmp_path / "b", "b", "m2", FakeLauncher(other)) as b:
            async with member(db, tmp_path / "a", "a", "m1", FakeLauncher(crashing), **delay) as a:
                b.accepting = False  # a takes the first attempt
                run_id = a.submit(a.load(workflow(tmp_path, TINY)))

                def delayed() -> bool:
                    found = a.store.get_run(run_id)
                    return (
                        found is not None
                        and found.not_before is not None
                        and found.status is RunStatus.QUEUED
                    )

                await until(delayed)
                record = a.store.get_run(run_id)
                assert record is not None and record.not_before is not None
                assert len(crashing.arrivals) == 2
                wait = (record.not_before - datetime.now(UTC)).total_seconds()
                assert 0.5 < wait <= 1.5
                b.accepting = True
                b.poke()
                a.accepting = False  # a stops taking work: as good as gone for this run
            # a is stopped; b finds the run and must wait out the delay a gave it
            await until(lambda: status(b, run_id) is RunStatus.SUCCEEDED)
            assert len(other.arrivals) == 1
            assert other.arrivals[0] >= record.not_before
            assert (other.arrivals[0] - record.not_before).total_seconds() < 3.0

    asyncio.run(scenario())


def fail(worker: FakeWorker, message: dict[str, Any]) -> None:
    """Each run fails as soon as it starts."""
    if message["type"] == "start":
        worker.finish(message, RunStatus.FAILED)


def test_a_breaker_opened_on_one_supervisor_holds_on_the_other(tmp_path: Path) -> None:
    """Failures on a open the breaker for b too; after the cool-down one probe goes, on
    either; a reset through b closes it for a."""
    cooldown = 2.5
    policy = {"breaker": BreakerPolicy(threshold=2, window=60.0, cooldown=cooldown)}
    one, two = FakeLauncher(fail), FakeLauncher(fail)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "a", "a", "m1", one, **policy) as a,
            member(db, tmp_path / "b", "b", "m2", two, **policy) as b,
        ):
            b.accepting = False  # a runs the failures
            loaded = a.load(workflow(tmp_path, TINY))
            failed = [a.submit(loaded) for _ in range(2)]
            await until(lambda: all(status(a, r) is RunStatus.FAILED for r in failed))
            await until(lambda: is_open(a) and is_open(b))  # b hears it with a renewal
            b.accepting = True
            reopens = a.breakers[TINY_NAME].reopens_at()
            assert reopens is not None
            waiting = [b.submit(b.load(workflow(tmp_path, TINY))) for _ in range(3)]
            a.poke()
            # open: nobody starts them; half-open: one probe, on one of the two
            await until(lambda: len(started(one) + started(two)) == 3)
            assert time.monotonic() >= reopens - 0.05  # a.clock is time.monotonic
            await asyncio.sleep(1.0)
            assert len(started(one) + started(two)) == 3  # the probe failed: open again
            assert [status(b, r) for r in waiting].count(RunStatus.QUEUED) == 2
            reset = await b.reset_breaker_everywhere(TINY_NAME)
            assert reset.opened_at is None and reset.failures == ()
            # both let the waiting runs go (their failures open it again: threshold 2)
            await until(lambda: a._breaker_versions.get(TINY_NAME, 0) >= reset.version)
            await until(lambda: all(status(b, r) is RunStatus.FAILED for r in waiting))

    asyncio.run(scenario())


TINY_NAME = "tiny"


def is_open(supervisor: Supervisor) -> bool:
    breaker = supervisor.breakers.get(TINY_NAME)
    return breaker is not None and breaker.opened_at is not None


def started(launcher: FakeLauncher) -> list[str]:
    return [str(message["run_id"]) for message in launcher.starts()]


def test_the_machines_are_read_without_creating_or_migrating_anything(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    assert registered_hosts(f"sqlite:///{missing}") is None
    assert not missing.exists()
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    store = HistoryStore.open(url)
    try:
        assert registered_hosts(url) == set()
        store.register_supervisor("a" * 32, host="pc-a", pid=1)
        assert registered_hosts(url) == {"pc-a"}
    finally:
        store.close()
