"""Say in each trigger's row which workflow it chains from, for every supervisor to see.

Revision ID: 0013_trigger_chains_from
Revises: 0012_run_options
Create Date: 2026-12-06

``triggers.chains_from`` is the workflow an enabled ``after`` trigger waits
on (NULL for other triggers, and for one disabled or no longer loaded).  A
run's end went to the chain outbox only if the supervisor recording it had
the chained trigger loaded itself; in a fleet, the end is recorded by the
supervisor that ran the run, which may not load that trigger at all.  With
the column, the transaction recording the end asks the store whether any
supervisor's trigger chains from the workflow.  Rows get it when their
trigger's state is next saved (each supervisor saves its triggers as it
loads them), so nothing is filled in here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_trigger_chains_from"
down_revision: str | None = "0012_run_options"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.add_column(sa.Column("chains_from", sa.String(200)))
    op.create_index("ix_triggers_chains_from", "triggers", ["chains_from"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_triggers_chains_from", table_name="triggers")
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("chains_from")
