"""``deskpilot submit``: queue a workflow file on the supervisor, and with ``--wait`` follow it.

The step debugger works here as in ``deskpilot run``, with the run in one of
the supervisor's workers: ``--break NODE`` (and the file's saved
breakpoints) pause it there, and with ``--wait`` the terminal prompt answers
each pause through the API (``POST /runs/{id}/debug``).  Without a terminal
or piped commands the pause waits for the window's debug panel, and ends by
itself after the pause timeout, as every pause does.  ``--from NODE`` is "run
from here": a re-run of the workflow's last finished run (or ``--of``) on
the file as it is now, reusing the outputs of the nodes before NODE; with
``--input`` an input differs from the earlier run's, and ``--priority``,
``--deadline`` and ``--break-timeout`` apply to the new run.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from automation.engine.debugger import DebugAction, PauseReason, PauseSnapshot
from automation.errors import DeskpilotError, WorkflowError
from supervisor.cli import output
from supervisor.cli.run_cmd import (
    complete_earlier_run,
    complete_node_id,
    parse_inputs,
    with_saved_breakpoints,
)

if TYPE_CHECKING:  # the API client and the events load when the command runs, not for '--help'
    from supervisor.api.models import DebugState, RunDetail, Submitted
    from supervisor.client import SupervisorClient

_ACTIONS: dict[DebugAction, Literal["continue", "step", "abort"]] = {
    DebugAction.CONTINUE: "continue",
    DebugAction.STEP: "step",
    DebugAction.ABORT: "abort",
}
#: How often the fallback loop (after a broken event stream) looks for a pause.
_PAUSE_POLL = 1.0


@click.command("submit")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-i", "--input", "inputs", multiple=True, metavar="NAME=VALUE", help="A workflow input; repeat."
)
@click.option(
    "--priority",
    default=None,
    type=click.IntRange(-1000, 1000),
    help="Higher runs first (default 0; with --from, the earlier run's).",
)
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), help="Run time limit (s).")
@click.option(
    "--on",
    "on",
    metavar="HOST",
    help="The machine that must run it ('deskpilot machines' lists them); by default this "
    "machine for a workflow that drives the desktop, any machine otherwise.",
)
@click.option("--wait", is_flag=True, help="Follow the run; exit 0 if it succeeded, 1 if not.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: with --wait the run as 'deskpilot schema run' describes, "
    "without it the queued run's id.",
)
@click.option(
    "--break",
    "breaks",
    multiple=True,
    metavar="NODE",
    shell_complete=complete_node_id,
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
@click.option(
    "--ignore-breakpoints",
    is_flag=True,
    help="Do not pause at the breakpoints saved in the file (nodes with 'break: true').",
)
@click.option(
    "--from",
    "run_from",
    metavar="NODE",
    shell_complete=complete_node_id,
    help="Run from here: NODE and what follows run from the file as it is now, reusing the "
    "outputs of the nodes before it and the inputs of the workflow's last finished run "
    "(--input changes one; --priority, --deadline and --break-timeout apply as usual).",
)
@click.option(
    "--of",
    "earlier",
    metavar="RUN_ID",
    shell_complete=complete_earlier_run,
    help="With --from: reuse this run instead of the last one (a unique id prefix is enough).",
)
def submit_cmd(
    file: Path,
    inputs: tuple[str, ...],
    priority: int | None,
    deadline: float | None,
    on: str | None,
    wait: bool,
    as_json: bool,
    breaks: tuple[str, ...],
    break_timeout: float | None,
    ignore_breakpoints: bool,
    run_from: str | None,
    earlier: str | None,
) -> None:
    """Queue a workflow file on the supervisor (see also 'deskpilot run', which runs it here)."""
    from supervisor.client import SupervisorClient
    from supervisor.paths import DeskpilotPaths
    from supervisor.run_report import report_from_api, report_json

    if earlier is not None and run_from is None:
        raise click.UsageError("--of goes with --from NODE")
    if run_from is not None and on is not None:
        raise click.UsageError("--from runs again where the earlier run's history is; drop --on")
    values = parse_inputs(inputs)
    path = file.expanduser().resolve()
    prompting = wait and (sys.stdin.isatty() or break_timeout is not None)
    breaks = with_saved_breakpoints(path, breaks, ignore=ignore_breakpoints, answerable=prompting)
    with SupervisorClient(DeskpilotPaths.from_env()) as client:
        _check_path_there(client, path)
        if run_from is not None:
            source = _earlier_run(client, path, earlier)

            def start(run_id: str | None) -> Submitted:
                assert run_from is not None
                return client.rerun(
                    source,
                    "from_node",
                    path=path,
                    node=run_from,
                    breakpoints=breaks,
                    text_inputs=values,
                    priority=priority,
                    deadline_seconds=deadline,
                    pause_timeout=break_timeout,
                )

        else:

            def start(run_id: str | None) -> Submitted:
                return client.submit(
                    path,
                    text_inputs=values,
                    priority=priority or 0,
                    deadline_seconds=deadline,
                    run_id=run_id,
                    on=on,
                    breakpoints=breaks,
                    pause_timeout=break_timeout,
                )

        if not wait:
            submitted = start(None)
            if as_json:
                output.emit_json(submitted.model_dump(mode="json"))
            else:
                output.line(f"queued run {submitted.run_id} of '{submitted.workflow}'")
                if breaks:
                    output.line(
                        f"  it pauses before {', '.join(breaks)}: answer in the window's debug "
                        "panel; an unanswered pause ends by itself"
                    )
            return
        debugger = _Answering(client, path, prompting, break_timeout)
        run_id = uuid.uuid4().hex if run_from is None else None
        try:
            run_id = _follow(client, start, run_id, debugger, show=not as_json)
        except KeyboardInterrupt:
            output.error(
                f"stopped following; run {run_id or ''} goes on in the supervisor "
                "('deskpilot runs list' shows it later)"
            )
            sys.exit(130)
        if as_json:
            report = report_from_api(client, run_id)
            output.emit_json(report_json(report))
            sys.exit(0 if report.status == "succeeded" else 1)
        detail = client.get_run(run_id)
    _report(detail)
    sys.exit(0 if detail.run.status == "succeeded" else 1)


def _check_path_there(client: SupervisorClient, path: Path) -> None:
    """Another machine's supervisor reads ``path`` on its own disk: only a file of its own
    catalog is known to be the same file there; anything else could run another copy."""
    remote = client.remote
    if remote is None:
        return
    if any(info.path == str(path) for info in client.workflows()):
        return
    raise DeskpilotError(
        f"{path} is a file on this machine, but the supervisor at {remote.url} reads workflow "
        "paths on its own disk, where this path may hold another file or nothing.  Copy the "
        "file into that machine's workflows folder and submit that path ('deskpilot --api "
        f"{remote.url} workflows list' shows them), or submit it to this machine's supervisor "
        "('--api local')"
    )


def _earlier_run(client: SupervisorClient, path: Path, earlier: str | None) -> str:
    """The run ``--from`` reuses: ``--of``, or the workflow's newest finished run."""
    from automation.loader import read_workflow_file
    from supervisor.cli.run_ids import resolve_run_id

    if earlier is not None:
        return resolve_run_id(earlier)
    name = read_workflow_file(path).workflow.name
    for run in client.list_runs(workflow=name, limit=50).runs:
        if run.status.terminal:
            return run.id
    raise WorkflowError(
        f"'{name}' has no finished run to reuse the outputs of; run it once first, "
        "or name one with --of RUN_ID"
    )


class _Answering:
    """Answers a paused run from the terminal, through the API; or says where to answer it."""

    def __init__(
        self, client: SupervisorClient, path: Path | None, prompting: bool, timeout: float | None
    ) -> None:
        self.client = client
        self.prompting = prompting
        self.timeout = timeout
        self.answered: set[tuple[str, int]] = set()
        from supervisor.cli.debug_prompt import TerminalPrompt

        self.prompt = (
            TerminalPrompt(sys.stdin.fileno(), sys.stderr, values_shown=True) if prompting else None
        )
        from automation.loader import read_workflow_file

        self.blocks: dict[str, str] = {}
        if path is not None:  # without one (a re-run of a stored version) blocks show as '?'
            try:
                nodes = read_workflow_file(path).workflow.nodes
                self.blocks = {node_id: node.block for node_id, node in nodes.items()}
            except DeskpilotError:
                pass

    def check(self, run_id: str) -> None:
        """If the run is paused at a pause not yet answered, answer it (or say how)."""
        state = self.client.debug_state(run_id)
        if not state.paused or state.node_id is None or state.step is None:
            return
        key = (state.node_id, state.step)
        if key in self.answered:
            return
        self.answered.add(key)
        left = state.seconds_left or 0.0
        if self.prompt is None:
            output.line(
                f"paused before node '{state.node_id}': answer in the window's debug panel "
                f"(or pipe commands in with --break-timeout); continues by itself in {left:.0f} s",
                sys.stderr,
            )
            return
        from supervisor.client import SupervisorApiError

        timeout = left if self.timeout is None else min(left, self.timeout)
        answer = self.prompt.next_command(
            _snapshot(state, self.blocks), max(round(timeout, 1), 0.1)
        )
        if answer is None:
            return  # the supervisor ends the pause by itself, and drops the breakpoints
        try:
            self.client.debug(
                run_id, _ACTIONS[answer.action], inputs=answer.inputs, variables=answer.vars
            )
        except SupervisorApiError as exc:
            output.error(str(exc))


def _snapshot(state: DebugState, blocks: dict[str, str]) -> PauseSnapshot:
    assert state.node_id is not None and state.step is not None
    return PauseSnapshot(
        run_id=state.run_id,
        node_id=state.node_id,
        block=blocks.get(state.node_id, "?"),
        step=state.step,
        reason=PauseReason(state.reason or "breakpoint"),
        pins=state.pins,
        inputs=state.inputs,
        vars=state.vars,
    )


def _follow(
    client: SupervisorClient,
    start: Callable[[str | None], Submitted],
    run_id: str | None,
    debugger: _Answering,
    *,
    show: bool,
) -> str:
    """Start the run and show its events until it ends; answer its pauses.  Its id.

    With an id chosen beforehand the stream is opened first, so no event is
    missed; a re-run gets its id from the supervisor, so its stream opens just
    after it was queued (the history has every event either way).
    """
    from supervisor.client import SupervisorUnavailable

    view = output.ProgressView(live=show and sys.stderr.isatty() and not debugger.prompting)
    ended = False
    started: str | None = None
    try:
        if run_id is None:
            started = start(None).run_id
        with client.events(run_id=started or run_id) as stream:
            if started is None:
                started = start(run_id).run_id
            if show:
                view.start([])
            debugger.check(started)  # a pause that began before the stream opened
            for item in stream:
                kind = item.get("kind")
                if kind == "run_status":
                    ended = True
                    break
                if show:
                    _show_event(view, item)
                if kind == "node_paused":
                    view.stop()
                    debugger.check(started)
    except SupervisorUnavailable:
        ended = False  # the stream broke (supervisor restarting?): fall back to polling below
    finally:
        view.stop()
    if started is None:
        started = start(run_id).run_id
    while not ended:
        ended = client.wait(started, timeout=_PAUSE_POLL if debugger.prompting else 30.0).finished
        if not ended:
            debugger.check(started)
    return started


def _show_event(view: output.ProgressView, item: dict[str, Any]) -> None:
    from automation.engine.events import EVENT_TYPES, event_from_dict

    kind = str(item.get("kind"))
    if kind in EVENT_TYPES:
        view([event_from_dict(item)])
        return
    text = None
    if kind == "run_queued":
        text = f"run {item.get('run_id')} queued"
    elif kind == "run_interrupted":
        tail = "resuming" if item.get("will_resume") else "giving up"
        text = f"run interrupted: {item.get('detail')}; {tail}"
    elif kind == "run_cancelled":
        text = "run cancelled"
    if text is not None:
        output.line(text, stream=sys.stderr)


def _report(detail: RunDetail) -> None:
    run = detail.run
    for name, value in (run.outputs or {}).items():
        output.line(f"{name}: {value}")
    took = f" in {run.duration:.2f}s" if run.duration is not None else ""
    verdict = f"{run.workflow_name}: {run.status}{took}, {run.steps or 0} steps (run {run.id})"
    if run.error:
        verdict += f"\n  {run.error}"
    output.line(verdict)
