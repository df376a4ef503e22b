"""Recovery files: what a supervisor could not write because its database file was gone.

When the history file is deleted or replaced under a running supervisor
(``supervisor.store.identity``), nothing more is written into it, and what
the running runs produce waits in memory.  At the supervisor's stop,
``HistoryStore.divert`` copies what the vanished file held (SQLite's backup
API, through a connection that still has it open) into a recovery file
beside the database, and points the store at that file, so the stop writes
everything still pending there: the recorder's backlog, the interrupted
runs' status.

``import_recoveries`` runs at the next start, before anything else touches
the database: every run of each recovery file that the database lacks, or
holds in another state, is copied in with its steps, events and artifacts
(workflows and versions are matched by name and content hash), in one
transaction per file.  The file is then renamed ``*.imported``; importing it
again would change nothing.  Trigger state is not carried over: triggers
rebuild it from the runs, as after any restart.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from supervisor.store.engine import make_engine
from supervisor.store.schema import (
    artifact_contents,
    artifacts,
    events,
    runs,
    step_runs,
    workflow_versions,
    workflows,
)

logger = logging.getLogger(__name__)

SUFFIX = ".recovery-*.sqlite3"


def recovery_path(database: Path, now: datetime | None = None) -> Path:
    """A new recovery file's path beside ``database``, named by the time it is made."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return database.with_name(f"{database.name}.recovery-{stamp}.sqlite3")


def pending_recoveries(database: Path) -> list[Path]:
    """Recovery files beside ``database`` not imported yet, oldest first."""
    return sorted(database.parent.glob(database.name + SUFFIX))


def import_recovery(target: Connection, source_file: Path) -> int:
    """Copy the runs ``source_file`` has and the target lacks (or has otherwise) into it.

    ``target`` is a write transaction on the database; returns how many runs were copied.
    """
    source_engine = make_engine(f"sqlite:///{source_file}")
    try:
        with source_engine.connect() as source:
            return _copy_runs(source, target)
    finally:
        source_engine.dispose()


def _copy_runs(source: Connection, target: Connection) -> int:
    workflow_ids: dict[int, int | None] = {}
    version_ids: dict[int, int | None] = {}
    held = {row["id"]: dict(row) for row in target.execute(select(runs)).mappings()}
    counts_there, counts_here = _children(target), _children(source)
    copied = 0
    for run in source.execute(select(runs).order_by(runs.c.queued_at, runs.c.id)).mappings():
        row = dict(run)
        there = held.get(row["id"])
        if (
            there is not None
            and there == {**row, **_ids(there)}
            and counts_there.get(row["id"]) == counts_here.get(row["id"])
        ):
            continue  # the database has this run exactly as the recovery file does
        row["workflow_id"] = _workflow(source, target, run["workflow_id"], workflow_ids)
        row["version_id"] = _version(source, target, run["version_id"], row, version_ids)
        target.execute(delete(runs).where(runs.c.id == run["id"]))  # its children cascade
        target.execute(insert(runs).values(**row))
        for table in (step_runs, events):
            children = [
                {key: value for key, value in child.items() if key != "id"}
                for child in source.execute(
                    select(table).where(table.c.run_id == run["id"]).order_by(table.c.id)
                ).mappings()
            ]
            if children:
                target.execute(insert(table), children)
        _copy_artifacts(source, target, run["id"])
        copied += 1
    return copied


def _copy_artifacts(source: Connection, target: Connection, run_id: str) -> None:
    """A run's artifacts with the copies of their bytes (their ids differ in the target)."""
    rows = source.execute(
        select(artifacts, artifact_contents.c.media_type, artifact_contents.c.content)
        .outerjoin(artifact_contents, artifact_contents.c.artifact_id == artifacts.c.id)
        .where(artifacts.c.run_id == run_id)
        .order_by(artifacts.c.id)
    ).mappings()
    for row in rows:
        values = {column.name: row[column.name] for column in artifacts.c if column.name != "id"}
        key = target.execute(insert(artifacts).values(**values)).inserted_primary_key
        if row["content"] is not None and key is not None:
            target.execute(
                insert(artifact_contents).values(
                    artifact_id=key[0],
                    media_type=row["media_type"],
                    size=len(row["content"]),
                    content=row["content"],
                )
            )


def _ids(row: dict[str, Any]) -> dict[str, Any]:
    # workflow and version ids differ between two databases; they are compared by content
    return {"workflow_id": row["workflow_id"], "version_id": row["version_id"]}


def _children(connection: Connection) -> dict[str, tuple[int, ...]]:
    """run id -> how many steps, events and artifacts it has."""
    counts: dict[str, list[int]] = {}
    for position, table in enumerate((step_runs, events, artifacts)):
        rows = connection.execute(
            select(table.c.run_id, func.count()).group_by(table.c.run_id)
        ).all()
        for run_id, number in rows:
            counts.setdefault(run_id, [0, 0, 0])[position] = int(number)
    return {run_id: tuple(values) for run_id, values in counts.items()}


def _workflow(
    source: Connection, target: Connection, old_id: int | None, known: dict[int, int | None]
) -> int | None:
    if old_id is None:
        return None
    if old_id not in known:
        found = source.execute(select(workflows).where(workflows.c.id == old_id)).mappings().first()
        if found is None:
            known[old_id] = None
        else:
            new_id = target.execute(
                select(workflows.c.id).where(workflows.c.name == found["name"])
            ).scalar()
            if new_id is None:
                values = {key: value for key, value in found.items() if key != "id"}
                new_id = target.execute(insert(workflows).values(**values)).inserted_primary_key[0]  # type: ignore[index]
            known[old_id] = int(new_id)
    return known[old_id]


def _version(
    source: Connection,
    target: Connection,
    old_id: int | None,
    row: dict[str, Any],
    known: dict[int, int | None],
) -> int | None:
    if old_id is None or row["workflow_id"] is None:
        return None
    if old_id not in known:
        found = (
            source.execute(select(workflow_versions).where(workflow_versions.c.id == old_id))
            .mappings()
            .first()
        )
        if found is None:
            known[old_id] = None
        else:
            new_id = target.execute(
                select(workflow_versions.c.id).where(
                    workflow_versions.c.workflow_id == row["workflow_id"],
                    workflow_versions.c.content_hash == found["content_hash"],
                )
            ).scalar()
            if new_id is None:
                values = {key: value for key, value in found.items() if key != "id"}
                values["workflow_id"] = row["workflow_id"]
                new_id = target.execute(
                    insert(workflow_versions).values(**values)
                ).inserted_primary_key[0]  # type: ignore[index]
            known[old_id] = int(new_id)
    return known[old_id]


def mark_imported(path: Path) -> Path:
    done = path.with_name(path.name + ".imported")
    path.rename(done)
    return done
