"""A run claimed for a worker that never reports it started is released, and runs once.

Two ways a hand-over gets lost, each with one supervisor on a real SQLite
history with leases (``test_fleet_core.member``) and fake workers:

* the store has the run claimed by this supervisor, and renewed with its
  heartbeat, while nothing in the supervisor holds it (a fence stopped its
  worker, or the dispatch lost it): the renewal's answer finds it, and after
  the hand-over deadline it is queued again with a note;
* a worker took the start message but its run never began (no first event):
  the worker's timer finds it, the worker is killed and the run resumes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from automation.engine.events import RunStatus
from supervisor.store.records import LeaseRenewal
from supervisor.store.store import QueuedRow
from tests.unit.supervisor.fakes import FakeLauncher, FakeWorker
from tests.unit.supervisor.test_fleet_core import (
    LEASE,
    TINY,
    member,
    started,
    status,
    until,
    workflow,
)

HANDOVER = 1.0


def notes(supervisor: Any, run_id: str, reason: str) -> list[str]:
    return [
        e.message or ""
        for e in supervisor.store.events(run_id)
        if (e.data or {}).get("reason") == reason
    ]


def test_a_run_claimed_here_that_nothing_holds_is_released_and_runs_once(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", launcher, handover_timeout=HANDOVER) as a:
            store = a.store
            version = store.save_workflow_version("tiny", None, TINY)
            run_id = uuid.uuid4().hex
            # Queued and claimed for ``a`` at once, as its dispatch would, with nothing in
            # ``a`` holding it: the hand-over is lost between the claim and the worker.
            store.create_runs([QueuedRow(run_id, "tiny", version)])
            claimed = store.claim_queued(
                a.membership.id, host="m1", lease_seconds=LEASE, run_ids=(run_id,)
            )
            assert [record.id for record in claimed] == [run_id]
            await until(lambda: status(a, run_id) is RunStatus.SUCCEEDED)
            assert started(launcher) == [run_id]
            (note,) = notes(a, run_id, "handover_lost")
            assert "no worker of its reported it started" in note
            assert a.counters["handovers_lost"] == 1

    asyncio.run(scenario())


def test_a_renewal_that_read_the_store_before_a_claim_committed_stops_nothing(
    tmp_path: Path,
) -> None:
    """A run handed over while a renewal was on its way is not taken for lost."""

    def wait(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] == "start":
            worker.run = message  # type: ignore[attr-defined]

    launcher = FakeLauncher(wait)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", launcher) as a:
            claim, heartbeat = a.store.claim_queued, a.store.supervisor_heartbeat

            def slow_claim(*args: Any, **kwargs: Any) -> Any:
                time.sleep(0.6)  # renewals (every 0.2 s) leave while the run is handed over
                return claim(*args, **kwargs)

            def late_answer(*args: Any, **kwargs: Any) -> LeaseRenewal:
                answer = heartbeat(*args, **kwargs)  # read before the claim commits
                time.sleep(0.9)  # and heard after the run reached its worker
                return answer

            a.store.claim_queued = slow_claim  # type: ignore[method-assign]
            a.store.supervisor_heartbeat = late_answer  # type: ignore[method-assign]
            run_id = a.submit(a.load(workflow(tmp_path, TINY)))
            await until(lambda: run_id in a.active)
            await asyncio.sleep(2.0)  # the renewals that left during the hand-over answer
            assert run_id in a.active
            worker = launcher.spawned[0]
            assert not worker._exited.done()
            worker.finish(worker.run)  # type: ignore[attr-defined]
            await until(lambda: status(a, run_id) is RunStatus.SUCCEEDED)
            assert started(launcher) == [run_id]

    asyncio.run(scenario())


def test_a_worker_that_took_the_start_but_never_began_is_killed_and_the_run_resumes(
    tmp_path: Path,
) -> None:
    seen: list[str] = []

    def silent_first(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] != "start":
            return
        if seen:
            worker.finish(message)
        seen.append(str(message["run_id"]))  # the first start never reaches an engine

    launcher = FakeLauncher(silent_first)
    db = tmp_path / "shared.db"

    async def scenario() -> None:
        async with member(db, tmp_path / "a", "a", "m1", launcher, handover_timeout=HANDOVER) as a:
            run_id = a.submit(a.load(workflow(tmp_path, TINY)))
            await until(lambda: status(a, run_id) is RunStatus.SUCCEEDED)
            assert seen == [run_id, run_id]
            first = launcher.spawned[0]
            assert first._exited.done()  # killed: its late start can run nothing
            reasons = [(e.data or {}).get("reason") for e in a.store.events(run_id)]
            assert "not_started" in reasons, reasons
            assert "lease_expired" not in reasons  # resumed here, not taken back

    asyncio.run(scenario())
