"""On PostgreSQL, announce queued runs with NOTIFY.

Revision ID: 0005_queued_notify
Revises: 0004_fleet
Create Date: 2026-12-06

Every row that becomes ``queued`` (submitted, resumed, reaped from a lost
supervisor) sends ``NOTIFY deskpilot_queued`` with its target host (empty:
any machine) as the payload, delivered when its transaction commits.  A
trigger, so every path that queues a run announces it, in the same round
trip; PostgreSQL folds identical notifications of one transaction into one.
Supervisors ``LISTEN`` (``supervisor.store.notify``) and claim at once
instead of at their next poll.  SQLite has no NOTIFY: its supervisors poll.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_queued_notify"
down_revision: str | None = "0004_fleet"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "deskpilot_queued"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION deskpilot_notify_queued() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', coalesce(NEW.target_host, ''));
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        """
        CREATE TRIGGER runs_notify_queued
        AFTER INSERT OR UPDATE OF status ON runs
        FOR EACH ROW WHEN (NEW.status = 'queued')
        EXECUTE FUNCTION deskpilot_notify_queued()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS runs_notify_queued ON runs")
    op.execute("DROP FUNCTION IF EXISTS deskpilot_notify_queued()")
