"""Keep, with each trigger row, the database's time of its save: its writer's clock offset.

Revision ID: 0017_trigger_written_at
Revises: 0016_trigger_clock
Create Date: 2026-12-07

A row saved on a machine's own clock (``triggers.clock`` ``machine`` or
NULL) and loaded by a supervisor on the database's clock was placed on that
clock only as far as a witness allowed: its newest fire in the history, or
the loader's own offset when the loader had saved it.  A row another
machine saved, with no fire yet, had none: its mark was brought down to now,
and the slots between its save and now were neither run nor recorded.
``triggers.written_at`` is the database's time of the save that wrote
``updated_at`` (on the row's clock): their difference is the writer's
offset from the database's clock, known to whoever loads the row.

Every save of this build stamps it in its statement.  On PostgreSQL a row
trigger also stamps a save that does not (a supervisor of an older build,
still running while a newer one migrated the database): the rows saved on
machine clocks are theirs.  A stamp the save gives is kept, and an update
that leaves ``updated_at`` alone leaves it alone.  Rows saved before this
revision keep NULL: their writer's offset is not known.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_trigger_written_at"
down_revision: str | None = "0016_trigger_clock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STAMP = """
CREATE FUNCTION deskpilot_trigger_written_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.written_at IS NULL THEN
            NEW.written_at := CAST(EXTRACT(EPOCH FROM transaction_timestamp()) * 1000000 AS BIGINT);
        END IF;
    ELSIF NEW.written_at IS NOT DISTINCT FROM OLD.written_at
            AND NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        NEW.written_at := CAST(EXTRACT(EPOCH FROM transaction_timestamp()) * 1000000 AS BIGINT);
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.add_column(sa.Column("written_at", sa.BigInteger()))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_STAMP)
        op.execute(
            "CREATE TRIGGER triggers_written_at BEFORE INSERT OR UPDATE ON triggers "
            "FOR EACH ROW EXECUTE FUNCTION deskpilot_trigger_written_at()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS triggers_written_at ON triggers")
        op.execute("DROP FUNCTION IF EXISTS deskpilot_trigger_written_at()")
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("written_at")
