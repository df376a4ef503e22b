"""Supervisors on one database: their table, run leases, routing, cancel requests, fire keys.

Revision ID: 0004_fleet
Revises: 0003_run_claims
Create Date: 2026-12-06

Several supervisors (one per machine) share the ``runs`` table as their
queue.  Each registers itself in ``supervisors`` and renews a heartbeat;
each run it claims carries a lease (``lease_expires_at``) that the
heartbeat extends, so another supervisor can reap the runs of one that
died.  ``target_host`` routes a run to one machine, ``needs_desktop``
marks a run that uses that machine's desktop (one at a time per machine),
and ``cancel_requested_at`` is a cancel asked for through any machine's
API, picked up by the run's owner with its next heartbeat.  ``fires`` holds
one row per schedule fire (trigger and slot time): the supervisor that
inserts it runs the fire, the others see it taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_fleet"
down_revision: str | None = "0003_run_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Timestamps are UTC microseconds (BigInteger), JSON is text, as everywhere here.
    op.create_table(
        "supervisors",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer()),
        sa.Column("api_url", sa.Text()),
        sa.Column("version", sa.String(64)),
        sa.Column("resources", sa.Text()),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("stopped_at", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_supervisors"),
    )
    op.create_table(
        "fires",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("trigger_key", sa.String(200), nullable=False),
        sa.Column("slot_at", sa.BigInteger(), nullable=False),
        sa.Column("fired_by", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fires"),
        sa.UniqueConstraint(
            "workflow_name",
            "trigger_key",
            "slot_at",
            name="uq_fires_workflow_name_trigger_key_slot_at",
        ),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_expires_at", sa.BigInteger()))
        batch.add_column(sa.Column("target_host", sa.String(255)))
        batch.add_column(
            sa.Column("needs_desktop", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("cancel_requested_at", sa.BigInteger()))
    op.create_index("ix_runs_claimed_by", "runs", ["claimed_by"])


def downgrade() -> None:
    op.drop_index("ix_runs_claimed_by", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cancel_requested_at")
        batch.drop_column("needs_desktop")
        batch.drop_column("target_host")
        batch.drop_column("lease_expires_at")
    op.drop_table("fires")
    op.drop_table("supervisors")
