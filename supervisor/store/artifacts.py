"""Run artifacts (failure screenshots, hang evidence) and the copy of their bytes.

An artifact is a file on the machine that ran the run.  With several
machines on one database, any machine's API must serve it, also while the
machine that made it is down, so its bytes are copied into
``artifact_contents`` when the artifact is recorded: by the supervisor's
evidence (``HistoryStore.add_artifact``) and by a worker's ``artifact``
event (``supervisor.store.ingest``), in the same transaction as its row.

Files larger than ``MAX_STORED_BYTES`` are recorded without a copy (a 4K
screenshot is a few megabytes; anything far larger is not evidence a person
looks at in a window), as are files already gone when the row is written.
Their row says so (``stored`` is False), and the API answers with where the
file is rather than with nothing.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.types import Integer, LargeBinary, String

from supervisor.store.errors import RunNotFound
from supervisor.store.records import ArtifactRecord
from supervisor.store.schema import artifact_contents, artifacts, runs

logger = logging.getLogger(__name__)

#: The largest artifact whose bytes the history keeps.
MAX_STORED_BYTES = 16 * 1024 * 1024
#: What an artifact whose type the suffix does not tell is served as.
DEFAULT_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True, kw_only=True, slots=True)
class ArtifactContent:
    """An artifact's bytes as the history keeps them."""

    media_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


def media_type(path: str | Path) -> str:
    guessed, _ = mimetypes.guess_type(str(path), strict=False)
    return guessed or DEFAULT_MEDIA_TYPE


def read_content(path: str | Path) -> ArtifactContent | None:
    """The file's bytes to keep, or None (missing, unreadable, or over the limit; logged)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_STORED_BYTES + 1)
    except OSError as exc:
        logger.warning("artifact %s: no copy kept in the history: %s", path, exc.strerror or exc)
        return None
    if len(data) > MAX_STORED_BYTES:
        logger.warning(
            "artifact %s: no copy kept in the history: larger than %d MiB",
            path,
            MAX_STORED_BYTES // (1024 * 1024),
        )
        return None
    return ArtifactContent(media_type=media_type(path), content=data)


def insert_artifact(
    connection: Connection,
    run_id: str,
    path: str,
    *,
    kind: str,
    description: str,
    step: int | None,
    node_id: str | None,
    at: datetime,
) -> ArtifactRecord:
    """Add an artifact's row, and the copy of its bytes, inside ``connection``'s transaction."""
    if connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise RunNotFound(run_id)
    key = connection.execute(
        insert(artifacts).values(
            run_id=run_id,
            step=step,
            node_id=node_id,
            path=path,
            kind=kind,
            description=description,
            created_at=at,
        )
    ).inserted_primary_key
    assert key is not None and key[0] is not None, "the database gave the new artifact no id"
    artifact_id = int(key[0])
    content = read_content(path)
    if content is not None:
        connection.execute(
            insert(artifact_contents).values(
                artifact_id=artifact_id,
                media_type=content.media_type,
                size=content.size,
                content=content.content,
            )
        )
    return ArtifactRecord(
        id=artifact_id,
        run_id=run_id,
        path=path,
        kind=kind,
        created_at=at.astimezone(UTC),
        step=step,
        node_id=node_id,
        description=description,
        size=None if content is None else content.size,
    )


#: The copy of an artifact recorded in the same batch: its row is the newest with its path.
_CONTENT_OF_NEWEST = insert(artifact_contents).from_select(
    ["artifact_id", "media_type", "size", "content"],
    select(
        func.max(artifacts.c.id),
        bindparam("media_type", type_=String()),
        bindparam("size", type_=Integer()),
        bindparam("content", type_=LargeBinary()),
    )
    .where(artifacts.c.run_id == bindparam("run_id"), artifacts.c.path == bindparam("path"))
    .having(func.count() > 0),
)


def insert_contents(
    connection: Connection, contents: dict[tuple[str, str], ArtifactContent]
) -> None:
    """Copies for artifacts whose rows were just inserted: (run id, path) -> bytes."""
    for (run_id, path), content in contents.items():
        connection.execute(
            _CONTENT_OF_NEWEST,
            {
                "run_id": run_id,
                "path": path,
                "media_type": content.media_type,
                "size": content.size,
                "content": content.content,
            },
        )


def list_artifacts(connection: Connection, run_id: str) -> list[ArtifactRecord]:
    """A run's artifacts in the order they were recorded, with the size of each copy."""
    rows = connection.execute(
        select(artifacts, artifact_contents.c.size)
        .outerjoin(artifact_contents, artifact_contents.c.artifact_id == artifacts.c.id)
        .where(artifacts.c.run_id == run_id)
        .order_by(artifacts.c.id)
    ).all()
    return [
        ArtifactRecord(
            id=row.id,
            run_id=row.run_id,
            path=row.path,
            kind=row.kind,
            created_at=row.created_at,
            step=row.step,
            node_id=row.node_id,
            description=row.description,
            size=row.size,
        )
        for row in rows
    ]


def load_content(connection: Connection, run_id: str, artifact_id: int) -> ArtifactContent | None:
    """The kept bytes of the run's artifact ``artifact_id``; None if none were kept."""
    row = connection.execute(
        select(artifact_contents.c.media_type, artifact_contents.c.content)
        .join(artifacts, artifacts.c.id == artifact_contents.c.artifact_id)
        .where(artifacts.c.id == artifact_id, artifacts.c.run_id == run_id)
    ).first()
    if row is None:
        return None
    return ArtifactContent(media_type=row.media_type, content=bytes(row.content))
