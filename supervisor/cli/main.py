"""``deskpilot``: the command line for everything the GUI does.

Errors the user can fix (a bad file, a missing secret, a locked database)
print one line and exit non-zero; ``--debug`` adds the traceback.  Exit
codes: 0 success, 1 the thing failed (invalid workflow, failed run), 2 the
command line itself was wrong.

Subcommands are imported only when they run: the block registry, SQLAlchemy
and the API client together take over a second to import, which made
``deskpilot --help`` (and every shell completion) that slow.  ``COMMANDS``
names each one's module and one-line help, so the top-level help is drawn
without importing any of them.

``--api URL`` / ``--machine HOST`` point every command that talks to a
supervisor at another machine's API (``supervisor.remote`` says how the
target, the certificate and the token are found); ``deskpilot supervisor
start|stop|status`` always mean this machine's supervisor.

Shell completion (workflow files, block ids, run ids) comes from click::

    eval "$(_DESKPILOT_COMPLETE=bash_source deskpilot)"    # ~/.bashrc
    eval "$(_DESKPILOT_COMPLETE=zsh_source deskpilot)"     # ~/.zshrc
    _DESKPILOT_COMPLETE=fish_source deskpilot | source     # fish
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from automation.errors import DeskpilotError, WorkflowInvalid

#: name -> (module, attribute, one-line help shown by ``deskpilot --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "backup": ("supervisor.cli.backup_cmd", "backup_cmd", "Copy the history and settings."),
    "blocks": ("supervisor.cli.workflow_cmd", "blocks_group", "The blocks workflows are made of."),
    "connection": (
        "supervisor.cli.connection_cmd",
        "connection_group",
        "Which machine's supervisor the CLI and the window talk to.",
    ),
    "breakers": (
        "supervisor.cli.catalog_cmd",
        "breakers_group",
        "Circuit breakers of failing workflows.",
    ),
    "gui": ("supervisor.cli.workflow_cmd", "gui_cmd", "Open the desktop app."),
    "history": ("supervisor.cli.backup_cmd", "history_group", "Prune the run history."),
    "machines": (
        "supervisor.cli.machines_cmd",
        "machines_cmd",
        "Supervisors sharing the database: state, runs, API.",
    ),
    "record": (
        "supervisor.cli.record_cmd",
        "record_cmd",
        "Record clicks and typing into a workflow.",
    ),
    "restore": ("supervisor.cli.backup_cmd", "restore_cmd", "Restore a verified backup."),
    "run": ("supervisor.cli.run_cmd", "run_cmd", "Run a workflow file here and now."),
    "runs": ("supervisor.cli.history_cmd", "runs_group", "Run history: list, show, wait, cancel."),
    "schema": (
        "supervisor.cli.workflow_cmd",
        "schema_cmd",
        "JSON Schemas: the workflow file format, a run's --json.",
    ),
    "secrets": ("supervisor.cli.secrets_cmd", "secrets_group", "Secrets in the OS keyring."),
    "submit": (
        "supervisor.cli.submit_cmd",
        "submit_cmd",
        "Queue a run on the supervisor.",
    ),
    "supervisor": (
        "supervisor.cli.daemon_cmd",
        "supervisor_group",
        "Start, stop and inspect the supervisor.",
    ),
    "triggers": (
        "supervisor.cli.daemon_cmd",
        "triggers_group",
        "Schedules, file watches, webhooks, hotkeys.",
    ),
    "validate": ("supervisor.cli.workflow_cmd", "validate_cmd", "Check workflow files."),
    "workers": ("supervisor.cli.daemon_cmd", "workers_cmd", "Worker processes and heartbeats."),
    "workflows": (
        "supervisor.cli.catalog_cmd",
        "workflows_group",
        "Workflows the supervisor knows.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in ``COMMANDS`` and are imported on use.

    Deskpilot errors become one clear line instead of a traceback.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        known = super().get_command(ctx, cmd_name)
        if known is not None or cmd_name not in COMMANDS:
            return known
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in COMMANDS:
                rows.append((name, COMMANDS[name][2]))
            else:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeskpilotError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from supervisor.cli import output

            if isinstance(exc, WorkflowInvalid):
                # FILE:LINE:COL: node.field: message (hint), one a line, as editors link them
                for issue in exc.issues:
                    output.line(str(issue), sys.stderr)
            else:
                output.error(str(exc))
            sys.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option(
    "--api",
    "api_url",
    metavar="URL",
    help="Talk to the supervisor API at URL (another machine's, e.g. "
    "https://robot-2:8750), or 'local'. Default: $DESKPILOT_REMOTE, else the saved "
    "connection, else this machine.",
)
@click.option(
    "--machine",
    metavar="HOST",
    help="Talk to the supervisor of HOST, at the API address it advertises to the fleet "
    "(see 'deskpilot machines').",
)
@click.option(
    "--ca",
    "ca_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this PEM file (a CA, or the supervisor's own certificate) for --api's TLS.",
)
@click.option(
    "--pin",
    metavar="sha256:HEX",
    help="Trust exactly the certificate with this SHA-256 fingerprint for --api's TLS "
    "(instead of a CA; the 'not trusted' error shows it).",
)
@click.version_option(package_name="deskpilot")
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    api_url: str | None,
    machine: str | None,
    ca_file: str | None,
    pin: str | None,
) -> None:
    """Deskpilot: desktop automation that keeps itself running."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _choose_target(ctx, api_url, machine, ca_file, pin)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Click runs this callback before a subcommand reads its own '--help', so the
    # redaction module (and the secret patterns it compiles) loads with the first
    # log record instead: '--help' never logs, a run does, and is masked.
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactOnFirstRecord())


def _choose_target(
    ctx: click.Context,
    api_url: str | None,
    machine: str | None,
    ca_file: str | None,
    pin: str | None,
) -> None:
    """Point every client this process (and its children) makes at the chosen API.

    Through the environment, because the commands make their clients in many
    places; ``supervisor.remote.resolve`` reads it.
    """
    if not (api_url or machine or ca_file or pin):
        return  # '--help' and shell completion stay free of the client's imports
    import os

    from supervisor.pinning import PIN_VARIABLE, PinSettingError, normalize_pin
    from supervisor.remote import CA_VARIABLE, REMOTE_VARIABLE

    if api_url and machine:
        raise click.UsageError("give --api or --machine, not both")
    if ca_file and pin:
        raise click.UsageError("give --ca or --pin, not both: a pin replaces the CA check")
    if ca_file:
        os.environ[CA_VARIABLE] = os.path.abspath(ca_file)
        os.environ.pop(PIN_VARIABLE, None)
    if pin:
        try:
            os.environ[PIN_VARIABLE] = normalize_pin(pin)
        except PinSettingError as exc:
            raise click.BadParameter(str(exc), param_hint="--pin") from None
        os.environ.pop(CA_VARIABLE, None)
    if api_url:
        os.environ[REMOTE_VARIABLE] = api_url
    elif machine:
        from supervisor.cli.connection_cmd import machine_url

        try:
            os.environ[REMOTE_VARIABLE] = machine_url(machine)
        except DeskpilotError as exc:
            if ctx.obj.get("debug"):
                raise
            from supervisor.cli import output

            output.error(str(exc))
            sys.exit(1)


class _RedactOnFirstRecord(logging.Filter):
    """``automation.redaction``'s filter, imported when the first record passes."""

    def __init__(self) -> None:
        super().__init__()
        self._inner: logging.Filter | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._inner is None:
            from automation.redaction import RedactingFilter

            self._inner = RedactingFilter()
        return bool(self._inner.filter(record))


def main() -> None:
    cli(prog_name="deskpilot")


if __name__ == "__main__":
    main()
