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
from tests.helpers.storage import seed_migrated_history
from tests.unit.supervisor.fakes import FakeClock, FakeLauncher, FakeWorker
from tests.unit.supervisor.test_protocol import keys_read

WORKFLOW = "name: tiny\nnodes:\n  only: {block: control.pass}\n"


@contextlib.asynccontextmanager
async def running(
    home: Path, launcher: FakeLauncher, clock: FakeClock, **config: Any
) -> AsyncIterator[Supervisor]:
    paths = DeskpilotPaths.under(home).ensure()
    seed_migrated_history(paths)  # at head already: a copy, not a migration per test
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


def _paused_then_resumed(commanded: bool, tmp_path: Path) -> None:
    """A run with a 60 s limit waits 300 s at a breakpoint, ended by a command or its timeout."""
    from datetime import UTC, datetime

    from automation.engine.events import NodePaused, NodeResumed
    from supervisor.debugging import DebugOptions
    from supervisor.protocol import event_message

    workers: list[tuple[FakeWorker, dict[str, Any]]] = []

    def pause(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] == "start":
            workers.append((worker, message))
            event = NodePaused(
                run_id=message["run_id"], seq=1, at=datetime.now(UTC), node_id="only", step=1,
                reason="breakpoint", timeout=600.0,
            )  # fmt: skip
            worker.say(event_message(event))

    launcher = FakeLauncher(pause)
    clock = FakeClock()

    async def scenario() -> None:
        async with running(tmp_path, launcher, clock, worker_limit=1) as supervisor:
            loaded = supervisor.load(workflow_file(tmp_path))
            debug = DebugOptions(breakpoints=("only",), pause_timeout=600.0)
            run_id = supervisor.submit(loaded, deadline_seconds=60.0, debug=debug)
            await until(
                lambda: run_id in supervisor.active and supervisor.paused(run_id) is not None
            )
            active = supervisor.active[run_id]
            started = active.entry.first_started
            assert started is not None
            clock.advance(300.0)
            if commanded:
                await supervisor.debug_command(run_id, {"action": "continue"})
                assert supervisor.paused(run_id) is None  # answered: no second command
                # still paused until the engine goes on: the kill deadline still allows it
                assert active.worker.hard_deadline > clock() + 60.0
            worker, start = workers[0]
            resumed = NodeResumed(
                run_id=run_id, seq=2, at=datetime.now(UTC), node_id="only", step=1,
                action="continue", waited=300.0, timed_out=not commanded,
            )  # fmt: skip
            worker.say(event_message(resumed))
            await until(lambda: active.entry.paused_seconds > 0)
            grace = supervisor.config.kill_grace
            assert active.entry.paused_seconds == 300.0
            assert active.worker.hard_deadline == started + 60.0 + 300.0 + 2 * grace + 1.0
            assert active.entry.time_left(clock()) == 60.0
            supervisor._check_worker(active.worker)  # what its timer does: not killed
            assert active.worker.state is WorkerState.BUSY
            worker.finish(start)
            await until(lambda: statuses(supervisor, [run_id]) == [RunStatus.SUCCEEDED])

    asyncio.run(scenario())


def test_a_pause_answered_by_a_command_is_not_counted_against_the_time_limit(
    tmp_path: Path,
) -> None:
    _paused_then_resumed(True, tmp_path)


def test_a_pause_that_timed_out_is_not_counted_against_the_time_limit(tmp_path: Path) -> None:
    _paused_then_resumed(False, tmp_path)


def test_a_locked_screen_s_hold_is_not_counted_against_the_time_limit(tmp_path: Path) -> None:
    """The engine says it holds (a 'held' line) and, 300 s later, that it goes on."""
    from datetime import UTC, datetime

    from automation.engine.events import LogEmitted
    from supervisor.protocol import event_message

    workers: list[tuple[FakeWorker, dict[str, Any]]] = []

    def hold(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] == "start":
            workers.append((worker, message))

    def line(run_id: str, seq: int, data: dict[str, Any]) -> dict[str, Any]:
        event = LogEmitted(
            run_id=run_id, seq=seq, at=datetime.now(UTC), node_id="only", level="info",
            message=f"{data['hold']}: ...", data=data, step=1,
        )  # fmt: skip
        return event_message(event)

    launcher = FakeLauncher(hold)
    clock = FakeClock()

    async def scenario() -> None:
        async with running(tmp_path, launcher, clock, worker_limit=1) as supervisor:
            loaded = supervisor.load(workflow_file(tmp_path))
            run_id = supervisor.submit(loaded, deadline_seconds=60.0)
            await until(lambda: bool(workers) and run_id in supervisor.active)
            active = supervisor.active[run_id]
            worker, start = workers[0]
            started = active.entry.first_started
            assert started is not None
            worker.say(line(run_id, 1, {"hold": "held", "session": "locked"}))
            await until(lambda: active.hold_clock is not None)
            assert active.worker.hard_deadline == float("inf")  # only the unlock ends it
            clock.advance(300.0)
            supervisor._check_worker(active.worker)  # past its limit, on the clock: not killed
            assert active.worker.state is WorkerState.BUSY
            worker.say(line(run_id, 2, {"hold": "released", "held_seconds": 300.0}))
            await until(lambda: active.hold_clock is None)
            grace = supervisor.config.kill_grace
            assert active.entry.paused_seconds == 300.0
            assert active.worker.hard_deadline == started + 60.0 + 300.0 + 2 * grace + 1.0
            worker.finish(start)
            await until(lambda: statuses(supervisor, [run_id]) == [RunStatus.SUCCEEDED])

    asyncio.run(scenario())
