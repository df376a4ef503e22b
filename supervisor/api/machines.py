"""``GET /machines``: every supervisor sharing this database, and how each one is doing;
``DELETE /machines/{id}``: forget one removed for good (``supervisor.store.forget``).

Any supervisor's API answers for the whole fleet: the ``supervisors`` table
and the ``runs`` table are shared, so the list is the same whichever machine
is asked.  A machine's state is a pure function of its last heartbeat, its
clean stop and the time now (``supervisor.machine.machine_state``), the
database's time (``supervisor.store.leasing``), which stamps heartbeats too,
so machines whose clocks disagree agree on who is alive:

- ``alive``: heard from within its lease (the ``lease_seconds`` it registered
  with; without a lease, three of its renewals, ``renew_every``; without
  either, ``LATE_AFTER``);
- ``late``: silent for longer: its runs are about to be (or were just) taken
  over by another machine;
- ``gone``: stopped cleanly, or silent for four times that long (at least
  ``GONE_AFTER``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter

from supervisor.api.deps import BEARER, Parts
from supervisor.api.models import ErrorBody, MachineForgotten, MachineInfo, TriggerName
from supervisor.api.problems import Problem
from supervisor.machine import gone_after, machine_info, supervisor_id
from supervisor.parts import DaemonParts

if TYPE_CHECKING:  # the module itself loads only when a machine is forgotten
    from supervisor.store.forget import ForgottenMachine


def machine_infos(parts: DaemonParts, now: datetime) -> list[MachineInfo]:
    """Every registered supervisor, as ``GET /machines`` answers (reads the store)."""
    store = parts.store
    records = store.list_supervisors()
    running = store.running_by_claimant()
    queued = store.queued_by_host()
    me = supervisor_id(parts.paths.data_dir)
    return [
        machine_info(
            record,
            now,
            me,
            running=running.get(record.id, 0),
            queued=queued.get(record.host, 0),
        )
        for record in records
    ]


router = APIRouter(tags=["fleet"], dependencies=BEARER, responses={401: {"model": ErrorBody}})


@router.get(
    "/machines",
    response_model=list[MachineInfo],
    summary="Every supervisor sharing the database: host, state, running runs, version, API",
)
async def machines(parts: Parts) -> list[MachineInfo]:
    # Heartbeats are stamped with the database's time: judged against it, not this clock.
    return await asyncio.to_thread(lambda: machine_infos(parts, parts.store.lease_time()))


def forgotten(parts: DaemonParts, machine_id: str, force: bool) -> MachineForgotten:
    """Forget one supervisor (reads and writes the store; see ``supervisor.store.forget``)."""
    store = parts.store
    if machine_id == supervisor_id(parts.paths.data_dir):
        raise Problem(
            409,
            f"the supervisor {machine_id} is the one answering this request: it cannot forget "
            "itself (stop it, then ask another machine, or delete its home)",
        )
    known = {record.id: record for record in store.list_supervisors()}
    record = known.get(machine_id)
    # A supervisor that registered no lease is judged by its renewals, as GET /machines does.
    silent_for = None if force or record is None else gone_after(record)
    done: ForgottenMachine = store.forget_supervisor(machine_id, silent_for=silent_for)
    before = machine_info(done.supervisor, store.lease_time(), "", running=0)
    return MachineForgotten(
        machine=before,
        silent_seconds=round(done.silent_seconds, 3),
        holds_released=[TriggerName(workflow=w, trigger=k) for w, k in done.holds_released],
        triggers_retired=[TriggerName(workflow=w, trigger=k) for w, k in done.triggers_retired],
        runs_taken_back=list(done.runs_taken_back),
        queued_for_host=done.queued_for_host,
        debug_requests_failed=done.debug_requests_failed,
    )


@router.delete(
    "/machines/{machine_id}",
    response_model=MachineForgotten,
    summary="Forget a supervisor removed for good: its row, its trigger holds, its claims",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def forget_machine(parts: Parts, machine_id: str, force: bool = False) -> MachineForgotten:
    """Refused (409) for a supervisor heard from within the time it takes to count as gone,
    unless ``force``: its runs are then taken back and may run twice."""
    done = await asyncio.to_thread(forgotten, parts, machine_id, force)
    # The runs taken back are queued again: this supervisor looks for them now, not at its
    # next look (every few minutes for one alone with a SQLite history, ``fleetlink``).
    parts.supervisor.poke()
    return done
