"""What the history store returns: small frozen values, never database rows.

Timestamps are aware UTC datetimes; JSON columns come back as plain Python
values (``None`` when nothing was stored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from automation.engine.events import RunStatus, StepStatus


@dataclass(frozen=True, kw_only=True, slots=True)
class VersionRef:
    """One stored version of a workflow file, identified by its content's SHA-256."""

    workflow_id: int
    version_id: int
    content_hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    id: str
    workflow_name: str
    status: RunStatus
    trigger: str
    priority: int
    queued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None
    failed_node: str | None = None
    stopped_reason: str | None = None
    steps: int | None = None
    resumes: int = 0
    parent_run_id: str | None = None
    workflow_id: int | None = None
    version_id: int | None = None
    #: The supervisor that claimed it (``HistoryStore.claim_queued``); None while queued.
    claimed_by: str | None = None
    #: Until when the claimant's lease holds; None: no lease (a single supervisor).
    lease_expires_at: datetime | None = None
    #: The machine that must run it; None: any machine.
    target_host: str | None = None
    needs_desktop: bool = False
    #: When a cancel was asked for through some machine's API (the owner acts on it).
    cancel_requested_at: datetime | None = None
    #: A queued run waiting out its restart delay: no supervisor claims it before then.
    not_before: datetime | None = None
    #: Breakpoints, pause timeout, time limit, "run from here" (``runqueue.run_options``).
    options: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SupervisorRecord:
    """One supervisor sharing the database: which machine, its API, its last heartbeat."""

    id: str
    host: str
    started_at: datetime
    heartbeat_at: datetime
    pid: int | None = None
    api_url: str | None = None
    version: str | None = None
    resources: dict[str, Any] | None = None
    stopped_at: datetime | None = None

    def alive(self, now: datetime, lease_seconds: float) -> bool:
        """Not stopped, and heard from within one lease."""
        return (
            self.stopped_at is None and (now - self.heartbeat_at).total_seconds() <= lease_seconds
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionWait:
    """A queued desktop run waiting for a usable session (``supervisor.desktop_gate``).

    Kept in its history, so a supervisor that restarts during the wait goes on
    with it (same reason, same start) instead of beginning a new one.
    """

    reason: str
    since: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimMiss:
    """Why a chosen run was not claimed, as far as its claimant needs to know.

    ``queued``: it is still queued and free (its machine's desktop was busy,
    or it waits out a restart delay until ``not_before``): it may be claimed a
    little later.  Otherwise it is gone, ended, or being claimed by another
    supervisor at this moment: not this claimant's to start.
    """

    queued: bool = False
    not_before: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CountedClaim:
    """What ``HistoryStore.claim_counted`` came to for one chosen run.

    ``record``: the run claimed (None: not claimed, ``miss`` says why).
    ``first_starts``: its workflow's first starts in the run-rate window,
    this one included (None when it is not a first start).
    """

    record: RunRecord | None
    first_starts: int | None = None
    miss: ClaimMiss = ClaimMiss()


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseRenewal:
    """What ``HistoryStore.supervisor_heartbeat`` did for one supervisor.

    ``renewed``: its running runs whose leases now last until ``expires_at``.
    ``lost``: runs it said it holds that are no longer its own (reaped after
    its lease expired, or finished by someone else): it must stop them and
    write nothing more for them.  ``cancel_requested``: its runs someone asked
    to cancel, through any machine's API.  ``registered`` False: its row is gone
    (``deskpilot machines forget`` removed it while it ran): nothing was renewed.
    """

    supervisor_id: str
    expires_at: datetime
    renewed: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    cancel_requested: tuple[str, ...] = ()
    registered: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRecord:
    """One attempt of one step.  ``emissions`` and ``vars_set`` are what a resume replays."""

    run_id: str
    step: int
    node_id: str
    attempt: int
    status: StepStatus
    block: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    #: The last emission, long strings cut to 2 KB: for display only.
    outputs: dict[str, Any] | None = None
    emissions: list[dict[str, Any]] | None = None
    vars_set: dict[str, Any] | None = None
    error_type: str | None = None
    error: str | None = None
    #: How a failed attempt ended: "error", "timeout", "cancelled" or "interrupted".
    failure: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRecord:
    id: int
    run_id: str
    seq: int
    kind: str
    at: datetime
    node_id: str | None = None
    step: int | None = None
    level: str | None = None
    message: str | None = None
    data: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> EventRecord:
        """A row of the ``events`` table, as the store's readers return it."""
        return cls(
            id=row.id,
            run_id=row.run_id,
            seq=row.seq,
            kind=row.kind,
            at=row.at,
            node_id=row.node_id,
            step=row.step,
            level=row.level,
            message=row.message,
            data=row.data,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ArtifactRecord:
    id: int
    run_id: str
    path: str
    kind: str
    created_at: datetime
    step: int | None = None
    node_id: str | None = None
    description: str | None = None
    #: Bytes of the copy the history keeps (``supervisor.store.artifacts``); None: no copy.
    size: int | None = None

    @property
    def stored(self) -> bool:
        return self.size is not None


def run_record(row: Row[Any]) -> RunRecord:
    """A ``runs`` row as a record."""
    return RunRecord(
        id=row.id,
        workflow_name=row.workflow_name,
        status=RunStatus(row.status),
        trigger=row.trigger,
        priority=row.priority,
        queued_at=row.queued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration=row.duration,
        inputs=row.inputs,
        outputs=row.outputs,
        error=row.error,
        failed_node=row.failed_node,
        stopped_reason=row.stopped_reason,
        steps=row.steps,
        resumes=row.resumes,
        parent_run_id=row.parent_run_id,
        workflow_id=row.workflow_id,
        version_id=row.version_id,
        claimed_by=row.claimed_by,
        lease_expires_at=row.lease_expires_at,
        target_host=row.target_host,
        needs_desktop=bool(row.needs_desktop),
        cancel_requested_at=row.cancel_requested_at,
        not_before=row.not_before,
        options=row.options,
    )


def supervisor_record(row: Row[Any]) -> SupervisorRecord:
    """A ``supervisors`` row as a record."""
    return SupervisorRecord(
        id=row.id,
        host=row.host,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        pid=row.pid,
        api_url=row.api_url,
        version=row.version,
        resources=row.resources,
        stopped_at=row.stopped_at,
    )


def step_record(row: Row[Any]) -> StepRecord:
    """A ``step_runs`` row as a record."""
    return StepRecord(
        run_id=row.run_id,
        step=row.step,
        node_id=row.node_id,
        attempt=row.attempt,
        status=StepStatus(row.status),
        block=row.block,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration=row.duration,
        outputs=row.outputs,
        emissions=row.emissions,
        vars_set=row.vars_set,
        error_type=row.error_type,
        error=row.error,
        failure=row.failure,
    )


def whole_span(started_at: datetime, ended_at: datetime, at_least: float = 0.0) -> float:
    """A run's duration: from its first start to its end, across every interruption.

    Wall-clock time, because a resumed run's attempts ran in different processes
    (perhaps under different supervisors) whose monotonic clocks share nothing;
    ``at_least`` (the last attempt's own monotonic duration) guards against a
    clock set back meanwhile.
    """
    return max((ended_at - started_at).total_seconds(), at_least, 0.0)


@dataclass(frozen=True)
class QueuedRow:
    """A run for ``HistoryStore.create_runs``: queued, of a version already saved."""

    run_id: str
    workflow_name: str
    version: VersionRef
    trigger: str = "manual"
    priority: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    #: The machine that must run it (None: any); see ``HistoryStore.claim_queued``.
    target_host: str | None = None
    needs_desktop: bool = False
    #: Breakpoints, time limit, "run from here" (``supervisor.runqueue.run_options``).
    options: dict[str, Any] | None = None

    def values(self, queued_at: datetime) -> dict[str, Any]:
        """Its ``runs`` row, queued at ``queued_at``."""
        return {
            "id": self.run_id,
            "workflow_id": self.version.workflow_id,
            "version_id": self.version.version_id,
            "workflow_name": self.workflow_name,
            "parent_run_id": None,
            "status": RunStatus.QUEUED.value,
            "trigger": self.trigger,
            "priority": self.priority,
            "inputs": self.inputs,
            "queued_at": queued_at,
            "started_at": None,
            "finished_at": None,
            "target_host": self.target_host,
            "needs_desktop": self.needs_desktop,
            "options": self.options or None,
        }
