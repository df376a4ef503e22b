"""Keep a schedule's anchor in columns, so supervisors sharing a database agree on it.

Revision ID: 0008_trigger_anchor
Revises: 0007_desktop_claims
Create Date: 2026-12-06

An interval schedule counts from its anchor.  Every supervisor that loads a
workflow saves its trigger's state; with the anchor only inside the JSON
state, the last to save won, and supervisors started a second apart fired
the same schedule on different phases: different slot times, so different
fire keys, and the schedule ran once per supervisor.  With ``anchor`` and
``spec_hash`` as columns, a save keeps the stored anchor while the timing
is unchanged (``TriggerStateStore.save_many``), so the first supervisor's
anchor is everyone's, read back when a schedule is activated.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_trigger_anchor"
down_revision: str | None = "0007_desktop_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.add_column(sa.Column("spec_hash", sa.String(64)))
        batch.add_column(sa.Column("anchor", sa.BigInteger()))  # UTC microseconds


def downgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("anchor")
        batch.drop_column("spec_hash")
