"""``deskpilot run``: run a workflow file here and now, with live progress and history."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

from automation.engine.debugger import DEFAULT_PAUSE_TIMEOUT, Breakpoints
from automation.errors import DeskpilotError
from supervisor.cli import output

if TYPE_CHECKING:  # the engine and the store load when a run starts, not for '--help'
    from automation.blocks.context import CancelToken
    from automation.loader import LoadedWorkflow
    from supervisor.local import LocalRun
    from supervisor.paths import DeskpilotPaths


def complete_earlier_run(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of ``--of``: run ids, with the history read only when asked."""
    from supervisor.cli.run_ids import complete_run_id

    return complete_run_id(ctx, param, incomplete)


def parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--input")
        values[name.strip()] = value
    return values


def complete_node_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of ``--break`` and ``--from``: the nodes of the FILE already typed."""
    # while an option's value is completed, click leaves the FILE argument in ctx.args
    file = ctx.params.get("file") or next(iter(ctx.args), None)
    if file is None:
        return []
    try:
        from automation.loader import read_workflow_file

        nodes = read_workflow_file(Path(file)).workflow.nodes
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [
        CompletionItem(node_id, help=node.title or node.block)
        for node_id, node in nodes.items()
        if node_id.startswith(incomplete)
    ]


def answerable(break_timeout: float | None) -> bool:
    """Whether a pause can be answered: a terminal, or commands piped in with a time limit."""
    return sys.stdin.isatty() or break_timeout is not None


def with_saved_breakpoints(
    file: Path, breaks: tuple[str, ...], *, ignore: bool, answerable: bool
) -> tuple[str, ...]:
    """``--break`` nodes plus those the file marks ``break: true`` (unless ignored).

    Saved breakpoints nobody can answer are skipped with a note on stderr, so a
    file left with one still runs unattended (in CI, from cron) as before.
    """
    if ignore:
        return breaks
    from automation.loader import read_workflow_file

    try:
        saved = read_workflow_file(file).workflow.breakpoints()
    except DeskpilotError:
        return breaks  # the run itself reports what is wrong with the file
    extra = [node for node in saved if node not in breaks]
    if not extra:
        return breaks
    if not answerable:
        output.line(
            f"note: {file} has breakpoints on {', '.join(extra)}; stdin is not a terminal, so "
            "this run does not pause there (give --break-timeout SECONDS to pipe commands in, "
            "or --ignore-breakpoints to silence this)",
            sys.stderr,
        )
        return breaks
    return (*breaks, *extra)


def report(run: LocalRun, paths: DeskpilotPaths) -> dict[str, Any]:
    """The run's ``RunReport`` as JSON, read back from the history it was recorded in.

    Read from the history, not from the engine's result, so that ``run``,
    ``submit --wait`` and ``runs show`` print the same thing for the same run.
    """
    from supervisor.run_report import report_from_store, report_json
    from supervisor.store.store import HistoryStore

    store = HistoryStore.open(paths.database_url)
    try:
        found = report_from_store(store, run.result.run_id)
    finally:
        store.close()
    if found is None:  # recorded before run_file returned: not finding it is a bug
        raise RuntimeError(f"run {run.result.run_id} is missing from the history")
    return report_json(found)


@click.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A workflow input; repeat for more.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON summary at the end (progress goes to stderr).",
)
@click.option("--quiet", is_flag=True, help="No progress, only the result.")
@click.option(
    "--break",
    "breaks",
    multiple=True,
    metavar="NODE",
    shell_complete=complete_node_id,
    help="Pause before this node and take debugger commands from the terminal; repeat for more.",
)
@click.option(
    "--break-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help=f"How long a pause waits for a command before the run continues without breakpoints "
    f"(default {DEFAULT_PAUSE_TIMEOUT:g}; needed when stdin is not a terminal).",
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
    help="Run from here: run NODE and what follows, reusing the outputs of the nodes before "
    "it (and the inputs) of the workflow's last finished run.",
)
@click.option(
    "--of",
    "earlier",
    metavar="RUN_ID",
    shell_complete=complete_earlier_run,
    help="With --from: reuse this run instead of the last one (a unique id prefix is enough).",
)
def run_cmd(
    file: Path,
    inputs: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    breaks: tuple[str, ...],
    break_timeout: float | None,
    ignore_breakpoints: bool,
    run_from: str | None,
    earlier: str | None,
) -> None:
    """Run a workflow file in this process, record it in history, exit 0 if it succeeded.

    With --break, or at a node saved with 'break: true', the run pauses before
    the node and reads commands: c (continue), s (step), p [NAME] (print),
    show NAME (one value in full, masked), set NAME=VALUE, q (quit).  Saved breakpoints need someone to answer: with
    stdin not a terminal and no --break-timeout they are skipped, with a note.
    """
    from supervisor.cli.debug_prompt import TerminalPrompt
    from supervisor.cli.run_ids import resolve_run_id
    from supervisor.local import run_file
    from supervisor.paths import DeskpilotPaths

    if earlier is not None and run_from is None:
        raise click.UsageError("--of goes with --from NODE")
    if earlier is not None:
        earlier = resolve_run_id(earlier)
    breaks = with_saved_breakpoints(
        file, breaks, ignore=ignore_breakpoints, answerable=answerable(break_timeout)
    )
    debugger = None
    if breaks:
        if not answerable(break_timeout):
            raise click.UsageError(
                "--break reads debugger commands from the terminal, and stdin is not one; "
                "run it in a terminal, or pipe the commands in and give --break-timeout SECONDS"
            )
        timeout = DEFAULT_PAUSE_TIMEOUT if break_timeout is None else break_timeout

        def debugger(token: CancelToken) -> Breakpoints:
            prompt = TerminalPrompt(sys.stdin.fileno(), sys.stderr, cancelled=token.is_set)
            return Breakpoints(breaks, prompt, timeout=timeout)

    # a live table redraws over the prompt: plain lines while debugging
    view = output.ProgressView(live=sys.stderr.isatty() and not quiet and not breaks)

    def start(loaded: LoadedWorkflow) -> None:
        if not quiet:
            view.start([nid for nid, node in loaded.workflow.nodes.items() if not node.disabled])

    # Standard output carries the result alone: what libraries print while the run goes
    # (python-xlib's "no xauthority details available", say) would break --json for a
    # script reading it, so during the run it goes to standard error.
    redirect = contextlib.redirect_stdout(sys.stderr)
    paths = DeskpilotPaths.from_env()
    try:
        with redirect:
            run = run_file(
                file,
                parse_inputs(inputs),
                paths=paths,
                on_committed=None if quiet else view,
                before_start=start,
                debugger=debugger,
                breakpoints=breaks,
                run_from=run_from,
                earlier_run=earlier,
            )
    finally:
        view.stop()
    result = run.result
    if as_json:
        output.emit_json(report(run, paths))
    else:
        outputs = run.redactor.value(result.outputs)
        for name, value in outputs.items():
            output.line(f"{name}: {value}")
        verdict = f"{result.workflow}: {result.status} in {result.duration:.2f}s, {result.steps} steps (run {result.run_id})"
        if result.error:
            verdict += f"\n  {result.error}"
        output.line(verdict)
    sys.exit(0 if result.ok else 1)
