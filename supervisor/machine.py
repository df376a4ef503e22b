"""Who this supervisor is in a fleet: a stable id per Deskpilot home, and its machine's name.

The id is made once and kept in the data folder (``supervisor-id``), so a
supervisor that restarts is the same row of the ``supervisors`` table and
finds its own runs.  The host is ``socket.gethostname()`` unless
``DESKPILOT_HOST`` names it: runs that need a desktop are routed by it, and
tests run several "machines" on one box by giving each its own.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from automation.engine.events import RunStatus

if TYPE_CHECKING:
    from supervisor.api.models import MachineInfo
    from supervisor.store.records import SupervisorRecord
    from supervisor.store.store import HistoryStore

HOST_VARIABLE = "DESKPILOT_HOST"
ID_FILE = "supervisor-id"
_ID = re.compile(r"^[0-9a-f]{32}$")


def machine_host(environ: Mapping[str, str] = os.environ) -> str:
    """This machine's name in the fleet: ``DESKPILOT_HOST``, else the host name."""
    name = environ.get(HOST_VARIABLE, "").strip() or socket.gethostname()
    if len(name) > 255:
        raise ValueError(f"{HOST_VARIABLE} is at most 255 characters, got {len(name)}")
    return name


def supervisor_id(data_dir: Path) -> str:
    """The id kept in ``data_dir/supervisor-id``, made (32 hex digits) on first use.

    Written with ``O_EXCL``: two processes starting in the same home at once
    agree on the first one written.  A damaged file is replaced, with a new id.
    """
    path = data_dir / ID_FILE
    for _attempt in range(3):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError):
            text = "unreadable"
        if _ID.match(text):
            return text
        if text:
            path.unlink(missing_ok=True)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = uuid.uuid4().hex
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process wrote it first: read theirs
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(new + "\n")
        return new
    raise OSError(f"cannot make a supervisor id in {path}")


# -- how a machine is doing, from its heartbeat (``GET /machines``) ------------------------

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


def gone_after(record: SupervisorRecord) -> float:
    """How long the supervisor must be silent to count as gone (unless it stopped cleanly)."""
    return max(GONE_AFTER, 4 * late_after(record))


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


def waiting_for(host: str, supervisors: Sequence[SupervisorRecord], now: datetime) -> str | None:
    """Why a run queued for machine ``host`` is not taken, or None if a supervisor there is alive."""
    there = [record for record in supervisors if record.host == host]
    if any(machine_state(record, now) is MachineState.ALIVE for record in there):
        return None
    if not there:
        return f"no supervisor on machine '{host}' has joined this database; it runs once one does"
    last = max(record.heartbeat_at for record in there)
    silent = max(0.0, (now - last).total_seconds())
    return (
        f"no supervisor on machine '{host}' is alive (last heartbeat {silent:.0f} s ago); "
        f"it runs once one starts there ('deskpilot machines {host}')"
    )


class QueuedRun(Protocol):
    """What ``waiting_reason`` reads of a run (the store's ``RunRecord``, the API's ``RunInfo``)."""

    @property
    def status(self) -> Any: ...
    @property
    def target_host(self) -> str | None: ...


def waiting_reason(store: HistoryStore, record: QueuedRun) -> str | None:
    """Why a queued run routed to a machine is not taken: no live supervisor there; else None.

    The one place ``runs show``, its ``--json`` and ``GET /runs/{id}`` ask, so
    all three say the same thing.  Here, not in ``run_report``, so the API
    answers a run without loading the report's models.
    """
    status = str(getattr(record.status, "value", record.status))  # an enum or its value
    host = record.target_host
    if status != RunStatus.QUEUED.value or host is None:
        return None
    # Heartbeats are judged by the database's clock, which stamps them (``store.leasing``).
    return waiting_for(host, store.list_supervisors(), store.lease_time())


def restart_left(store: HistoryStore, status: Any, not_before: datetime | None) -> float | None:
    """Seconds left of a queued run's restart delay (0: over); None if it has none.

    Counted on the clock the delay's end was written on: the database's in a
    fleet (``supervisor.store_time``), whose time ``lease_time`` reads, not the
    clock of the machine showing it, which may be minutes off.  Alone on
    SQLite, that is this machine's clock anyway.  ``runs show`` and
    ``GET /runs/{id}`` (which the CLI and the window show) ask here.
    """
    if not_before is None or str(getattr(status, "value", status)) != RunStatus.QUEUED.value:
        return None
    return max(0.0, (not_before - store.lease_time()).total_seconds())


def running_for(store: HistoryStore, status: Any, started_at: datetime | None) -> float | None:
    """Seconds since a running run first started; None unless it runs.

    In a fleet its start is stamped with the database's time by its claim
    (``store.claims``), so it is counted on that clock, as ``restart_left``,
    not on the clock of the machine showing it.
    """
    if started_at is None or str(getattr(status, "value", status)) != RunStatus.RUNNING.value:
        return None
    return max(0.0, (store.lease_time() - started_at).total_seconds())


def machine_info(
    record: SupervisorRecord, now: datetime, this_id: str, *, running: int = 0, queued: int = 0
) -> MachineInfo:
    """A registered supervisor as ``GET /machines`` and ``--machine`` show it."""
    from supervisor.api.models import MachineInfo

    return MachineInfo(
        id=record.id,
        host=record.host,
        state=machine_state(record, now).value,
        heartbeat_age_seconds=max(0.0, (now - record.heartbeat_at).total_seconds()),
        heartbeat_at=record.heartbeat_at,
        started_at=record.started_at,
        stopped_at=record.stopped_at,
        running=running,
        queued=queued,
        version=record.version,
        api_url=record.api_url,
        pid=record.pid,
        resources=record.resources or {},
        this=record.id == this_id,
    )
