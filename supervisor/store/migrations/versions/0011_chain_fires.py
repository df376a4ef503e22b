"""The chain outbox: a run's end that chained triggers wait on, kept until they fired.

Revision ID: 0011_chain_fires
Revises: 0010_breakers
Create Date: 2026-12-06

``after`` triggers fired only in the memory of the supervisor that ran the
upstream run: if it died between recording the end and submitting the
chained runs, the chain was lost.  ``chain_fires`` gets a row in the same
transaction as the end, and any supervisor drains the rows that are not
done (``supervisor.store.chain_fires``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_chain_fires"
down_revision: str | None = "0010_breakers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Timestamps are UTC microseconds (BigInteger), as everywhere here.
    op.create_table(
        "chain_fires",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", sa.BigInteger()),
        sa.Column("done_at", sa.BigInteger()),
        sa.PrimaryKeyConstraint("run_id", name="pk_chain_fires"),
    )
    op.create_index("ix_chain_fires_done_at", "chain_fires", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_chain_fires_done_at", table_name="chain_fires")
    op.drop_table("chain_fires")
