"""What the history store returns: small frozen values, never database rows.

Timestamps are aware UTC datetimes; JSON columns come back as plain Python
values (``None`` when nothing was stored).
"""

from __future__ import annotations

from dataclasses import dataclass
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
