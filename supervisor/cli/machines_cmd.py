"""``deskpilot machines``: every supervisor sharing the database, through the local API.

Any supervisor answers for the whole fleet (``GET /machines``).  The table
shows each machine's id as a short prefix (as ``git`` shows commits); a
machine is picked by its host name or any unique prefix of its id.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from supervisor.cli import output
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:  # the API client loads when the command runs, not for '--help'
    from supervisor.api.models import MachineInfo

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


@click.command("machines")
@click.argument("machine", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (full ids, every field).")
def machines_cmd(machine: str | None, as_json: bool) -> None:
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
