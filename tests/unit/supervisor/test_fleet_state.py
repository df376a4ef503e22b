"""State several supervisors on one database share: restart delays, breakers, chains.

Two supervisors in one process on one real SQLite history, as in
``test_fleet_core``; each has its own fake workers and identity.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation.engine.events import RunStatus
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
