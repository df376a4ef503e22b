"""Keep a copy of each run artifact's bytes in the history.

Revision ID: 0006_artifact_contents
Revises: 0005_queued_notify
Create Date: 2026-12-06

Failure screenshots and hang evidence are files on the machine that ran the
run.  With several machines on one database, any machine's API (and the
window on any desktop) must be able to show them, also while the machine
that made them is down; so the bytes are stored beside the artifact's row,
up to a size limit (``supervisor.store.artifacts``).  A table of its own
keeps the listing of a run's artifacts from reading the bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_artifact_contents"
down_revision: str | None = "0005_queued_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_contents",
        sa.Column("artifact_id", sa.Integer, nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", name="pk_artifact_contents"),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name="fk_artifact_contents_artifact_id_artifacts",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("artifact_contents")
