"""Index runs by workflow and trigger label.

Revision ID: 0002_runs_trigger_index
Revises: 0001_initial
Create Date: 2026-11-23

A schedule that starts again after downtime asks which of its due fires
already have a run (``schedule:<key>@<time>`` labels) and which is the
newest; without an index that read every run of the workflow, so a start-up
after a long history got slower with every run kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_runs_trigger_index"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_runs_workflow_name_trigger", "runs", ["workflow_name", "trigger"])


def downgrade() -> None:
    op.drop_index("ix_runs_workflow_name_trigger", table_name="runs")
