"""Circuit breakers in the store, shared by every supervisor on the database.

Revision ID: 0010_breakers
Revises: 0009_run_not_before
Create Date: 2026-12-06

A breaker lived in the memory of one supervisor: a workflow whose breaker
opened on one machine still ran on the others.  One row per workflow holds
its failures in the window, when it opened and why, and the run probing it;
``version`` makes every change a compare-and-set
(``supervisor.store.breaker_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_breakers"
down_revision: str | None = "0009_run_not_before"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "breakers",
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("failures", sa.Text()),
        sa.Column("opened_at", sa.Float()),
        sa.Column("opened_for", sa.String(16)),
        sa.Column("probe_run", sa.String(32)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),  # UTC microseconds
        sa.PrimaryKeyConstraint("workflow_name", name="pk_breakers"),
    )


def downgrade() -> None:
    op.drop_table("breakers")
