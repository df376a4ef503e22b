"""Run one block outside any workflow: for block authors' tests and the editor's "test" button.

    result = run_block(HttpRequest, {"url": server.url}, workflow_dir=tmp_path)
    assert result.last["status"] == 200

Logs, artifacts and variables the block produced are collected on the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.blocks.base import Block
from automation.blocks.context import BlockContext, CancelToken, LogLevel, RunHooks
from automation.blocks.invoke import all_emissions, validate_inputs
from automation.clock import SYSTEM_CLOCK, Clock
from automation.redaction import Redactor
from automation.templates import render


@dataclass
class HarnessResult:
    emissions: list[dict[str, Any]]
    logs: list[tuple[LogLevel, str, dict[str, Any]]] = field(default_factory=list)
    artifacts: list[tuple[Path, str, str]] = field(default_factory=list)
    vars_set: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None

    @property
    def last(self) -> dict[str, Any]:
        """The last emission; raises if the block emitted nothing."""
        if not self.emissions:
            raise AssertionError("the block emitted nothing")
        return self.emissions[-1]


class _HarnessHooks(RunHooks):
    def __init__(
        self, result: HarnessResult, scope: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        self.result = result
        self.scope = scope
        self.secrets = secrets

    def log(self, node_id: str | None, level: LogLevel, message: str, data: dict[str, Any]) -> None:
        self.result.logs.append((level, message, data))

    def artifact(self, node_id: str, path: Path, kind: str, description: str) -> None:
        self.result.artifacts.append((path, kind, description))

    def evaluate(self, source: str) -> Any:
        return render(source, self.scope)

    def stop(self, reason: str) -> None:
        self.result.stopped = reason

    def secret(self, name: str) -> str:
        return self.secrets[name]


def run_block(
    block: type[Block[Any]],
    inputs: dict[str, Any],
    *,
    workflow_dir: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
    deadline: float | None = None,
    cancel: CancelToken | None = None,
    run_vars: dict[str, Any] | None = None,
    run_state: dict[str, Any] | None = None,
    scope: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> HarnessResult:
    """Validate ``inputs`` against the block, run it, and collect every emission."""
    result = HarnessResult(emissions=[])
    variables = dict(run_vars or {})
    ctx = BlockContext(
        run_id="harness",
        node_id="node",
        workflow_dir=workflow_dir or Path.cwd(),
        artifacts_dir=workflow_dir or Path.cwd(),
        clock=clock,
        deadline=deadline,
        cancel=cancel or CancelToken(),
        redactor=Redactor(list((secrets or {}).values())),
        hooks=_HarnessHooks(result, {"vars": variables, **(scope or {})}, secrets or {}),
        run_vars=variables,
        run_state=run_state if run_state is not None else {},
    )
    model = validate_inputs(block, inputs, "node")
    instance = block()
    result.emissions.extend(all_emissions(block, instance.run(model, ctx), "node"))
    result.vars_set = dict(ctx.vars_set)
    return result
