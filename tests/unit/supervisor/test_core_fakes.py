"""The supervisor's shell driven with fake workers, a fake clock and a real SQLite history.

The fakes (``tests/unit/supervisor/fakes.py``) stand in for worker
processes so these tests can make a hand-over fail or a worker fall silent
on cue; real processes are in ``tests/integration/supervisor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.paths import DeskpilotPaths
from supervisor.protocol import Start
from supervisor.store.store import HistoryStore
from supervisor.workers import WorkerState
from tests.unit.supervisor.fakes import FakeClock, FakeLauncher, FakeWorker
from tests.unit.supervisor.test_protocol import keys_read

WORKFLOW = "name: tiny\nnodes:\n  only: {block: control.pass}\n"


@contextlib.asynccontextmanager
async def running(
    home: Path, launcher: FakeLauncher, clock: FakeClock, **config: Any
) -> AsyncIterator[Supervisor]:
    paths = DeskpilotPaths.under(home).ensure()
    store = HistoryStore.open(paths.database_url)
    settings = {"worker_limit": 2, "spare_workers": 0, "shutdown_grace": 0.1, **config}
    supervisor = Supervisor(
        store=store,
        launcher=launcher,
        registry=BlockRegistry.with_builtins(plugins=False),
        config=SupervisorConfig(**settings),
        artifacts_dir=paths.artifacts_dir,
        clock=clock,
        kill=launcher.kill,
    )
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.stop(0.1)
        store.close()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def statuses(supervisor: Supervisor, run_ids: list[str]) -> list[RunStatus | None]:
    records = [supervisor.store.get_run(run_id) for run_id in run_ids]
    return [None if r is None else r.status for r in records]


def workflow_file(home: Path) -> Path:
    path = home / "tiny.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    return path


def test_queued_runs_start_on_fake_workers_and_succeed(tmp_path: Path) -> None:
    launcher = FakeLauncher()

    async def scenario() -> None:
        async with running(tmp_path, launcher, FakeClock()) as supervisor:
            loaded = supervisor.load(workflow_file(tmp_path))
            run_ids = [supervisor.submit(loaded) for _ in range(5)]
            done = [RunStatus.SUCCEEDED] * 5
            await until(lambda: statuses(supervisor, run_ids) == done)
            assert sorted(m["run_id"] for m in launcher.starts()) == sorted(run_ids)

    asyncio.run(scenario())


def test_a_hand_over_that_raises_fails_that_run_and_the_next_runs_still_start(
    tmp_path: Path,
) -> None:
    launcher = FakeLauncher()

    async def scenario() -> None:
        async with running(tmp_path, launcher, FakeClock(), worker_limit=1) as supervisor:
            store = supervisor.store
            real = store.claim_queued
            broken: set[str] = set()

            def claim_queued(claimant: str, **options: Any) -> Any:
                if broken & set(options.get("run_ids") or ()):
                    raise RuntimeError("a bug in the hand-over")
                return real(claimant, **options)

            store.claim_queued = claim_queued  # type: ignore[method-assign]
            loaded = supervisor.load(workflow_file(tmp_path))
            first = supervisor.submit(loaded, priority=5, run_id="a" * 32)
            broken.add(first)
            later = [supervisor.submit(loaded) for _ in range(3)]
            want = [RunStatus.FAILED, *[RunStatus.SUCCEEDED] * 3]
            await until(lambda: statuses(supervisor, [first, *later]) == want)
            record = store.get_run(first)
            assert record is not None and record.error is not None
            assert "RuntimeError: a bug in the hand-over" in record.error
            assert [m["run_id"] for m in launcher.starts()] == later
            assert not supervisor.queue and not supervisor.active

    asyncio.run(scenario())


def test_a_worker_silent_past_its_lease_is_killed_and_its_run_resumes(tmp_path: Path) -> None:
    starts = 0

    def hang_once(worker: FakeWorker, message: dict[str, Any]) -> None:
        nonlocal starts
        if message["type"] == "start":
            starts += 1
            if starts > 1:
                worker.finish(message)

    launcher = FakeLauncher(hang_once)
    clock = FakeClock()

    async def scenario() -> None:
        async with running(tmp_path, launcher, clock, worker_limit=1) as supervisor:
            run_id = supervisor.submit(supervisor.load(workflow_file(tmp_path)))
            await until(lambda: run_id in supervisor.active)
            worker = supervisor.active[run_id].worker
            assert worker.state is WorkerState.BUSY
            clock.advance(supervisor.config.lease + 0.1)  # silent past its lease, on the clock
            supervisor._check_worker(worker)  # what the worker's timer does when it fires
            await until(lambda: statuses(supervisor, [run_id]) == [RunStatus.SUCCEEDED])
            assert supervisor.counters["heartbeat_misses"] == 1
            assert supervisor.counters["restarts"] == 1
            first, second = launcher.starts()
            assert first["run_id"] == second["run_id"] == run_id
            assert second["seq_after"] > first["seq_after"]  # numbered on after the note

    asyncio.run(scenario())


def test_the_start_a_supervisor_sends_has_every_field_the_worker_reads(tmp_path: Path) -> None:
    launcher = FakeLauncher()

    async def scenario() -> None:
        async with running(tmp_path, launcher, FakeClock()) as supervisor:
            run_id = supervisor.submit(supervisor.load(workflow_file(tmp_path)))
            await until(lambda: statuses(supervisor, [run_id]) == [RunStatus.SUCCEEDED])
            (sent,) = launcher.starts()
            assert keys_read(sent) == set(sent)  # nothing missing, nothing unread
            assert Start.from_dict(sent).run_id == run_id

    asyncio.run(scenario())
