"""``deskpilot connection set|show|clear``, and ``--machine HOST``'s look-up.

The saved connection (``supervisor.remote``) is what the CLI and the window
use when neither ``--api`` nor ``DESKPILOT_REMOTE`` says otherwise.  ``set``
checks the connection before saving anything, so a saved setting is one that
worked; the token goes to the OS keyring, never to the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from supervisor.cli import output
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:  # the API client loads when a command runs, not for '--help'
    from supervisor.api.models import MachineInfo


def machine_url(host: str) -> str:
    """The API address machine ``host`` advertises to the fleet ('local' for this one).

    Asked of this machine's supervisor (``GET /machines``); when it does not
    run, read from the shared database's ``supervisors`` table.
    """
    from supervisor.cli.machines_cmd import pick
    from supervisor.client import SupervisorClient, SupervisorUnavailable
    from supervisor.remote import LOCAL, ConnectionSettingError

    paths = DeskpilotPaths.from_env()
    machines: list[MachineInfo]
    try:
        with SupervisorClient(paths, remote=None, timeout=5.0) as client:
            machines = client.machines()
    except SupervisorUnavailable:
        machines = _machines_from_store(paths)
    found = pick(machines, host)
    if not found:
        known = ", ".join(sorted({m.host for m in machines})) or "none registered"
        raise ConnectionSettingError(
            f"no machine named '{host}' in the fleet (known: {known}); 'deskpilot machines' "
            "lists them, or give the address with --api URL"
        )
    alive = [m for m in found if m.state == "alive"] or found
    chosen = max(alive, key=lambda m: m.heartbeat_at)
    if chosen.this:
        return LOCAL
    if not chosen.api_url or not chosen.api_url.startswith(("http://", "https://")):
        raise ConnectionSettingError(
            f"the supervisor on {chosen.host} answers on that machine only (it advertises "
            f"{chosen.api_url or 'no address'}); start it there with DESKPILOT_API_LISTEN, "
            "DESKPILOT_API_TOKEN and a TLS certificate (see the README), or give --api URL"
        )
    return chosen.api_url


def _machines_from_store(paths: DeskpilotPaths) -> list[MachineInfo]:
    """The fleet as the shared database lists it, when no local supervisor answers."""
    from supervisor.machine import machine_info, supervisor_id
    from supervisor.remote import ConnectionSettingError
    from supervisor.store import HistoryStore

    if not paths.database_url.startswith("postgresql"):
        raise ConnectionSettingError(
            "--machine looks the machine up in the fleet, but this machine's supervisor does "
            "not run and its database is not shared (DESKPILOT_DATABASE_URL); start it, or "
            "give the address with --api URL"
        )
    store = HistoryStore.open(paths.database_url)
    try:
        records = store.list_supervisors()
        # Heartbeats are stamped on the database's clock: judged on this machine's, one
        # minutes off would call every machine gone, or a dead one alive.
        now = store.lease_time()
    finally:
        store.close()
    me = supervisor_id(paths.data_dir)
    return [machine_info(record, now, me) for record in records]


@click.group("connection")
def connection_group() -> None:
    """Which machine's supervisor the CLI and the window talk to.

    By default, this machine's.  'set' saves another machine's API address
    (the token goes to the OS keyring); '--api URL' and DESKPILOT_REMOTE
    override it for one command or one shell.
    """


@connection_group.command("set")
@click.argument("url")
@click.option(
    "--ca",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM file to trust for its TLS: your CA, or the supervisor's own certificate.",
)
@click.option(
    "--pin",
    metavar="sha256:HEX",
    help="Trust exactly the certificate with this SHA-256 fingerprint (saved with the "
    "connection; the 'not trusted' error shows it).",
)
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Read the API token from standard input (else DESKPILOT_API_TOKEN, else a prompt).",
)
@click.option("--no-check", is_flag=True, help="Save without connecting first.")
def connection_set(
    url: str, ca_file: Path | None, pin: str | None, token_stdin: bool, no_check: bool
) -> None:
    """Talk to the supervisor at URL from now on (e.g. https://robot-2.example.com:8750).

    Its certificate is trusted through the system's CAs, --ca FILE, or --pin
    sha256:HEX (the fingerprint; a later certificate change is refused).
    """
    from supervisor.client import SupervisorClient
    from supervisor.pinning import PinSettingError, normalize_pin
    from supervisor.remote import (
        TOKEN_VARIABLE,
        RemoteApi,
        SavedConnection,
        keyring_token,
        normalize_url,
        save,
        store_token,
    )

    paths = DeskpilotPaths.from_env()
    address = normalize_url(url)
    ca = None if ca_file is None else ca_file.expanduser().absolute()
    if ca is not None and pin:
        raise click.UsageError("give --ca or --pin, not both: a pin replaces the CA check")
    try:
        pinned = normalize_pin(pin) if pin else None
    except PinSettingError as exc:
        raise click.BadParameter(str(exc), param_hint="--pin") from None
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = os.environ.get(TOKEN_VARIABLE, "").strip() or (keyring_token(address) or "")
        if not token and sys.stdin.isatty():
            token = click.prompt(f"API token for {address}", hide_input=True).strip()
    if not token:
        raise click.UsageError(
            f"no token for {address}: give it with --token-stdin, {TOKEN_VARIABLE}, or at the "
            "prompt (run this in a terminal)"
        )
    remote = RemoteApi(
        url=address, ca_file=ca, pin=pinned, token=token, source="deskpilot connection set"
    )
    if not no_check:
        with SupervisorClient(paths, remote=remote) as client:
            health = client.health()
        output.line(
            f"connected to {address}: Deskpilot {health.version}, supervisor pid {health.pid}"
        )
    store_token(address, token)
    where = save(paths.config_dir, SavedConnection(url=address, ca_file=ca, pin=pinned))
    output.line(f"saved in {where} (the token is in the OS keyring)")


@connection_group.command("show")
@click.option("--json", "as_json", is_flag=True)
def connection_show(as_json: bool) -> None:
    """The supervisor commands talk to, and whether it answers (exit 1 if not)."""
    from automation.errors import DeskpilotError
    from supervisor.client import SupervisorClient

    paths = DeskpilotPaths.from_env()
    client = SupervisorClient(paths)
    remote = client.remote
    info: dict[str, Any] = {
        "target": "local" if remote is None else remote.url,
        "source": "this machine" if remote is None else remote.source,
        "ca_file": None if remote is None or remote.ca_file is None else str(remote.ca_file),
        "pin": None if remote is None else remote.pin,
        "token": "api-token file" if remote is None else ("set" if remote.token else "missing"),
    }
    try:
        with client:
            health = client.health()
        info.update(answering=True, version=health.version, pid=health.pid, problem=None)
    except DeskpilotError as exc:
        info.update(answering=False, version=None, pid=None, problem=str(exc))
    if as_json:
        output.emit_json(info)
    else:
        for key, value in info.items():
            if value is not None:
                output.line(f"{key}: {value}")
    sys.exit(0 if info["answering"] else 1)


@connection_group.command("clear")
def connection_clear() -> None:
    """Talk to this machine's supervisor again; forget the saved address and its token."""
    from supervisor.remote import forget_token, load_saved, save

    paths = DeskpilotPaths.from_env()
    saved = load_saved(paths.config_dir)
    if saved is None:
        output.line("no saved connection: commands talk to this machine's supervisor")
        return
    forget_token(saved.url)
    save(paths.config_dir, None)
    output.line(f"forgot {saved.url}: commands talk to this machine's supervisor")
