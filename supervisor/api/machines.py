"""``GET /machines``: every supervisor sharing this database, and how each one is doing.

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

from fastapi import APIRouter

from supervisor.api.deps import BEARER, Parts
from supervisor.api.models import ErrorBody, MachineInfo
from supervisor.machine import machine_info, supervisor_id
from supervisor.parts import DaemonParts


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
