"""``deskpilot machines``: every supervisor sharing the database, through the local API.

Any supervisor answers for the whole fleet (``GET /machines``).  The table
shows each machine's id as a short prefix (as ``git`` shows commits); a
machine is picked by its host name or any unique prefix of its id.

``deskpilot machines forget HOST_OR_ID`` removes a machine taken out of the
fleet for good (``DELETE /machines/{id}``, ``supervisor.store.forget``):
every supervisor of that host, or the one with that id.  A machine that is
not gone yet is refused unless ``--force``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from supervisor.cli import output
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:  # the API client loads when the command runs, not for '--help'
    from supervisor.api.models import MachineForgotten, MachineInfo

#: Characters of a supervisor id shown in the table.
SHORT_ID = 12


def pick(machines: list[MachineInfo], wanted: str) -> list[MachineInfo]:
    """The machines named ``wanted``: by host name, else by id prefix."""
    by_host = [m for m in machines if m.host == wanted]
    if by_host:
        return by_host
    prefix = wanted.strip().lower()
    return [m for m in machines if prefix and m.id.startswith(prefix)]


def age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


class MachinesGroup(click.Group):
    """``machines [MACHINE]`` shows (``machines show``); ``machines forget ...`` forgets.

    Anything but a subcommand's name goes to ``show``, so ``deskpilot
    machines pc-1`` keeps working (a host named like a subcommand: ``show NAME``).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group("machines", cls=MachinesGroup)
def machines_cmd() -> None:
    """Supervisors sharing the database: list them, or forget one removed for good.

    Without a command, or with a MACHINE, lists them ('show'): 'deskpilot
    machines pc-1' shows that one.
    """


@machines_cmd.command("show")
@click.argument("machine", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (full ids, every field).")
def show_cmd(machine: str | None, as_json: bool) -> None:
    """Every supervisor on this database: host, state, running runs, version, API.

    MACHINE (a host name, or a unique prefix of a supervisor id) shows only that one.
    """
    from supervisor.client import SupervisorClient

    with SupervisorClient(DeskpilotPaths.from_env()) as client:
        machines = client.machines()
    if machine is not None:
        machines = pick(machines, machine)
        if not machines:
            output.error(f"no machine named '{machine}'; 'deskpilot machines' lists them")
            sys.exit(1)
    if as_json:
        output.emit_json([m.model_dump(mode="json") for m in machines])
        return
    if not machines:
        output.line(
            "no machines have registered yet (a supervisor registers itself when it starts)"
        )
        return
    output.table(
        [
            (
                m.id[:SHORT_ID],
                m.host + (" (this)" if m.this else ""),
                m.state,
                age(m.heartbeat_age_seconds),
                m.running,
                m.queued,
                m.version or "",
                m.api_url or "",
            )
            for m in machines
        ],
        ["id", "host", "state", "heartbeat", "running", "queued", "version", "api"],
    )
    for host in sorted({m.host for m in machines}):
        there = [m for m in machines if m.host == host]
        waiting = there[0].queued
        if waiting and not any(m.state == "alive" for m in there):
            output.line(
                f"{waiting} queued run{'s' if waiting != 1 else ''} wait for {host}, "
                "where no supervisor is alive: they run once one starts there"
            )


@machines_cmd.command("forget")
@click.argument("machine")
@click.option(
    "--force",
    is_flag=True,
    help="Forget it even though it was heard from recently: its runs are taken back and may "
    "run again elsewhere.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
def forget_cmd(machine: str, force: bool, as_json: bool) -> None:
    """Forget MACHINE, removed for good: its row, its trigger holds, the runs it claimed.

    MACHINE is a host name (every supervisor registered on it) or a unique
    prefix of a supervisor id.  A machine that is not gone yet (stopped, or
    silent long enough) is refused unless --force.  Triggers only it still
    loaded are retired; a machine that comes back registers again.
    """
    from supervisor.client import SupervisorClient

    with SupervisorClient(DeskpilotPaths.from_env()) as client:
        chosen, problems = to_forget(client.machines(), machine, force=force)
        if problems:
            for problem in problems:
                output.error(problem)
            sys.exit(1)
        done = [client.forget_machine(m.id, force=force) for m in chosen]
    if as_json:
        output.emit_json([item.model_dump(mode="json") for item in done])
        return
    for item in done:
        for text in _report(item):
            output.line(text)


def to_forget(
    machines: list[MachineInfo], wanted: str, *, force: bool
) -> tuple[list[MachineInfo], list[str]]:
    """The supervisors ``forget wanted`` removes, or why it removes none (all or nothing)."""
    chosen = pick(machines, wanted)
    if not chosen:
        return [], [f"no machine named '{wanted}'; 'deskpilot machines' lists them"]
    if len(chosen) > 1 and any(m.host != wanted for m in chosen):
        names = ", ".join(f"{m.id[:SHORT_ID]} ({m.host})" for m in chosen)
        return [], [f"'{wanted}' is the start of several supervisor ids: {names}; give more of it"]
    refused = [_refusal(m) for m in chosen if m.this or (m.state != "gone" and not force)]
    if refused:
        return [], [*refused, "nothing was forgotten"]
    return chosen, []


def _refusal(machine: MachineInfo) -> str:
    who = f"{machine.id[:SHORT_ID]} on {machine.host}"
    if machine.this:
        return f"{who} is the supervisor answering: it cannot forget itself"
    return (
        f"{who} is {machine.state} (last heartbeat {age(machine.heartbeat_age_seconds)}): "
        "stop it first, or pass --force if it is gone for good"
    )


def _report(item: MachineForgotten) -> list[str]:
    """What was removed, one line each."""
    m = item.machine
    lines = [
        f"forgot supervisor {m.id} on {m.host} (last heartbeat {age(item.silent_seconds)}): "
        "its machine row is removed"
    ]
    held = item.holds_released
    if held:
        lines.append(
            f"released its hold on {len(held)} trigger{'s' if len(held) != 1 else ''}: "
            + ", ".join(f"{t.workflow}:{t.trigger}" for t in held)
        )
    retired = item.triggers_retired
    if retired:
        lines.append(
            "retired (no other machine loads them): "
            + ", ".join(f"{t.workflow}:{t.trigger}" for t in retired)
        )
    if item.runs_taken_back:
        lines.append(
            "took back the runs it still held (queued again to resume, or cancelled as "
            "asked): " + ", ".join(item.runs_taken_back)
        )
    if item.queued_for_host:
        count = item.queued_for_host
        lines.append(
            f"{count} queued run{'s' if count != 1 else ''} routed to {m.host} still wait: no "
            "supervisor of that machine remains"
        )
    if item.debug_requests_failed:
        count = item.debug_requests_failed
        lines.append(
            f"refused {count} debugger request{'s' if count != 1 else ''} it had not carried "
            "out (their askers are told it was forgotten)"
        )
    if m.state != "gone" and m.stopped_at is None:
        lines.append(
            "it was still running: it stops its runs' workers and itself at its next "
            "renewal, and joins again as a new machine only when started again"
        )
    return lines
