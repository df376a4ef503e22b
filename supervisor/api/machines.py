"""``GET /machines``: every supervisor sharing this database, and how each one is doing.

Any supervisor's API answers for the whole fleet: the ``supervisors`` table
and the ``runs`` table are shared, so the list is the same whichever machine
is asked.  A machine's state is a pure function of its last heartbeat, its
clean stop and the time now (``machine_state``):

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
import enum
from datetime import datetime
from typing import Any

from fastapi import APIRouter

from supervisor.api.deps import BEARER, Parts
from supervisor.api.models import ErrorBody, MachineInfo
from supervisor.machine import supervisor_id
from supervisor.parts import DaemonParts
from supervisor.store.records import SupervisorRecord

#: A heartbeat older than this is late, for a supervisor that registered no lease nor renewal
#: period (a lone supervisor on SQLite renews every 10 s).
LATE_AFTER = 30.0
#: A heartbeat older than this (at the least) means the machine is gone.
GONE_AFTER = 60.0


class MachineState(enum.StrEnum):
    ALIVE = "alive"
    LATE = "late"
    GONE = "gone"


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def late_after(record: SupervisorRecord) -> float:
    """How long the supervisor may be silent and still be alive, from what it registered."""
    resources = record.resources or {}
    lease = _seconds(resources.get("lease_seconds"))
    if lease is not None:
        return lease
    renew = _seconds(resources.get("renew_every"))
    return 3 * renew if renew is not None else LATE_AFTER


def machine_state(
    record: SupervisorRecord,
    now: datetime,
    *,
    late: float | None = None,
    gone: float | None = None,
) -> MachineState:
    """Alive, late or gone, from the heartbeat's age at ``now`` and a clean stop."""
    if record.stopped_at is not None:
        return MachineState.GONE
    late = late_after(record) if late is None else late
    gone = max(GONE_AFTER, 4 * late) if gone is None else gone
    age = (now - record.heartbeat_at).total_seconds()
    if age <= late:
        return MachineState.ALIVE
    if age <= gone:
        return MachineState.LATE
    return MachineState.GONE


def machine_infos(parts: DaemonParts, now: datetime) -> list[MachineInfo]:
    """Every registered supervisor, as ``GET /machines`` answers (reads the store)."""
    store = parts.store
    records = store.list_supervisors()
    running = store.running_by_claimant()
    me = supervisor_id(parts.paths.data_dir)
    return [
        MachineInfo(
            id=record.id,
            host=record.host,
            state=machine_state(record, now).value,
            heartbeat_age_seconds=max(0.0, (now - record.heartbeat_at).total_seconds()),
            heartbeat_at=record.heartbeat_at,
            started_at=record.started_at,
            stopped_at=record.stopped_at,
            running=running.get(record.id, 0),
            version=record.version,
            api_url=record.api_url,
            pid=record.pid,
            resources=record.resources or {},
            this=record.id == me,
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
    now = parts.store.clock.now()
    return await asyncio.to_thread(machine_infos, parts, now)
