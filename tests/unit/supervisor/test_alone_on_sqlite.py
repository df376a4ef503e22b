"""A supervisor alone with its SQLite history runs none of the fleet's loops.

Nobody else can write to a SQLite history while it runs (``HistoryLock``),
so the work that keeps supervisors on a shared database in step (reading
every breaker row with each renewal, looking for debugger requests, reaping
others' leases, reading the queued runs for work submitted elsewhere) is pure
idle cost there.  These tests drive a real
``Supervisor`` on a real SQLite file, with fake workers (``fakes.py``) and
renewals every 0.05 s, and count the store calls each loop makes: a lone
supervisor makes none of them, whatever it runs, while one sharing its
database under leases does (so the counting is known to see them).  Nor
does a lone supervisor take a fire key for each schedule fire
(``supervisor.store.fires``): nobody else fires its schedules, but it
looks at once for the runs a forget through its API queued again.  The
session watch, on a machine without D-Bus, stops polling a probe that
reaches no bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from automation.blocks.registry import BlockRegistry
from supervisor.api.machines import forget_machine
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.machine import MachineState, machine_state
from supervisor.membership import Membership
from supervisor.parts import DaemonParts
from supervisor.paths import DeskpilotPaths
from supervisor.session import DBusSessionProbe, SessionState
from supervisor.session_watch import SessionWatch
from supervisor.store.store import HistoryStore, QueuedRow
from supervisor.store.types import from_micros
from tests.unit.supervisor.fakes import FakeLauncher, FakeWorker

TINY = "name: tiny\nnodes:\n  only: {block: control.pass}\n"
#: Store calls made only for other supervisors sharing the database.
FLEET_CALLS = (
    "breaker_rows",
    "pending_debug_requests",
    "reap_expired_leases",
    "next_queued_ids",
)
RENEWALS = 5


def hang(worker: FakeWorker, message: dict[str, Any]) -> None:
    """Never finishes its run (the supervisor has one active run the whole test)."""


def counted(store: HistoryStore, calls: Counter[str]) -> None:
    """Count the calls the supervisor makes to some of the store's methods from now on."""
    for name in (*FLEET_CALLS, "supervisor_heartbeat"):
        method = getattr(store, name)

        def wrapper(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(store, name, wrapper)


@contextlib.asynccontextmanager
async def supervisor(home: Path, lease_seconds: float | None) -> AsyncIterator[Supervisor]:
    paths = DeskpilotPaths.under(home).ensure()
    store = HistoryStore.open(paths.database_url)
    launcher = FakeLauncher(hang)
    sup = Supervisor(
        store=store,
        launcher=launcher,
        kill=launcher.kill,
        registry=BlockRegistry.with_builtins(plugins=False),
        config=SupervisorConfig(
            worker_limit=1,
            spare_workers=0,
            shutdown_grace=0.1,
            heartbeat_timeout=60.0,  # fake workers send no heartbeats
        ),
        artifacts_dir=paths.artifacts_dir,
        membership=Membership(
            id="alone" * 6, host="desk", lease_seconds=lease_seconds, renew_every=0.05
        ),
    )
    await sup.start()
    try:
        yield sup
    finally:
        await sup.stop(0.1)
        store.close()


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


SLOT = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


async def fleet_calls(
    home: Path, lease_seconds: float | None
) -> tuple[Counter[str], set[str], str | None]:
    """The store calls of ``RENEWALS`` renewals with a run active, the link tasks' names,
    and who took the fire key of a schedule fire it ran."""
    calls: Counter[str] = Counter()
    async with supervisor(home, lease_seconds) as sup:
        path = home / "tiny.yaml"
        path.write_text(TINY, encoding="utf-8")
        with sup.batch():  # as schedules that fire together are written
            run_id = sup.submit(sup.load(path), trigger=f"schedule:tiny:0@{SLOT.isoformat()}")
        await until(lambda: run_id in sup.active)  # a run that could be paused or debugged
        counted(sup.store, calls)
        await until(lambda: calls["supervisor_heartbeat"] >= RENEWALS)
        tasks = {task.get_name() for task in sup._link_tasks}
        owner = sup.store.fire_owner("tiny", "tiny:0", SLOT)
    return calls, tasks, owner


def test_a_lone_sqlite_supervisor_asks_the_store_nothing_for_a_fleet(tmp_path: Path) -> None:
    calls, tasks, owner = asyncio.run(fleet_calls(tmp_path, lease_seconds=None))
    assert {name: calls[name] for name in FLEET_CALLS} == dict.fromkeys(FLEET_CALLS, 0)
    assert "debug-requests" not in tasks
    assert owner is None  # no fire key: its label in the history is enough
    assert "lease-renewal" in tasks  # ``deskpilot machines`` still sees it alive


def test_a_supervisor_sharing_its_database_keeps_the_fleet_in_step(tmp_path: Path) -> None:
    calls, tasks, owner = asyncio.run(fleet_calls(tmp_path, lease_seconds=5.0))
    # every renewal reads the breakers and reaps; requests are looked for at the same pace
    assert calls["breaker_rows"] >= RENEWALS - 1
    assert calls["reap_expired_leases"] >= RENEWALS - 1
    assert calls["pending_debug_requests"] >= 1
    # the ids of the next queued runs, for work queued elsewhere
    assert calls["next_queued_ids"] >= RENEWALS - 1
    assert "debug-requests" in tasks
    assert owner == "alone" * 6  # the fire key that keeps others from running the slot


class Reads:
    """A probe that reaches a bus, or not, and counts its reads."""

    def __init__(self, reached: bool) -> None:
        self.reached = reached
        self.count = 0

    def read(self) -> SessionState:
        self.count += 1
        return SessionState()


@pytest.mark.parametrize("reached", [True, False])
def test_the_session_is_polled_only_while_a_read_can_learn_something(reached: bool) -> None:
    async def reads_after_start() -> int:
        probe = Reads(reached)
        # no bus to subscribe to: the poll is all there is
        watch = SessionWatch(probe, session_bus="", system_bus="", poll=0.02, fallback_poll=600)
        await watch.start()
        try:
            if reached:  # a probe that reaches a bus is read every ``poll``
                await until(lambda: probe.count >= 3)
            else:
                # the poll task waits out ``fallback_poll`` (its timer is armed) without reading
                await until(lambda: watch._poll_interval() == 600)
                await asyncio.sleep(0)
            return probe.count
        finally:
            await watch.stop()

    count = asyncio.run(reads_after_start())
    assert count >= 3 if reached else count == 1


def test_a_probe_without_any_bus_says_it_reached_none(tmp_path: Path) -> None:
    nowhere = f"unix:path={tmp_path / 'no-bus'}"
    probe = DBusSessionProbe(session_bus=nowhere, system_bus=nowhere)
    assert probe.reached is None
    assert probe.read() == SessionState()
    assert probe.reached is False


async def taken_back_after_forget(home: Path) -> tuple[str, bool, float]:
    """Forget a dead machine that held a run, through the API's route, and say how soon
    this lone supervisor holds the run it took back."""
    gone = "g" * 32
    async with supervisor(home, lease_seconds=None) as sup:
        store = sup.store
        store.register_supervisor(gone, host="old-pc")
        version = store.save_workflow_version("tiny", None, TINY)
        run_id = "r" * 32
        store.create_runs([QueuedRow(run_id, "tiny", version)])
        (claimed,) = store.claim_queued(gone, lease_seconds=10, run_ids=[run_id])
        assert claimed.id == run_id
        parts = DaemonParts(
            paths=DeskpilotPaths.under(home),
            supervisor=sup,
            store=store,
            registry=BlockRegistry.with_builtins(plugins=False),
        )
        done = await forget_machine(parts, gone, force=True)
        started = time.monotonic()
        deadline = started + 10.0
        while run_id not in sup.active and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return done.runs_taken_back[0], run_id in sup.active, time.monotonic() - started


def test_a_run_taken_back_by_a_forget_is_run_at_once_by_a_lone_supervisor(
    tmp_path: Path,
) -> None:
    """Alone, it looks for runs queued behind its back only every few minutes; a forget
    through its own API queues the dead machine's runs again, so it looks at once."""
    taken, holds, seconds = asyncio.run(taken_back_after_forget(tmp_path))
    assert taken == "r" * 32
    assert holds, f"the run taken back was not loaded within {seconds:.1f} s"


async def heartbeats_after_renewals(
    home: Path, lease_seconds: float | None
) -> tuple[datetime, datetime, datetime, MachineState, MachineState, datetime]:
    """The heartbeat stored at start and after ``RENEWALS`` renewals, the one the store lists
    then, the machine's state by that listing and once it stopped, and the heartbeat listed
    after the stop."""
    calls: Counter[str] = Counter()
    async with supervisor(home, lease_seconds) as sup:
        store = sup.store
        me = sup.membership.id

        def stored() -> datetime:
            with sqlite3.connect(home / "data" / "history.sqlite3") as raw:
                (micros,) = raw.execute(
                    "SELECT heartbeat_at FROM supervisors WHERE id = ?", (me,)
                ).fetchone()
            return from_micros(micros)

        first = stored()
        counted(store, calls)
        await until(lambda: calls["supervisor_heartbeat"] >= RENEWALS)
        (listed,) = [r for r in store.list_supervisors() if r.id == me]
        # Judged as ``GET /machines`` does, long past three renewal periods since it started.
        later = machine_state(listed, store.lease_time())
        after = stored()
    (record,) = [r for r in store.list_supervisors() if r.id == me]
    stopped = machine_state(record, record.heartbeat_at)
    return first, after, listed.heartbeat_at, later, stopped, record.heartbeat_at


def test_a_lone_sqlite_supervisor_writes_no_heartbeat_yet_is_listed_alive(
    tmp_path: Path,
) -> None:
    first, after, listed, state, stopped, at_stop = asyncio.run(
        heartbeats_after_renewals(tmp_path, lease_seconds=None)
    )
    assert after == first  # five renewals, nothing written
    assert listed > first  # its own API answering is it being alive: read as now
    assert state is MachineState.ALIVE
    assert stopped is MachineState.GONE and at_stop == first  # stopped: its row as written


def test_a_supervisor_sharing_its_database_writes_its_heartbeat(tmp_path: Path) -> None:
    first, after, listed, _state, _stopped, _at = asyncio.run(
        heartbeats_after_renewals(tmp_path, lease_seconds=5.0)
    )
    assert after > first and listed == after
