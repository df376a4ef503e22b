"""The initial history schema.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-01

Written out in full rather than imported from ``schema.py``: a migration
describes the schema as it was at this revision, whatever ``schema.py`` says
later.  Timestamps are integer microseconds since the Unix epoch (UTC) and
JSON is text (see ``supervisor.store.types``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
        sa.UniqueConstraint("name", name="uq_workflows_name"),
    )
    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("workflow_id", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_versions"),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_workflow_versions_workflow_id_workflows",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "workflow_id", "content_hash", name="uq_workflow_versions_workflow_id_content_hash"
        ),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("workflow_id", sa.Integer),
        sa.Column("version_id", sa.Integer),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("parent_run_id", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False, server_default="manual"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("inputs", sa.Text),
        sa.Column("outputs", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("failed_node", sa.String(200)),
        sa.Column("stopped_reason", sa.Text),
        sa.Column("queued_at", _TS, nullable=False),
        sa.Column("started_at", _TS),
        sa.Column("finished_at", _TS),
        sa.Column("duration", sa.Float),
        sa.Column("steps", sa.Integer),
        sa.Column("resumes", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_runs_workflow_id_workflows",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name="fk_runs_version_id_workflow_versions",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_runs_workflow_name_started_at", "runs", ["workflow_name", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_queued_at_id", "runs", ["queued_at", "id"])
    op.create_index(
        "ix_runs_workflow_name_queued_at_id", "runs", ["workflow_name", "queued_at", "id"]
    )
    op.create_table(
        "step_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("block", sa.String(200)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", _TS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished_at", _TS),
        sa.Column("duration", sa.Float),
        sa.Column("outputs", sa.Text),
        sa.Column("emissions", sa.Text),
        sa.Column("vars_set", sa.Text),
        sa.Column("error_type", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("failure", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_step_runs"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_step_runs_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "step", "attempt", name="uq_step_runs_run_id_step_attempt"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("node_id", sa.String(200)),
        sa.Column("step", sa.Integer),
        sa.Column("level", sa.String(16)),
        sa.Column("message", sa.Text),
        sa.Column("data", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_events_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_events_run_id_seq", "events", ["run_id", "seq"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("node_id", sa.String(200)),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_artifacts_run_id", "artifacts", ["run_id"])
    op.create_table(
        "triggers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("trigger_key", sa.String(200), nullable=False),
        sa.Column("spec", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("state", sa.Text),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_triggers"),
        sa.UniqueConstraint(
            "workflow_name", "trigger_key", name="uq_triggers_workflow_name_trigger_key"
        ),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("pid", sa.Integer),
        sa.Column("run_id", sa.String(32)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", _TS),
        sa.Column("last_heartbeat", _TS),
        sa.Column("restarts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("exit_code", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )


def downgrade() -> None:
    for table in (
        "workers",
        "triggers",
        "artifacts",
        "events",
        "step_runs",
        "runs",
        "workflow_versions",
        "workflows",
    ):
        op.drop_table(table)
