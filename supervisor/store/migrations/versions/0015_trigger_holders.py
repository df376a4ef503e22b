"""Record which supervisors load each trigger, so only the last one to unload it retires it.

Revision ID: 0015_trigger_holders
Revises: 0014_breaker_starts_since
Create Date: 2026-12-07

A ``triggers`` row is shared by every supervisor whose workflows folder has
that workflow.  A supervisor starting without the workflow marked the row
removed although others still loaded it; and since it could not tell
whether anyone did, it left ``chains_from`` set, so a trigger deleted
while its only supervisor was stopped kept chain outbox rows coming.
``trigger_holders`` has one row per (trigger, supervisor that loads it):
a supervisor adds its row when it loads the trigger and deletes it when it
unloads it (or finds at start that it no longer has it), and the one that
deletes the last row retires the trigger (``TriggerRows.release``).
Existing triggers get their rows as their supervisors next start.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_trigger_holders"
down_revision: str | None = "0014_breaker_starts_since"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_holders",
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("trigger_key", sa.String(200), nullable=False),
        sa.Column("supervisor_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("workflow_name", "trigger_key", "supervisor_id"),
    )


def downgrade() -> None:
    op.drop_table("trigger_holders")
