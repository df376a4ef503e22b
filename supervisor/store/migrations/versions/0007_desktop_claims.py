"""One desktop run per machine, enforced by the database.

Revision ID: 0007_desktop_claims
Revises: 0006_artifact_contents
Create Date: 2026-12-06

A claim that takes a run needing the desktop writes the claiming machine
into ``desktop_claim``; a unique index over the running ones lets at most
one such run run per machine, even when two supervisors of one machine claim
at the same moment on PostgreSQL (the loser's claim fails and is retried;
see ``supervisor.store.claims``).  Claims need no lock for it, so a claim
stays one statement.  A partial index in claim order (priority, then age)
over queued runs makes a claim read its first rows instead of sorting the
whole queue.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_desktop_claims"
down_revision: str | None = "0006_artifact_contents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("desktop_claim", sa.String(255)))
    op.create_index(
        "ux_runs_desktop_claim",
        "runs",
        ["desktop_claim"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )

    # The claim's scan in claim order, over queued runs only: a claim reads the
    # first rows of it instead of sorting every queued run.
    op.create_index(
        "ix_runs_queue_order",
        "runs",
        [sa.column("priority").desc(), "queued_at", "id"],
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_queue_order", table_name="runs")
    op.drop_index("ux_runs_desktop_claim", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("desktop_claim")
