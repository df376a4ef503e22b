"""``deskpilot backup``, ``deskpilot restore`` and ``deskpilot history prune``.

Backups run while the supervisor works (SQLite's online backup API); a
restore needs it stopped and checks the whole backup before changing
anything.  Errors are ``DeskpilotError``s, which the top-level group prints
as one line.

Exported for ``supervisor.cli.main``: ``backup_cmd``, ``restore_cmd``, ``history_group``.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from supervisor.cli import output
from supervisor.paths import DeskpilotPaths

if TYPE_CHECKING:  # the store loads when a command runs, not for '--help'
    from supervisor.backup import BackupResult, RestoreResult, VerifiedBackup


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--archive", is_flag=True, help="Write one .tar.gz file instead of a folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was backed up as JSON.")
def backup_cmd(path: Path | None, archive: bool, as_json: bool) -> None:
    """Back up the run history and the workflows folder, even while the supervisor runs.

    PATH defaults to <data folder>/backups/deskpilot-<UTC time>.  Every file's
    SHA-256 goes in manifest.json, which 'deskpilot restore' checks.  Secrets
    are not included: they stay in the system keyring.
    """
    from supervisor.backup import create_backup

    paths = DeskpilotPaths.from_env()
    result = create_backup(paths, path, archive=archive)
    if as_json:
        output.emit_json(
            {"location": str(result.location), "archive": result.archive}
            | result.manifest.model_dump(mode="json", exclude={"files"})
            | {"files": len(result.manifest.files), "size": result.size}
        )
        return
    _show_backup(result, paths)


def _show_backup(result: BackupResult, paths: DeskpilotPaths) -> None:
    counts = result.manifest.counts
    output.line(f"Backup written to {result.location}")
    output.line(
        f"  history: {_plural(counts['runs'], 'run')} of {_plural(counts['workflows'], 'workflow')}"
        f" (schema {result.manifest.schema_revision})"
    )
    output.line(
        f"  workflows folder: {_plural(counts['workflow_files'], 'workflow file')}, "
        f"{_plural(counts['files'] - 1, 'file')} in all"
    )
    output.line(
        f"  {_plural(counts['files'], 'file')}, {_size(result.size)}; "
        "SHA-256 of each in manifest.json"
    )
    from supervisor.backup import SECRETS_NOTE

    output.line(f"  {SECRETS_NOTE}")
    output.line(f"  not included: run artifacts in {paths.artifacts_dir}")


@click.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Restore without asking first.")
def restore_cmd(path: Path, yes: bool) -> None:
    """Replace the run history and the workflows folder with the backup at PATH.

    Every file is checked against the backup's manifest first; if one is
    missing, changed or damaged, nothing is changed.  Stop the supervisor
    first.  The current database and workflows folder are kept beside the
    restored ones (*.before-restore-<time>), not deleted.
    """
    from supervisor.backup import opened_backup, restore_backup, verify_backup

    paths = DeskpilotPaths.from_env()
    if not yes:
        with opened_backup(path) as root:
            verified = verify_backup(root, str(path))
        _show_verified(verified)
        if not sys.stdin.isatty():
            output.error("not on a terminal: add --yes to restore without being asked")
            sys.exit(2)
        click.confirm(
            "Replace the current history and workflows folder with this backup?", abort=True
        )
    result = restore_backup(paths, path)
    _show_restore(result)


def _show_verified(verified: VerifiedBackup) -> None:
    manifest = verified.manifest
    output.line(
        f"Backup {verified.shown_as} verified: made {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"by Deskpilot {manifest.deskpilot_version}; {_plural(verified.runs, 'run')}, "
        f"{_plural(verified.workflow_files, 'workflow file')}."
    )


def _show_restore(result: RestoreResult) -> None:
    backup = result.backup
    _show_verified(backup)
    output.line(f"Restored history: {_plural(backup.runs, 'run')} in {result.database}")
    if result.previous_database is not None:
        output.line(f"  the previous database is kept as {result.previous_database}")
    files = len(backup.manifest.files) - 1
    output.line(f"Restored workflows folder: {_plural(files, 'file')} in {result.workflows_dir}")
    if result.previous_workflows is not None:
        output.line(f"  the previous folder was moved to {result.previous_workflows}")
    from supervisor.backup import SECRETS_NOTE

    output.line(SECRETS_NOTE)
    output.line("Start the supervisor again with 'deskpilot supervisor start'.")


@click.group("history")
def history_group() -> None:
    """The run history database."""


@history_group.command("prune")
@click.option(
    "--max-age-days",
    type=click.FloatRange(min=0, min_open=True),
    help="Delete finished runs older than this many days.",
)
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    help="Keep only this many of the newest runs.",
)
@click.option("--dry-run", is_flag=True, help="Only say how many runs would be deleted.")
def prune_cmd(max_age_days: float | None, max_runs: int | None, dry_run: bool) -> None:
    """Delete old finished runs with their steps, logs and artifacts.

    Without options, the limits come from [retention] in config.toml (default:
    90 days, 100000 runs), the ones the supervisor applies every few hours.
    With options, only the limits given apply.  Queued, running and
    interrupted runs are never deleted.
    """
    from supervisor.retention import RetentionPolicy, prunable, prune
    from supervisor.store.store import HistoryStore

    paths = DeskpilotPaths.from_env().ensure()
    if max_age_days is None and max_runs is None:
        policy = RetentionPolicy.from_config(paths.config_dir)
    else:
        max_age = None if max_age_days is None else timedelta(days=max_age_days)
        policy = RetentionPolicy(max_age=max_age, max_runs=max_runs)
    store = HistoryStore.open(paths.database_url)
    try:
        if dry_run:
            count = len(prunable(store, policy))
            output.line(
                f"would delete {_plural(count, 'run')} ({policy.describe()}); "
                f"{_plural(store.count_runs(), 'run')} in the history"
            )
            return
        deleted = prune(store, policy, artifacts_dir=paths.artifacts_dir)
        remaining = store.count_runs()
    finally:
        store.close()
    output.line(
        f"deleted {_plural(deleted, 'run')} ({policy.describe()}) with their artifacts; "
        f"{_plural(remaining, 'run')} left"
    )
