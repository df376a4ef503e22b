"""The one event hierarchy that the CLI, the history store, the supervisor and the GUI consume.

Events are frozen, keyword-only and named in the past tense.  Every event
carries the run id, a per-run sequence number (``seq``, gapless from 1) and
an aware UTC timestamp.  Node events carry ``step`` (the n-th node execution
in the run, 1-based, deterministic for a given graph and outputs, which is
what lets a resumed run recognise the steps it already did) and ``attempt``.

Values inside events have already been redacted of secrets by the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from automation.errors import DeskpilotError


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_RUN


_TERMINAL_RUN = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}

#: The run lifecycle; a change not listed here is a bug and raises.
RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED}
    ),
    RunStatus.INTERRUPTED: frozenset({RunStatus.QUEUED, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.SUCCEEDED: frozenset({RunStatus.QUEUED}),
    RunStatus.FAILED: frozenset({RunStatus.QUEUED}),
    RunStatus.CANCELLED: frozenset({RunStatus.QUEUED}),
}


class IllegalTransition(DeskpilotError, ValueError):
    """A run cannot move from its status to the one asked for (a ``ValueError`` too)."""


def check_run_transition(current: RunStatus, new: RunStatus) -> None:
    if new not in RUN_TRANSITIONS[current]:
        raise IllegalTransition(f"a run cannot go from '{current}' to '{new}'")


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


FailureKind = str  # "error" | "timeout" | "cancelled"


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    run_id: str
    seq: int
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["kind"] = self.kind
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    workflow: str
    version_hash: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    trigger: str = "manual"
    parent_run_id: str | None = None
    resumed: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeStarted(Event):
    kind: ClassVar[str] = "node_started"
    node_id: str
    block: str
    step: int
    attempt: int


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFinished(Event):
    kind: ClassVar[str] = "node_finished"
    node_id: str
    step: int
    attempt: int
    duration: float
    #: Every emission, in order: a list of {pin: value}.  Replayed on resume.
    emissions: list[dict[str, Any]] = field(default_factory=list)
    #: Run variables this step set, replayed on resume.
    vars_set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFailed(Event):
    kind: ClassVar[str] = "node_failed"
    node_id: str
    step: int
    attempt: int
    duration: float
    error_type: str
    message: str
    failure: FailureKind = "error"
    will_retry: bool = False
    #: True when the node's error pin is linked, so the run goes on.
    handled: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeRetrying(Event):
    kind: ClassVar[str] = "node_retrying"
    node_id: str
    step: int
    next_attempt: int
    delay: float


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeReplayed(Event):
    """A resumed run reached a step it had already finished and reused its outputs."""

    kind: ClassVar[str] = "node_replayed"
    node_id: str
    step: int


@dataclass(frozen=True, kw_only=True, slots=True)
class NodePaused(Event):
    """The debugger stopped the run before a node: what the node was about to run with."""

    kind: ClassVar[str] = "node_paused"
    node_id: str
    step: int
    reason: str  # "breakpoint" | "step"
    pins: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    #: Seconds the pause waits for a command before the run continues on its own.
    timeout: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeResumed(Event):
    """A pause ended: by a command (continue, step, abort) or by running out of time."""

    kind: ClassVar[str] = "node_resumed"
    node_id: str
    step: int
    action: str  # "continue" | "step" | "abort"
    waited: float
    timed_out: bool = False
    #: What was edited before going on: ``inputs.NAME`` and ``vars.NAME``.
    edited: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class LogEmitted(Event):
    kind: ClassVar[str] = "log"
    node_id: str | None
    level: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    step: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ArtifactSaved(Event):
    kind: ClassVar[str] = "artifact"
    node_id: str
    step: int
    path: str
    artifact_kind: str
    description: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    status: RunStatus
    duration: float
    error: str | None = None
    #: Node that failed the run, when one did.
    failed_node: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    stopped_reason: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        NodeStarted,
        NodeFinished,
        NodeFailed,
        NodeRetrying,
        NodeReplayed,
        NodePaused,
        NodeResumed,
        LogEmitted,
        ArtifactSaved,
        RunFinished,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from ``to_dict`` output (the worker pipe and the API use this)."""
    cls = EVENT_TYPES[data["kind"]]
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values["at"] = datetime.fromisoformat(values["at"])
    if cls is RunFinished:
        values["status"] = RunStatus(values["status"])
    return cls(**values)


class EventSink(Protocol):
    """Anything that consumes events: the CLI display, the history recorder, the worker pipe."""

    def __call__(self, event: Event) -> None: ...


class FanOut:
    """Deliver each event to several sinks, in order."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    def __call__(self, event: Event) -> None:
        for sink in self.sinks:
            sink(event)
