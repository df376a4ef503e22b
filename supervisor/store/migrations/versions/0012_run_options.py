"""Keep a run's debugger options and time limit with it, and debugger requests between machines.

Revision ID: 0012_run_options
Revises: 0011_chain_fires
Create Date: 2026-12-06

``runs.options`` holds what a submit asked for beyond its inputs: the
breakpoints and pause timeout, the time limit, and for a re-run from a node
the run whose outputs it reuses and the node it starts from.  Kept only in
the submitting supervisor's memory, these pinned such runs to the machine
they were submitted on; in the row, any supervisor that claims the run (or
takes it over after its owner died) runs it the same way.  It holds node ids,
seconds and a run id: never a value.

``debug_requests`` carries a debugger command (continue, step, abort, edits;
new breakpoints) asked for through one machine's API to the supervisor that
runs the paused run.  On PostgreSQL each request is announced with ``NOTIFY
deskpilot_debug`` (sent by the store as it inserts it); the owner answers in
the row (``answered_at``, and ``outcome`` when it refused) and clears the
payload, and the asking supervisor deletes the row once it has read it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_run_options"
down_revision: str | None = "0011_chain_fires"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("options", sa.Text()))  # JSON, as everywhere here
    op.create_table(
        "debug_requests",
        # Timestamps are UTC microseconds (BigInteger), JSON is text, as everywhere here.
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("supervisor_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text()),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("answered_at", sa.BigInteger()),
        sa.Column("outcome", sa.Text()),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name="fk_debug_requests_run_id_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_debug_requests"),
    )
    op.create_index(
        "ix_debug_requests_supervisor_id", "debug_requests", ["supervisor_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_debug_requests_supervisor_id", table_name="debug_requests")
    op.drop_table("debug_requests")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("options")
