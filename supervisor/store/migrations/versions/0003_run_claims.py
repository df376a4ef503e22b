"""Record which process claimed a run, and when.

Revision ID: 0003_run_claims
Revises: 0002_runs_trigger_index
Create Date: 2026-12-06

Several supervisors on one database take queued runs from the ``runs``
table.  A claim is a compare-and-set from ``queued`` that writes the
claimant's id; later status changes can be fenced by it, so a process that
lost a run can no longer write its result.  The index serves the claim's
scan: queued runs, highest priority first, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_run_claims"
down_revision: str | None = "0002_runs_trigger_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64)))
        # UTC microseconds, as every timestamp here
        batch.add_column(sa.Column("claimed_at", sa.BigInteger()))
    op.create_index(
        "ix_runs_status_priority_queued_at", "runs", ["status", "priority", "queued_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_runs_status_priority_queued_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
