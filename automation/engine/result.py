"""What a finished run returns: ``RunResult``, with a ``NodeSummary`` per node.

The events a run emits are its history; the result is the short answer its
caller acts on (the worker's exit code, ``deskpilot run``'s output, a subflow
node's outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automation.engine.events import RunStatus


@dataclass
class NodeSummary:
    status: str = "pending"  # pending | succeeded | failed | replayed
    executions: int = 0
    attempts: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    workflow: str
    status: RunStatus
    duration: float
    steps: int
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    failed_node: str | None = None
    stopped_reason: str | None = None
    nodes: dict[str, NodeSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED
