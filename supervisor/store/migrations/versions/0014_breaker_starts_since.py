"""Remember when a workflow's breaker was reset, so its run-rate count starts afresh there.

Revision ID: 0014_breaker_starts_since
Revises: 0013_trigger_chains_from
Create Date: 2026-12-07

In a fleet the run-rate ceiling counts a workflow's first starts in the
window from ``runs.started_at`` when a run is claimed
(``claims.count_first_starts``).  A reset through the API closed the
breaker but left those starts in the count, so the next claim inside the
window passed the ceiling again and reopened it at once.
``breakers.starts_since`` (epoch seconds, wall clock, as the table's other
times) is when the last reset happened: starts before it are not counted.
NULL: never reset.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_breaker_starts_since"
down_revision: str | None = "0013_trigger_chains_from"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("breakers") as batch:
        batch.add_column(sa.Column("starts_since", sa.Float()))


def downgrade() -> None:
    with op.batch_alter_table("breakers") as batch:
        batch.drop_column("starts_since")
