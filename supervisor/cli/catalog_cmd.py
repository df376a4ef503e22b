"""``deskpilot workflows`` and ``deskpilot breakers``: what the supervisor runs, and what it paused.

Both go through the supervisor's API, like the window's workflow list and
its breaker reset button, so the CLI and the GUI see the same thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from supervisor.cli import output
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:
    from supervisor.client import SupervisorClient


def _client() -> SupervisorClient:
    from supervisor.client import SupervisorClient  # here: '--help' needs no HTTP client

    return SupervisorClient(DeskpilotPaths.from_env())


@click.group("workflows")
def workflows_group() -> None:
    """Workflows in the watched workflows folder (needs the supervisor)."""


@workflows_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def workflows_list(as_json: bool) -> None:
    """Every workflow file the supervisor watches, with its state and last run."""
    with _client() as client:
        workflows = client.workflows()
    if as_json:
        output.emit_json([w.model_dump(mode="json") for w in workflows])
        return
    output.table(
        [
            (
                w.name,
                "ok" if w.valid else ("invalid" if w.valid is False else ""),
                "yes" if w.active else "no",
                w.triggers,
                w.last_run_status or "",
                w.path or "",
                "; ".join(w.issues),
            )
            for w in workflows
        ],
        ["workflow", "valid", "active", "triggers", "last run", "file", "problems"],
    )


@click.group("breakers")
def breakers_group() -> None:
    """Circuit breakers: a workflow that keeps failing is paused until a probe run succeeds."""


@breakers_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def breakers_list(as_json: bool) -> None:
    """Every workflow's breaker that has counted failures, on any machine of the database."""
    with _client() as client:
        breakers = client.breakers()
    if as_json:
        output.emit_json([b.model_dump(mode="json") for b in breakers])
        return
    output.table(
        [
            (
                b.workflow,
                b.state,
                b.failures,
                "" if b.reopens_in is None else f"{b.reopens_in:.0f}s",
            )
            for b in breakers
        ],
        ["workflow", "state", "failures", "probe in"],
    )


@breakers_group.command("reset")
@click.argument("workflow")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def breakers_reset(workflow: str, as_json: bool) -> None:
    """Close a workflow's breaker now and resume its triggers."""
    with _client() as client:
        breaker = client.reset_breaker(workflow)
    if as_json:
        output.emit_json(breaker.model_dump(mode="json"))
        return
    output.line(f"breaker of '{breaker.workflow}' is {breaker.state}")
