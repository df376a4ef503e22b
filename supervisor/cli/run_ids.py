"""Run ids on the command line: a unique prefix is enough, and the shell completes them.

Shared by ``runs``, ``run`` and ``submit``, which import each other's commands
otherwise; kept apart so none of them has to import another for these.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

from supervisor.cli import output
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:  # imported when a command runs, so that '--help' answers at once
    from supervisor.store.store import HistoryStore


def remote_chosen() -> str | None:
    """The remote API's URL when ``--api`` / ``DESKPILOT_REMOTE`` / the saved connection
    points elsewhere; None: this machine's supervisor and history."""
    from supervisor.remote import resolve

    remote = resolve(DeskpilotPaths.from_env().config_dir)
    return None if remote is None else remote.url


def open_store() -> HistoryStore:
    """This machine's history; refused while another machine's API is chosen, where it
    would show the wrong machine's runs as if they were that one's."""
    from supervisor.store.store import HistoryStore

    remote = remote_chosen()
    if remote is not None:
        from supervisor.remote import ConnectionSettingError

        raise ConnectionSettingError(
            f"this command reads this machine's history file, but the supervisor at {remote} "
            "is chosen (--api, DESKPILOT_REMOTE or the saved connection); give a full run id, "
            "run it on that machine, or add '--api local'"
        )
    paths = DeskpilotPaths.from_env()
    paths.ensure()
    return HistoryStore.open(paths.database_url)


def resolve_in(store: HistoryStore, run_id: str) -> str:
    """The full id of the one run ``run_id`` starts; exit 1 with a clear line otherwise."""
    from supervisor.store.errors import AmbiguousRunId, RunNotFound

    try:
        return store.run_id_for(run_id)
    except RunNotFound:
        output.error(f"no run with id '{run_id.strip()}'; see 'deskpilot runs list'")
    except AmbiguousRunId as exc:
        output.error(str(exc))
    sys.exit(1)


def resolve_run_id(run_id: str) -> str:
    """Full id for a unique prefix (as ``git`` takes a short commit id).

    With another machine's API chosen, that API resolves it as this machine's
    history would (``HistoryStore.run_id_for``): an ambiguous prefix is
    refused there with the candidates, and said here as it is.
    """
    if remote_chosen() is not None:
        from supervisor.client import SupervisorClient

        with SupervisorClient(DeskpilotPaths.from_env()) as client:
            return client.get_run(run_id.strip()).run.id
    store = open_store()
    try:
        return resolve_in(store, run_id)
    finally:
        store.close()


def complete_run_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: run ids starting with what was typed, with their workflow and status."""
    try:
        store = open_store()
    except Exception:  # completion must never print a traceback into the shell
        return []
    try:
        ids = store.run_ids_with_prefix(incomplete.lower(), limit=50) if incomplete else []
        records = [store.get_run(run_id) for run_id in ids] if ids else store.list_runs(limit=20)
        return [
            CompletionItem(r.id, help=f"{r.workflow_name} {r.status}")
            for r in records
            if r is not None
        ]
    finally:
        store.close()
