"""Live events for clients: engine events (after they are committed) and supervisor events.

Supervisor events are frozen, past-tense, and serialise like engine events
(``to_dict`` with a ``kind``), so the API, the CLI and the GUI consume one
stream.  Subscribers get an asyncio queue; a slow subscriber loses its
oldest events rather than stalling the supervisor.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True, slots=True)
class SupervisorEvent:
    kind: ClassVar[str] = "supervisor"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["kind"] = self.kind
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class RunQueued(SupervisorEvent):
    kind: ClassVar[str] = "run_queued"
    run_id: str
    workflow: str
    priority: int = 0
    trigger: str = "manual"
    resume: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RunInterrupted(SupervisorEvent):
    kind: ClassVar[str] = "run_interrupted"
    run_id: str
    workflow: str
    reason: str
    detail: str
    restarts: int
    will_resume: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCancelled(SupervisorEvent):
    kind: ClassVar[str] = "run_cancelled"
    run_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerStarted(SupervisorEvent):
    kind: ClassVar[str] = "worker_started"
    worker_id: int
    pid: int


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerExited(SupervisorEvent):
    kind: ClassVar[str] = "worker_exited"
    worker_id: int
    pid: int
    run_id: str | None
    reason: str
    returncode: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatMissed(SupervisorEvent):
    kind: ClassVar[str] = "heartbeat_missed"
    worker_id: int
    pid: int
    run_id: str | None
    silent_for: float


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerOpened(SupervisorEvent):
    kind: ClassVar[str] = "breaker_opened"
    workflow: str
    failures: int
    retry_at: datetime | None = None
    #: "failures" (too many failed runs) or "run rate" (too many runs started).
    reason: str = "failures"


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerClosed(SupervisorEvent):
    kind: ClassVar[str] = "breaker_closed"
    workflow: str


@dataclass(frozen=True, kw_only=True, slots=True)
class HistoryWriteFailed(SupervisorEvent):
    """The history refused a write (disk full, database locked); work waits, nothing is lost."""

    kind: ClassVar[str] = "history_write_failed"
    doing: str
    error: str


class EventBus:
    def __init__(self, max_pending: int = 10_000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._max = max_pending

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._max)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def publish(self, data: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
