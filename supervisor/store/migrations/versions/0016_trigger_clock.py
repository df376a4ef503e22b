"""Say on which clock each trigger's saved times were written.

Revision ID: 0016_trigger_clock
Revises: 0015_trigger_holders
Create Date: 2026-12-07

A trigger's ``checked_through`` mark (every slot up to it is accounted for)
is written on the clock its schedules fire on: the database's in a fleet,
the machine's own for a supervisor alone (``supervisor.triggers.store_clock``).
Before schedules moved to the database's clock, every supervisor wrote its
own machine's; read as the database's, such a mark is off by that machine's
skew, unknown now.  ``triggers.clock`` is ``store`` or ``machine``; the rows
written before it are NULL, which reads as ``machine``.  A supervisor that
loads a row written on another clock than its own places the mark on its
clock without trusting it further than the history confirms
(``supervisor.triggers.state``), and its next save writes its own clock.
Nothing is filled in here: the skew of the machine that wrote a row is not
known to the migration either.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_trigger_clock"
down_revision: str | None = "0015_trigger_holders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.add_column(sa.Column("clock", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("clock")
