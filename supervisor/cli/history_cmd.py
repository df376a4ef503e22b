"""``deskpilot runs``: read the run history (runs, steps, logs, artifacts), cancel and wait.

``list`` and ``show`` read the history file directly (they work with the
supervisor stopped; SQLite in WAL mode lets them read beside it); ``cancel``,
``wait`` and ``artifact`` need the running supervisor and go through its API
(an artifact comes from the history's copy, whichever machine made it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from automation.engine.events import RunStatus
from supervisor.cli import output
from supervisor.cli.run_ids import (
    complete_run_id,
    open_store,
    remote_chosen,
    resolve_in,
    resolve_run_id,
)
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:  # imported when a command runs, so that '--help' answers at once
    from supervisor.api.models import Submitted
    from supervisor.client import SupervisorClient

STATUSES = [status.value for status in RunStatus]


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _duration(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


def _client() -> SupervisorClient:
    from supervisor.client import SupervisorClient

    return SupervisorClient(DeskpilotPaths.from_env())


@click.group("runs")
def runs_group() -> None:
    """Run history."""


@runs_group.command("list")
@click.option("--workflow", help="Only runs of this workflow (by name).")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--before",
    shell_complete=complete_run_id,
    help="Page: runs older than this run (a unique id prefix is enough).",
)
@click.option("--json", "as_json", is_flag=True)
def runs_list(
    workflow: str | None, status: str | None, limit: int, before: str | None, as_json: bool
) -> None:
    """List runs, newest first."""
    if remote_chosen() is not None:
        _remote_list(workflow, status, limit, before, as_json)
        return
    store = open_store()
    try:
        records = store.list_runs(
            workflow=workflow,
            status=RunStatus(status) if status else None,
            limit=limit,
            before=resolve_in(store, before) if before else None,
        )
    finally:
        store.close()
    if as_json:
        output.emit_json([asdict(r) for r in records])
        return
    _runs_table(records)


def _runs_table(runs: Sequence[Any]) -> None:
    """The ``runs list`` table, for this machine's records and another machine's API rows alike."""
    if not runs:
        output.line("no runs yet")
        return
    output.table(
        [
            (
                r.id,
                r.workflow_name,
                str(r.status),
                r.trigger,
                _when(r.started_at or r.queued_at),
                _duration(r.duration),
                r.error or "",
            )
            for r in runs
        ],
        ["run", "workflow", "status", "trigger", "started", "took", "error"],
    )


@runs_group.command("show")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the run as 'deskpilot schema run' describes."
)
def runs_show(run_id: str, as_json: bool) -> None:
    """One run with its steps, attempts, logs and artifacts (a unique id prefix is enough)."""
    if remote_chosen() is not None:
        _remote_show(run_id, as_json)
        return
    store = open_store()
    try:
        record = store.get_run(run_id) or store.get_run(resolve_in(store, run_id))
        assert record is not None
        if as_json:
            from supervisor.run_report import report_from_store, report_json

            found = report_from_store(store, record.id)
            assert found is not None
            output.emit_json(report_json(found))
            return
        steps = store.steps(record.id)
        events = store.events(record.id, limit=None)
        artifacts = store.artifacts(record.id)
        from supervisor.machine import restart_left, waiting_reason

        waiting = waiting_reason(store, record)
        restart_in = restart_left(store, record.status, record.not_before)
    finally:
        store.close()
    output.line(f"run {record.id}  {record.workflow_name}  {record.status}")
    output.line(
        f"  trigger {record.trigger}; queued {_when(record.queued_at)}; started {_when(record.started_at)}; took {_duration(record.duration)}"
    )
    if record.target_host is not None:
        output.line(
            f"  machine: {record.target_host}" + (f"; waiting: {waiting}" if waiting else "")
        )
    if restart_in is not None:
        output.line(_restart_line(restart_in))
    if record.inputs:
        output.line(f"  inputs: {record.inputs}")
    if record.error:
        output.line(
            f"  error: {record.error}"
            + (f" (node '{record.failed_node}')" if record.failed_node else "")
        )
    if record.outputs:
        output.line(f"  outputs: {record.outputs}")
    output.line()
    output.table(
        [
            (
                s.step,
                s.node_id,
                s.block or "",
                s.attempt,
                str(s.status),
                _duration(s.duration),
                s.error or _short(s.outputs),
            )
            for s in steps
        ],
        ["step", "node", "block", "try", "status", "took", "outputs / error"],
    )
    _show_pauses(events)
    logs = [e for e in events if e.kind == "log"]
    if logs:
        output.line()
        output.line("log:")
        for event in logs:
            where = f"{event.node_id}: " if event.node_id else ""
            output.line(f"  {_when(event.at)} [{event.level}] {where}{event.message}")
    if artifacts:
        output.line()
        output.line("artifacts:")
        for artifact in artifacts:
            output.line(
                f"  [{artifact.id}] {artifact.kind}: {artifact.path}"
                + (f" (node '{artifact.node_id}')" if artifact.node_id else "")
                + ("" if artifact.stored else " (no copy in the history)")
            )
        output.line(f"  ('deskpilot runs artifact {record.id[:12]} ID -o FILE' saves one)")


def _remote_list(
    workflow: str | None, status: str | None, limit: int, before: str | None, as_json: bool
) -> None:
    """``runs list`` through another machine's API (the fleet's history, as it sees it)."""
    with _client() as client:
        page = client.list_runs(workflow=workflow, status=status, limit=limit, before=before)
    if as_json:
        output.emit_json([r.model_dump(mode="json") for r in page.runs])
        return
    _runs_table(page.runs)


def _remote_show(run_id: str, as_json: bool) -> None:
    """``runs show`` through another machine's API: the run, its steps, its log.

    ``--json`` prints the document ``deskpilot schema run`` describes, as the
    local path does, built from the API's answers (``report_from_api``): a
    script reading it must not care which machine it asked.
    """
    with _client() as client:
        detail = client.get_run(run_id.strip())
        if as_json:
            from supervisor.run_report import report_from_api, report_json

            output.emit_json(report_json(report_from_api(client, detail.run.id)))
            return
        events = client.run_events(detail.run.id)
    run = detail.run
    output.line(f"run {run.id}  {run.workflow_name}  {run.status}")
    output.line(
        f"  trigger {run.trigger}; queued {_when(run.queued_at)}; "
        f"started {_when(run.started_at)}; took {_duration(run.duration)}"
    )
    if run.target_host is not None:
        output.line(
            f"  machine: {run.target_host}" + (f"; waiting: {run.waiting}" if run.waiting else "")
        )
    if run.restart_in is not None:
        output.line(_restart_line(run.restart_in))
    if run.error:
        output.line(
            f"  error: {run.error}" + (f" (node '{run.failed_node}')" if run.failed_node else "")
        )
    if run.outputs:
        output.line(f"  outputs: {run.outputs}")
    output.line()
    output.table(
        [
            (
                s.step,
                s.node_id,
                s.block or "",
                s.attempt,
                str(s.status),
                _duration(s.duration),
                s.error or _short(s.outputs),
            )
            for s in detail.steps
        ],
        ["step", "node", "block", "try", "status", "took", "outputs / error"],
    )
    logs = [e for e in events if e.kind == "log"]
    if logs:
        output.line()
        output.line("log:")
        for event in logs:
            where = f"{event.node_id}: " if event.node_id else ""
            output.line(f"  {_when(event.at)} [{event.level}] {where}{event.message}")
    for artifact in detail.artifacts:
        output.line(f"  [{artifact.id}] {artifact.kind}: {artifact.path}")


def _restart_line(left: float) -> str:
    """'waiting to restart until 14:03:07 (in 12 s)': a queued run's restart delay.

    ``left`` is counted on the clock the delay's end was written on
    (``machine.restart_left``); the time of day is when that is on this
    machine's clock, whatever the database's clock says.
    """
    if left <= 0:
        return "  restart delay over; it runs when a supervisor takes it"
    until = datetime.now().astimezone() + timedelta(seconds=left)
    return f"  waiting to restart until {until:%H:%M:%S} (in {left:.0f} s)"


def _show_pauses(events: list[Any]) -> None:
    """The debugger's stops: where, why, how each ended (edited names, never values)."""
    from supervisor.run_report import pauses_from_events

    pauses = pauses_from_events(events)
    if not pauses:
        return
    output.line()
    output.line("pauses:")
    for pause in pauses:
        why = f"{pause.reason}, " if pause.reason else ""
        step = f"step {pause.step}" if pause.step is not None else "step ?"
        if pause.ended is None:
            how = "never answered (still paused, or the run stopped while paused)"
        else:
            how = pause.ended.replace("_", " ")
            if pause.waited is not None:
                how += f" after {_duration(pause.waited)}"
            if pause.edited:
                how += f", edited {', '.join(pause.edited)}"
        output.line(f"  {_when(pause.paused_at)} before '{pause.node_id}' ({why}{step}): {how}")


@runs_group.command("artifact")
@click.argument("run_id", shell_complete=complete_run_id)
@click.argument("artifact_id", type=click.IntRange(min=1))
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write it to this file (default: stdout, when that is not a terminal).",
)
def runs_artifact(run_id: str, artifact_id: int, target: Path | None) -> None:
    """Save a run's screenshot or evidence, from whichever machine ran it (needs the supervisor).

    ARTIFACT_ID is the number in brackets in 'deskpilot runs show'.
    """
    run_id = resolve_run_id(run_id)
    if target is None and sys.stdout.isatty():
        raise click.UsageError("give -o FILE: the artifact is not text for a terminal")
    with _client() as client:
        data = client.artifact(run_id, artifact_id)
    if target is None:
        output.emit_bytes(data)
        return
    target.write_bytes(data)
    output.line(f"saved artifact {artifact_id} of run {run_id} to {target} ({len(data)} bytes)")


@runs_group.command("cancel")
@click.argument("run_id", shell_complete=complete_run_id)
def runs_cancel(run_id: str) -> None:
    """Cancel a queued or running run (needs the supervisor; a unique id prefix is enough)."""
    run_id = resolve_run_id(run_id)
    with _client() as client:
        result = client.cancel(run_id)
    output.line(f"cancelled run {result.run_id} (now {result.status})")


_RERUN_MODES = {"start": "start", "failed-node": "failed_node", "current": "current"}


@runs_group.command("rerun")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option(
    "--from",
    "mode",
    type=click.Choice(list(_RERUN_MODES)),
    default="start",
    show_default=True,
    help="start: the same version from the beginning; failed-node: the same version, reusing "
    "the steps that succeeded; current: the workflow file as it is now.",
)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --from current or --node: run this file (as edited since) instead of the "
    "workflow's own version.",
)
@click.option(
    "--node",
    metavar="NODE",
    help="Run from here: NODE and what follows run again, reusing the outputs of the steps "
    "before it (the same version, or --file).",
)
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Change one of the earlier run's inputs, read by its declared type as 'run' and "
    "'submit' read it; repeat for more.",
)
@click.option(
    "--priority",
    default=None,
    type=click.IntRange(-1000, 1000),
    help="Higher runs first (default: the earlier run's).",
)
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), help="Run time limit (s).")
@click.option(
    "--break",
    "breaks",
    multiple=True,
    metavar="NODE",
    help="Pause before this node (repeat for more); with --wait the terminal answers, "
    "otherwise the window's debug panel.",
)
@click.option(
    "--break-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="How long a pause waits for a command before the run goes on without breakpoints "
    "(default: the supervisor's setting; needed to pipe commands in).",
)
@click.option("--wait", is_flag=True, help="Follow the run; exit 0 if it succeeded, 1 if not.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the new run as 'deskpilot schema run' describes: with --wait once it ended, "
    "otherwise as queued.",
)
def runs_rerun(
    run_id: str,
    mode: str,
    path: Path | None,
    node: str | None,
    inputs: tuple[str, ...],
    priority: int | None,
    deadline: float | None,
    breaks: tuple[str, ...],
    break_timeout: float | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Queue a run again with the same inputs (needs the supervisor; a unique id prefix is enough)."""
    from supervisor.cli.run_cmd import parse_inputs
    from supervisor.run_report import report_from_api, report_json

    if node is not None and mode != "start":
        raise click.UsageError("--node runs from that node: leave out --from")
    if path is not None and mode != "current" and node is None:
        raise click.UsageError("--file goes with --from current or --node")
    values = parse_inputs(inputs)
    run_id = resolve_run_id(run_id)
    chosen = "from_node" if node is not None else _RERUN_MODES[mode]
    with _client() as client:

        def start(_run_id: str | None) -> Submitted:
            return client.rerun(
                run_id,
                chosen,  # type: ignore[arg-type]
                path=path,
                node=node,
                breakpoints=breaks,
                text_inputs=values,
                priority=priority,
                deadline_seconds=deadline,
                pause_timeout=break_timeout,
            )

        if not wait:
            submitted = start(None)
            if as_json:
                output.emit_json(report_json(report_from_api(client, submitted.run_id)))
            else:
                output.line(
                    f"queued run {submitted.run_id} of '{submitted.workflow}' (rerun of {run_id})"
                )
                if breaks:
                    output.line(
                        f"  it pauses before {', '.join(breaks)}: answer in the window's debug "
                        "panel (or rerun with --wait); an unanswered pause ends by itself"
                    )
            return
        from supervisor.cli.submit_cmd import _Answering, _follow

        prompting = sys.stdin.isatty() or break_timeout is not None
        answering = _Answering(client, path, prompting, break_timeout)
        try:
            new_id = _follow(client, start, None, answering, show=not as_json)
        except KeyboardInterrupt:
            output.error("stopped following; the run goes on in the supervisor")
            sys.exit(130)
        report = report_from_api(client, new_id)
    if as_json:
        output.emit_json(report_json(report))
    else:
        for name, value in report.outputs.items():
            output.line(f"{name}: {value}")
        took = f" in {report.duration:.2f}s" if report.duration is not None else ""
        verdict = f"{report.workflow}: {report.status}{took}, {report.step_count} steps"
        output.line(f"{verdict} (run {new_id}, rerun of {run_id})")
        if report.error:
            output.line(f"  {report.error}")
    sys.exit(0 if report.status == RunStatus.SUCCEEDED else 1)


#: One wait request lasts at most this long; longer waits ask again.
_WAIT_CHUNK = 30.0


@runs_group.command("wait")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Give up after this many seconds (exit 2).  Default: wait for as long as it takes.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the run as 'deskpilot schema run' describes."
)
def runs_wait(run_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a run to end (needs the supervisor); exit 0 if it succeeded, 1 if not."""
    run_id = resolve_run_id(run_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    with _client() as client:
        while True:
            left = _WAIT_CHUNK if deadline is None else deadline - time.monotonic()
            result = client.wait(run_id, timeout=max(0.0, min(_WAIT_CHUNK, left)))
            if result.finished or (deadline is not None and time.monotonic() >= deadline):
                break
        from supervisor.run_report import report_from_api, report_json

        report = report_from_api(client, run_id) if as_json else None
    run = result.run
    if report is not None:
        output.emit_json(report_json(report))
    elif not result.finished:
        output.line(f"run {run.id} is still {run.status} after {timeout:g}s")
    else:
        took = f" in {run.duration:.2f}s" if run.duration is not None else ""
        output.line(f"run {run.id} of '{run.workflow_name}' {run.status}{took}")
        if run.error:
            output.line(f"  {run.error}")
    if not result.finished:
        sys.exit(2)
    sys.exit(0 if run.status == "succeeded" else 1)


def _short(value: Any, limit: int = 80) -> str:
    if not value:
        return ""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
