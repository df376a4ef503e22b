"""Keep a run's restart delay in its row, so any supervisor that takes it over honours it.

Revision ID: 0009_run_not_before
Revises: 0008_trigger_anchor
Create Date: 2026-12-06

A run interrupted by a crash is queued again to resume after a delay that
grows with each restart.  The delay lived in the memory of the supervisor
that settled the run: any other supervisor sharing the database could claim
the queued run at once, and if that supervisor was killed its successor
retried at once too.  ``not_before`` is the earliest time (UTC) a claim may
take the run; claims skip it until then.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_run_not_before"
down_revision: str | None = "0008_trigger_anchor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("not_before", sa.BigInteger()))  # UTC microseconds


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("not_before")
