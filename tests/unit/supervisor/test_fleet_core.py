"""Several supervisors on one database: a shared queue, leases, fencing, cancels, routing.

Two supervisors in one process share one real SQLite history, each with its
own home, its own fake workers (``fakes.py``: what each worker does is
decided by the test) and its own identity (``Membership``), with leases of
five seconds renewed every 0.2 s.  Real processes on PostgreSQL are
tested by the fleet tests of the store; here the core's decisions are.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from automation.blocks import desktop
from automation.blocks.registry import BlockRegistry
from automation.engine.events import LogEmitted, RunStatus
from automation.loader import parse_workflow
from supervisor.breaker import BreakerPolicy
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.debugging import DebugOptions
from supervisor.errors import SupervisorError
from supervisor.membership import Membership
from supervisor.paths import DeskpilotPaths, sqlite_url
from supervisor.protocol import EngineEvent
from supervisor.runqueue import route
from supervisor.store.store import HistoryStore, QueuedRow
from supervisor.triggers.specs import spec_dump, spec_hash
from tests.helpers.deadlines import scaled, stopped
from tests.helpers.storage import seed_migrated_history
from tests.unit.supervisor.fakes import FakeLauncher, FakeWorker, succeed

LEASE = 5.0
TINY = "name: tiny\nnodes:\n  only: {block: control.pass}\n"
CLICKER = "name: clicker\nnodes:\n  where: {block: mouse.position}\n"


class JumpClock:
    """The monotonic clock, plus however far a test has pushed it (a frozen process waking)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class HangFirst:
    """The first run of its launcher hangs (until cancelled); later ones succeed."""

    def __init__(self) -> None:
        self.hung = False

    def __call__(self, worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] == "start" and self.hung:
            worker.finish(message)
            return
        if message["type"] == "start":
            self.hung = True
        hang(worker, message)


def hang(worker: FakeWorker, message: dict[str, Any]) -> None:
    """Never finishes its run; a cancel ends it cancelled."""
    if message["type"] == "start":
        worker.run = message  # type: ignore[attr-defined]
    elif message["type"] == "cancel":
        worker.finish(worker.run, RunStatus.CANCELLED)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def member(
    shared: Path,
    home: Path,
    name: str,
    host: str,
    launcher: FakeLauncher,
    *,
    workers: int = 2,
    clock: Callable[[], float] = time.monotonic,
    **config: Any,
) -> AsyncIterator[Supervisor]:
    paths = DeskpilotPaths.under(home, database_url=sqlite_url(shared)).ensure()
    seed_migrated_history(paths)  # at head already: a copy, not a migration per test
    store = HistoryStore.open(paths.database_url)
    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.position" not in registry:
        registry.register_module(desktop)
    supervisor = Supervisor(
        store=store,
        launcher=launcher,
        registry=registry,
        config=SupervisorConfig(
            worker_limit=workers,
            spare_workers=0,
            shutdown_grace=0.1,
            heartbeat_timeout=60.0,  # fake workers send no heartbeats
            **config,
        ),
        artifacts_dir=paths.artifacts_dir,
        clock=clock,
        kill=launcher.kill,
        membership=Membership(id=name * 32, host=host, lease_seconds=LEASE, renew_every=0.2),
    )
    await supervisor.start()
    try:
        yield supervisor
    finally:
        try:
            await stopped(supervisor.stop(0.1), f"supervisor {name}")
        finally:
            store.close()


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it holds, for ``timeout`` seconds on a quiet machine (``scaled``)."""
    deadline = time.monotonic() + scaled(timeout)
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def status(supervisor: Supervisor, run_id: str) -> RunStatus | None:
    record = supervisor.store.get_run(run_id)
    return None if record is None else record.status


def started(launcher: FakeLauncher) -> list[str]:
    return [str(message["run_id"]) for message in launcher.starts()]


def workflow(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"{text.split()[1]}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_idle_supervisor_runs_what_a_busy_one_queued(tmp_path: Path) -> None:
    busy, idle = FakeLauncher(hang), FakeLauncher(succeed)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "a", "a", "m1", busy, workers=1) as a,
            member(db, tmp_path / "b", "b", "m2", idle) as b,
        ):
            loaded = a.load(workflow(tmp_path, TINY))
            run_ids = [a.submit(loaded) for _ in range(8)]
            await until(lambda: sum(status(b, r) is RunStatus.SUCCEEDED for r in run_ids) == 7)
            # each run was started once, by one of the two
            assert sorted(started(busy) + started(idle)) == sorted(run_ids)
            (held,) = started(busy)
            record = a.store.get_run(held)
            assert record is not None and record.claimed_by == a.membership.id
            await until(lambda: not a.queue)  # what b took is gone from a's queue too

    asyncio.run(scenario())


def test_a_supervisor_starting_leaves_the_live_runs_of_another_alone(tmp_path: Path) -> None:
    first, second = FakeLauncher(hang), FakeLauncher(succeed)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", first, workers=1) as a:
            run_id = a.submit(a.load(workflow(tmp_path, TINY)))
            await until(lambda: run_id in a.active)
            async with member(db, tmp_path / "b", "b", "m2", second) as b:
                await asyncio.sleep(LEASE + 1)  # past the lease a missed renewal would lose
                assert started(second) == []
                record = b.store.get_run(run_id)
                assert record is not None
                assert (record.status, record.claimed_by) == (RunStatus.RUNNING, a.membership.id)
                events = b.store.events(run_id)
                assert not [e for e in events if (e.data or {}).get("reason") == "supervisor_lost"]

    asyncio.run(scenario())


def test_a_supervisor_past_its_lease_stops_its_worker_and_writes_nothing(tmp_path: Path) -> None:
    frozen, rescuer = FakeLauncher(hang), FakeLauncher(succeed)
    clock = JumpClock()
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", frozen, workers=1, clock=clock) as a:
            run_id = a.submit(a.load(workflow(tmp_path, TINY)))
            await until(lambda: run_id in a.active)
            worker = frozen.spawned[-1]

            async def frozen_renewal() -> None:  # its loop frozen (SIGSTOP): no renewal gets out
                return None

            a._renew = frozen_renewal  # type: ignore[method-assign]
            async with member(db, tmp_path / "b", "b", "m2", rescuer) as b:
                # b reaps the run once a's lease has expired in the store, and resumes it
                await until(lambda: status(b, run_id) is RunStatus.SUCCEEDED)
                assert started(rescuer) == [run_id]
                # a wakes up past its lease; its worker reports something
                clock.offset += 10 * LEASE
                late = LogEmitted(
                    run_id=run_id,
                    seq=999,
                    at=b.store.clock.now(),
                    node_id=None,
                    level="info",
                    message="written by a supervisor that lost its lease",
                    data={},
                )
                worker.say(EngineEvent(event=late).to_dict())
                await until(lambda: run_id not in a.active and worker._exited.done())
                a.recorder.flush(timeout=5)
                messages = [e.message for e in b.store.events(run_id)]
                assert late.message not in messages
                assert status(b, run_id) is RunStatus.SUCCEEDED

    asyncio.run(scenario())


def test_a_cancel_through_another_supervisor_stops_the_run(tmp_path: Path) -> None:
    owner, other = FakeLauncher(hang), FakeLauncher(succeed)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "a", "a", "m1", owner, workers=1) as a,
            member(db, tmp_path / "b", "b", "m2", other) as b,
        ):
            run_id = a.submit(a.load(workflow(tmp_path, TINY)))
            await until(lambda: run_id in a.active)
            assert await b.cancel_off_loop(run_id)
            await until(lambda: status(b, run_id) is RunStatus.CANCELLED)
            assert started(other) == []

    asyncio.run(scenario())


def test_runs_go_to_the_machine_named_and_desktop_runs_stay_on_theirs(tmp_path: Path) -> None:
    here, there = FakeLauncher(succeed), FakeLauncher(succeed)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "b", "b", "m2", there),
            member(db, tmp_path / "a", "a", "m1", here) as a,
        ):
            tiny = a.load(workflow(tmp_path, TINY))
            clicker = a.load(workflow(tmp_path, CLICKER))
            sent = a.submit(tiny, on="m2")
            local = [a.submit(clicker) for _ in range(3)]
            await until(lambda: status(a, sent) is RunStatus.SUCCEEDED)
            await until(lambda: all(status(a, r) is RunStatus.SUCCEEDED for r in local))
            assert started(there) == [sent]
            assert sorted(started(here)) == sorted(local)
            record = a.store.get_run(local[0])
            assert record is not None and (record.target_host, record.needs_desktop) == (
                "m1",
                True,
            )

    asyncio.run(scenario())


def test_one_desktop_run_at_a_time_per_machine_across_supervisors(tmp_path: Path) -> None:
    first, second = FakeLauncher(HangFirst()), FakeLauncher(succeed)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "a", "a", "m1", first) as a,
            member(db, tmp_path / "b", "b", "m1", second) as b,
        ):
            clicker = a.load(workflow(tmp_path, CLICKER))
            holding = a.submit(clicker)
            await until(lambda: holding in a.active)
            waiting = b.submit(b.load(workflow(tmp_path / "b", CLICKER)))

            def refused() -> bool:
                """b tried to start it and the store refused the claim (it waits to retry)."""
                entry = b.queue.get(waiting)
                return entry is not None and entry.not_before > 0

            await until(lambda: refused() or status(b, waiting) is not RunStatus.QUEUED)
            assert status(b, waiting) is RunStatus.QUEUED  # m1's desktop is a's run's
            assert await a.cancel_off_loop(holding)
            await until(lambda: status(b, waiting) is RunStatus.SUCCEEDED)

    asyncio.run(scenario())


def test_a_run_for_a_machine_nobody_runs_on_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", FakeLauncher()) as a:
            loaded = a.load(workflow(tmp_path, TINY))
            with pytest.raises(SupervisorError, match=r"no supervisor on a machine named 'm9'.*m1"):
                await a.submit_off_loop(loaded, on="m9")

    asyncio.run(scenario())


def test_breakpoints_a_time_limit_and_run_from_here_go_with_the_run(tmp_path: Path) -> None:
    """Kept in the run's row, they reach the machine that claims it, not only the submitter's."""
    db = tmp_path / "shared.db"
    there = FakeLauncher(succeed)

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "a", "a", "m1", FakeLauncher()) as a,
            member(db, tmp_path / "b", "b", "m2", there) as b,
        ):
            loaded = a.load(workflow(tmp_path, TINY))
            first = await a.submit_off_loop(loaded, on="m2")
            await until(lambda: status(b, first) is RunStatus.SUCCEEDED)
            debug = DebugOptions(breakpoints=("only",), pause_timeout=7.0)
            run_id = await a.submit_off_loop(loaded, on="m2", deadline_seconds=30, debug=debug)
            again = await a.submit_off_loop(
                loaded,
                on="m2",
                checkpoint_from=first,
                debug=DebugOptions(run_from="only"),
            )
            await until(lambda: status(b, run_id) is RunStatus.SUCCEEDED)
            await until(lambda: status(b, again) is RunStatus.SUCCEEDED)
            starts = {str(m["run_id"]): m for m in there.starts()}
            assert starts[run_id]["breakpoints"] == ["only"]
            assert starts[run_id]["pause_timeout"] == 7.0
            assert 0 < starts[run_id]["deadline_seconds"] <= 30
            assert b.store.get_run(again).options == {  # type: ignore[union-attr]
                "run_from": "only",
                "checkpoint_from": first,
            }

    asyncio.run(scenario())


def test_where_a_run_goes() -> None:
    assert route(None, desktop=False, here="m1") is None  # any machine
    assert route(None, desktop=True, here="m1") == "m1"  # its own screen
    assert route("m2", desktop=True, here="m1") == "m2"  # the one named


def test_a_trigger_names_its_machine_and_old_states_keep_their_hash() -> None:
    plain = parse_workflow(f"{TINY}triggers:\n  - {{type: webhook, name: go, secret: s}}\n")
    routed = parse_workflow(
        f"{TINY}triggers:\n  - {{type: webhook, name: go, secret: s, on: robot-2}}\n"
    )
    (before,) = plain.workflow.triggers
    (after,) = routed.workflow.triggers
    assert (before.on, after.on) == (None, "robot-2")
    data = spec_dump(before)
    data.pop("on")
    legacy = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    assert spec_hash(before) == legacy[:16]  # saved before the option existed: still valid
    assert spec_hash(after) != spec_hash(before)


def test_the_run_rate_ceiling_counts_every_supervisors_starts(tmp_path: Path) -> None:
    """Four starts allowed per minute: each supervisor's four workers would keep it, together not.

    Counted per supervisor, neither would ever pass the ceiling (a worker
    each, four each); the store counts both, so the fifth start opens the
    breaker for the workflow, on both, and the rest stay queued.
    """
    first, second = FakeLauncher(hang), FakeLauncher(hang)
    db = tmp_path / "shared.db"
    policy = BreakerPolicy(max_starts=4, rate_window=60.0, cooldown=60.0)

    async def scenario() -> None:
        async with (
            member(db, tmp_path / "a", "a", "m1", first, workers=4, breaker=policy) as a,
            member(db, tmp_path / "b", "b", "m2", second, workers=4, breaker=policy) as b,
        ):
            loaded = a.load(workflow(tmp_path, TINY))
            run_ids = [a.submit(loaded) for _ in range(10)]
            await until(lambda: a.store.breaker_row("tiny").opened_for == "run rate")
            await until(lambda: all(s.breaker("tiny").opened_at is not None for s in (a, b)))
            ran = started(first) + started(second)
            # the fifth opened it; a claim already under way on the other may still go
            assert 5 <= len(ran) <= 6, ran
            assert started(first) and started(second)
            await asyncio.sleep(0.5)  # renewals and dispatches come and go: nothing more starts
            assert len(started(first) + started(second)) == len(ran)
            queued = [r for r in run_ids if status(a, r) is RunStatus.QUEUED]
            assert len(queued) == 10 - len(ran)

    asyncio.run(scenario())


def test_a_backlog_in_the_store_is_held_only_as_far_as_the_look_ahead(tmp_path: Path) -> None:
    """A supervisor holds the next runs it can start, not the whole backlog, and runs it all.

    Each look read every queued run in full and added up to 200 more to the
    queue, so a backlog of 600 moved into its memory within a few looks.
    Now a look reads ids, and loads runs only up to its look-ahead (25 per
    worker); as runs end, it looks again and the backlog still drains.
    """
    slow, quick = FakeLauncher(hang), FakeLauncher(succeed)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", slow) as a:
            version = a.store.save_workflow_version("tiny", None, TINY)
            backlog = [QueuedRow(uuid.uuid4().hex, "tiny", version) for _ in range(600)]
            a.store.create_runs(backlog)
            a.poke()
            await until(lambda: len(started(slow)) == 2)
            for _ in range(10):  # renewals, each with its look
                await asyncio.sleep(0.2)
                assert len(a.queue) <= 50, len(a.queue)
            assert len(a.queue) == 50
            # what it holds is the head of the backlog, in claim order
            assert [*started(slow), *a.queue] == [row.run_id for row in backlog[:52]]
        async with member(db, tmp_path / "b", "b", "m2", quick) as b:
            await until(lambda: b.store.count_runs(status=RunStatus.SUCCEEDED) >= 598, timeout=120)

    asyncio.run(scenario())
