"""The trigger manager's misfire handling across restarts, driven by a fake clock.

A real supervisor and a real SQLite history; only the manager's idea of
"now" is fake, so a ten-minute downtime takes no time at all.  Each
``session`` is one supervisor lifetime: the manager reconciles the missed
fires while it starts, so the history can be checked as soon as it has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.daemon import DaemonParts
from supervisor.paths import DeskpilotPaths
from supervisor.store.records import RunRecord
from supervisor.store.store import HistoryStore
from supervisor.triggers.manager import TriggerManager
from supervisor.triggers.state import TriggerStateStore
from supervisor.workers import PythonWorkerLauncher

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


class FakeNow:
    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


def workflow(home: Path, name: str, triggers: str) -> Path:
    folder = home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nnodes:\n  step: {{block: control.pass}}\ntriggers:\n{triggers}",
        encoding="utf-8",
    )
    return path


@contextlib.asynccontextmanager
async def session(
    home: Path, registry: BlockRegistry, now: FakeNow, **manager_options: Any
) -> AsyncIterator[TriggerManager]:
    """One supervisor lifetime: a real supervisor and its trigger manager on ``home``'s
    history, the manager's clock ``now`` (``manager_options`` go to the manager too)."""
    paths = DeskpilotPaths.under(home).ensure()
    store = HistoryStore.open(paths.database_url)
    supervisor = Supervisor(
        store=store,
        launcher=PythonWorkerLauncher(log_dir=paths.log_dir / "workers"),
        registry=registry,
        config=SupervisorConfig(worker_limit=1, spare_workers=0, shutdown_grace=0.2),
        artifacts_dir=paths.artifacts_dir,
    )
    await supervisor.start()
    manager = TriggerManager(
        DaemonParts(paths=paths, supervisor=supervisor, store=store, registry=registry),
        now=now,
        **manager_options,
    )
    await manager.start()
    try:
        yield manager
    finally:
        await manager.stop()
        await supervisor.stop(0.2)
        store.close()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def history(home: Path, name: str) -> list[RunRecord]:
    with HistoryStore.open(DeskpilotPaths.under(home).database_url) as store:
        return list(reversed(store.list_runs(workflow=name, limit=None)))


def missed(runs: list[RunRecord]) -> list[RunRecord]:
    return [
        r for r in runs if r.status is RunStatus.CANCELLED and (r.error or "").startswith("missed:")
    ]


def submitted(runs: list[RunRecord]) -> list[RunRecord]:
    return [r for r in runs if r not in missed(runs)]


def label(key: str, seconds: float) -> str:
    return f"schedule:{key}@{(T0.replace(microsecond=0) + timedelta(seconds=seconds)).isoformat()}"


def test_run_once_after_downtime_runs_one_and_records_every_other_missed_fire(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    now = FakeNow(T0)
    workflow(tmp_path, "report", "  - {type: schedule, interval: 60s, misfire: run_once}\n")

    async def scenario() -> None:
        async with session(tmp_path, registry, now):
            pass  # first sight of the trigger: it counts from now, nothing is missed
        assert history(tmp_path, "report") == []
        now.advance(630)  # down for ten and a half minutes: ten fires missed
        async with session(tmp_path, registry, now):
            pass
        runs = history(tmp_path, "report")
        assert [r.trigger for r in submitted(runs)] == [label("report:0", 600)]
        assert [r.trigger for r in missed(runs)] == [
            label("report:0", 60 * k) for k in range(1, 10)
        ]
        assert all("one run was made instead" in (r.error or "") for r in missed(runs))
        async with session(tmp_path, registry, now):
            pass  # the same moment again: everything is already accounted for
        assert len(history(tmp_path, "report")) == 10

    run(scenario)


def test_a_fire_already_in_the_history_is_not_fired_again(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    """A crash after submitting but before saving the mark must not make a second run."""
    now = FakeNow(T0)
    workflow(tmp_path, "report", "  - {type: schedule, interval: 60s, misfire: catch_up}\n")

    async def scenario() -> None:
        async with session(tmp_path, registry, now):
            pass
        now.advance(200)
        async with session(tmp_path, registry, now) as manager:
            store = TriggerStateStore(manager.store, now)
            state = store.load_all()["report:0"]
        assert len(history(tmp_path, "report")) == 3
        # put the mark back where it was before those three fires, as a crash would leave it
        state.checked_through = T0
        with HistoryStore.open(DeskpilotPaths.under(tmp_path).database_url) as raw:
            TriggerStateStore(raw, now).save(state)
        async with session(tmp_path, registry, now):
            pass
        runs = history(tmp_path, "report")
        assert [r.trigger for r in runs] == [label("report:0", s) for s in (60, 120, 180)]

    run(scenario)


def test_policies_side_by_side_with_a_grace(tmp_path: Path, registry: BlockRegistry) -> None:
    now = FakeNow(T0)
    workflow(
        tmp_path,
        "jobs",
        "  - {type: schedule, interval: 60s, misfire: skip}\n"
        "  - {type: schedule, interval: 60s, misfire: catch_up, misfire_grace: 160s}\n"
        "  - {type: schedule, interval: 600s, misfire: run_once, misfire_grace: 100s}\n",
    )

    async def scenario() -> None:
        async with session(tmp_path, registry, now):
            pass
        now.advance(1350)  # 12:22:30
        async with session(tmp_path, registry, now):
            pass
        runs = history(tmp_path, "jobs")
        by_key: dict[str, list[RunRecord]] = {}
        for r in runs:
            by_key.setdefault(r.trigger.split("@")[0], []).append(r)
        skip, catch_up, run_once = (by_key[f"schedule:jobs:{i}"] for i in range(3))
        # skip: 22 fires, none ran, every one recorded
        assert submitted(skip) == [] and len(missed(skip)) == 22
        # catch_up: the fires at most 160 s late ran (12:20, 12:21, 12:22); 19 older recorded
        assert [r.trigger for r in submitted(catch_up)] == [
            label("jobs:1", s) for s in (1200, 1260, 1320)
        ]
        assert len(missed(catch_up)) == 19
        assert "past the misfire grace of 160s" in (missed(catch_up)[0].error or "")
        # run_once with a 100 s grace: the last fire (12:20) is 150 s late: recorded, not run
        assert submitted(run_once) == []
        assert [r.trigger for r in missed(run_once)] == [label("jobs:2", s) for s in (600, 1200)]
        assert "past the misfire grace of 100s" in (missed(run_once)[-1].error or "")

    run(scenario)


def test_user_pause_survives_a_restart_and_paused_time_is_not_a_misfire(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    now = FakeNow(T0)
    workflow(tmp_path, "report", "  - {type: schedule, interval: 60s, misfire: catch_up}\n")

    async def scenario() -> None:
        async with session(tmp_path, registry, now) as manager:
            assert manager.pause("report") is True
            assert manager.pause("nothing-like-this") is False
        now.advance(600)
        async with session(tmp_path, registry, now) as manager:
            [info] = manager.list()
            assert (info["paused"], info["paused_reason"]) == (True, "user")
            assert info["next_fire_at"] is None
            assert history(tmp_path, "report") == []
            now.advance(30)
            assert manager.resume("report:0") is True
            assert manager.list()[0]["paused"] is False
        now.advance(100)  # resumed at 12:10:30, down until 12:12:10: 12:11 and 12:12 missed
        async with session(tmp_path, registry, now):
            pass
        assert [r.trigger for r in history(tmp_path, "report")] == [
            label("report:0", 660),
            label("report:0", 720),
        ]

    run(scenario)


def test_changed_timing_starts_afresh_and_a_returning_trigger_does_not_catch_up(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    now = FakeNow(T0)
    path = workflow(tmp_path, "report", "  - {type: schedule, interval: 60s, misfire: catch_up}\n")

    async def scenario() -> None:
        async with session(tmp_path, registry, now):
            pass
        now.advance(300)
        workflow(tmp_path, "report", "  - {type: schedule, interval: 120s, misfire: catch_up}\n")
        async with session(tmp_path, registry, now):
            pass
        assert history(tmp_path, "report") == []  # a new schedule owes nothing for the old one
        path.rename(path.with_suffix(".off"))
        async with session(tmp_path, registry, now):
            pass  # the workflow is gone: its trigger is marked removed
        now.advance(600)
        path.with_suffix(".off").rename(path)
        async with session(tmp_path, registry, now) as manager:
            assert [t["key"] for t in manager.list()] == ["report:0"]
        assert history(tmp_path, "report") == []

    run(scenario)


def test_schedules_waking_together_fire_in_one_pass_without_reading_the_history(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    """Twenty schedules on one grid must not each pay a transaction and a history scan."""
    now = FakeNow(T0)
    keys = [f"tick{i}:0" for i in range(3)]
    for key in keys:
        workflow(tmp_path, key.split(":")[0], "  - {type: schedule, interval: 60s}\n")

    async def scenario() -> None:
        async with session(tmp_path, registry, now) as manager:
            statements: list[str] = []

            def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
                statements.append(" ".join(statement.split()))

            event.listen(manager.store.engine, "before_cursor_execute", seen)
            now.advance(60)
            # what APScheduler does when the three jobs come due at the same moment
            for key in keys:
                await manager._schedule_woke(key, manager._triggers[key].generation)
            for _ in range(100):
                await asyncio.sleep(0.01)  # yield to the loop until the pass has run
                wrote = any(s.startswith("UPDATE triggers") for s in statements)
                if not manager._due and wrote:  # the states are written behind the runs
                    break
            event.remove(manager.store.engine, "before_cursor_execute", seen)
        fired = [label(key, 60) for key in keys]
        assert [
            r.trigger for name in ("tick0", "tick1", "tick2") for r in history(tmp_path, name)
        ] == fired
        # One upsert (INSERT ... ON CONFLICT DO UPDATE) saves every state that changed.
        state_writes = [
            s for s in statements if s.startswith(("UPDATE triggers", "INSERT INTO triggers"))
        ]
        assert len(state_writes) == 1, state_writes
        assert not [s for s in statements if 'runs."trigger" IN' in s or "runs.trigger IN" in s]

    run(scenario)
