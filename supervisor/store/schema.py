"""The history schema, as SQLAlchemy Core tables.

Alembic owns the database's schema (``migrations/versions``); these tables
describe the head revision for queries and must be kept identical to it
(a test compares them).  Run ids are uuid hex strings chosen by the caller so
that a worker, the queue and the API agree on a run's id before it is stored.

Child rows of a run (steps, events, artifacts) go with it when it is pruned
(``ON DELETE CASCADE``; SQLite needs ``PRAGMA foreign_keys=ON``, set on every
connection by ``supervisor.store.engine``).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

from supervisor.store.types import JSONText, UTCDateTime

#: Constraint names are fixed so that later migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: The WHERE of each partial index on ``runs``, by name.  SQLite's is given where the index
#: is made; PostgreSQL's, the same clause, by ``add_postgresql_options``.
PARTIAL_INDEXES = {
    "ux_runs_desktop_claim": "status = 'running'",
    "ix_runs_queue_order": "status = 'queued'",
}


def add_postgresql_options() -> None:
    """Give the partial indexes their ``postgresql_where`` (idempotent).

    Naming a ``postgresql_*`` option makes SQLAlchemy import its PostgreSQL
    dialect to check the name, with the modules of all four of its drivers
    (about 2 MiB resident), which a lone supervisor on SQLite would carry for
    weeks.  So the tables name it only once a PostgreSQL engine is made
    (``engine.make_engine`` calls this), before anything can build DDL or
    compare the schema there; the migrations spell the clauses out themselves.
    """
    for index in runs.indexes:
        where = PARTIAL_INDEXES.get(str(index.name))
        if where is not None:
            index.dialect_kwargs["postgresql_where"] = text(where)


workflows = Table(
    "workflows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("path", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "workflow_id",
        Integer,
        ForeignKey("workflows.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("content_hash", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("workflow_id", "content_hash"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workflow_id", Integer, ForeignKey("workflows.id", ondelete="SET NULL")),
    Column("version_id", Integer, ForeignKey("workflow_versions.id", ondelete="SET NULL")),
    Column("workflow_name", String(200), nullable=False),
    # Not a foreign key: a child run's history outlives its parent's when that is pruned.
    Column("parent_run_id", String(32)),
    Column("status", String(16), nullable=False),
    Column("trigger", String(200), nullable=False, server_default="manual"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("inputs", JSONText),
    Column("outputs", JSONText),
    Column("error", Text),
    Column("failed_node", String(200)),
    Column("stopped_reason", Text),
    # When the run entered the system; never null, so it orders runs (newest first).
    Column("queued_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("duration", Float),
    Column("steps", Integer),
    Column("resumes", Integer, nullable=False, server_default="0"),
    # Who took the run off the queue (``HistoryStore.claim_queued``), and when.
    Column("claimed_by", String(64)),
    Column("claimed_at", UTCDateTime),
    # The claimant's lease: renewed by its heartbeat; past it, another supervisor reaps the run.
    Column("lease_expires_at", UTCDateTime),
    # The machine (``supervisors.host``) that must run it; None: any machine.
    Column("target_host", String(255)),
    # Uses its machine's desktop: one such run at a time per machine.
    Column("needs_desktop", Boolean, nullable=False, server_default=false()),
    # A cancel asked for through any machine's API; the owner sees it with its heartbeat.
    Column("cancel_requested_at", UTCDateTime),
    # The machine whose desktop a claimed run uses (``claim_queued``): one running per machine.
    Column("desktop_claim", String(255)),
    # A run waiting out its restart delay: no claim takes it before then (any supervisor).
    Column("not_before", UTCDateTime),
    # What the submit asked for beyond inputs (``runqueue.run_options``): breakpoints, pause
    # timeout, time limit, the run and node a re-run from a node starts from.  No values.
    Column("options", JSONText),
    Index(None, "workflow_name", "started_at"),
    Index(None, "status"),
    Index(None, "queued_at", "id"),
    Index(None, "workflow_name", "queued_at", "id"),
    # A schedule's fire labels, looked up when it starts again (``TriggerStateStore``).
    Index(None, "workflow_name", "trigger"),
    # The claim's scan: queued runs by priority, then age.
    Index(None, "status", "priority", "queued_at"),
    # A heartbeat renews the leases of its own runs.
    Index(None, "claimed_by"),
    Index(
        "ux_runs_desktop_claim",
        "desktop_claim",
        unique=True,
        sqlite_where=text(PARTIAL_INDEXES["ux_runs_desktop_claim"]),
    ),
)

# Claim order over queued runs only (``claims.claim_rows``).
Index(
    "ix_runs_queue_order",
    runs.c.priority.desc(),
    runs.c.queued_at,
    runs.c.id,
    sqlite_where=text(PARTIAL_INDEXES["ix_runs_queue_order"]),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("node_id", String(200), nullable=False),
    Column("block", String(200)),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("finished_at", UTCDateTime),
    Column("duration", Float),
    # The last emission with long strings cut short: what the runs view shows.
    Column("outputs", JSONText),
    # Every emission in full: what a resumed run replays instead of running the step.
    Column("emissions", JSONText),
    Column("vars_set", JSONText),
    Column("error_type", String(200)),
    Column("error", Text),
    Column("failure", String(32)),
    UniqueConstraint("run_id", "step", "attempt"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("node_id", String(200)),
    Column("step", Integer),
    Column("level", String(16)),
    Column("message", Text),
    Column("data", JSONText),
    Index(None, "run_id", "seq"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer),
    Column("node_id", String(200)),
    Column("path", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("description", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "run_id"),
)

#: A copy of an artifact's bytes (``supervisor.store.artifacts``), so that any machine's API
#: can serve it while the machine that made the file is down.
artifact_contents = Table(
    "artifact_contents",
    metadata,
    Column(
        "artifact_id",
        Integer,
        ForeignKey("artifacts.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("media_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

triggers = Table(
    "triggers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workflow_name", String(200), nullable=False),
    Column("trigger_key", String(200), nullable=False),
    Column("spec", JSONText),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("paused", Boolean, nullable=False, server_default=false()),
    Column("state", JSONText),
    Column("updated_at", UTCDateTime, nullable=False),
    # Kept out of ``state`` so a save can keep the stored anchor (``TriggerStateStore``).
    Column("spec_hash", String(64)),
    Column("anchor", UTCDateTime),
    # The workflow an enabled ``after`` trigger chains from (``store.chain_fires``).
    Column("chains_from", String(200)),
    # The clock its saved times are on: "store" or "machine"; NULL (older rows): "machine".
    Column("clock", String(8)),
    # The database's time of the save that wrote ``updated_at``: with it, the writer's offset
    # from the database's clock (``supervisor.triggers.state``); NULL for older rows.
    Column("written_at", UTCDateTime),
    UniqueConstraint("workflow_name", "trigger_key"),
    Index(None, "chains_from"),
)

#: Which supervisors load each trigger (``TriggerRows.release``): the last to unload it retires it.
trigger_holders = Table(
    "trigger_holders",
    metadata,
    Column("workflow_name", String(200), primary_key=True),
    Column("trigger_key", String(200), primary_key=True),
    Column("supervisor_id", String(32), primary_key=True),
)

supervisors = Table(
    "supervisors",
    metadata,
    # Stable per Deskpilot home (``supervisor.machine``); host may be shared by several.
    Column("id", String(32), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer),
    Column("api_url", Text),
    Column("version", String(64)),
    # What its workers offer (counts, desktop): shown by ``deskpilot machines``.
    Column("resources", JSONText),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)

#: A debugger command asked for through one machine's API for a run another supervisor holds
#: (``supervisor.store.debug_requests``); its owner answers in the row.
debug_requests = Table(
    "debug_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    # The supervisor holding the run when it was asked: the one that answers.
    Column("supervisor_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    # Cleared once answered: edited values stay no longer than it takes to hand them over.
    Column("payload", JSONText),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    # Why the owner refused it; None when it was carried out.
    Column("outcome", Text),
    Index(None, "supervisor_id"),
)

fires = Table(
    "fires",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workflow_name", String(200), nullable=False),
    Column("trigger_key", String(200), nullable=False),
    # The schedule's slot (its planned fire time), not when it was noticed.
    Column("slot_at", UTCDateTime, nullable=False),
    Column("fired_by", String(64), nullable=False),
    Column("run_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    # The fire key: one row, so one run, per schedule slot across every supervisor.
    UniqueConstraint("workflow_name", "trigger_key", "slot_at"),
)

#: Each workflow's circuit breaker, shared by every supervisor (``store.breaker_rows``).
breakers = Table(
    "breakers",
    metadata,
    Column("workflow_name", String(200), primary_key=True),
    # Failures inside the window, as epoch seconds: wall clock, the one machines share.
    Column("failures", JSONText),
    Column("opened_at", Float),
    Column("opened_for", String(16)),
    # The run probing a half-open breaker: one probe across the fleet.
    Column("probe_run", String(32)),
    # The last reset (epoch seconds): first starts before it no longer count towards the
    # fleet's run-rate ceiling (``claims.count_first_starts``).  NULL: never reset.
    Column("starts_since", Float),
    # Bumped by every change: the compare-and-set's witness.
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: The chain outbox (``store.chain_fires``): ends of runs that ``after`` triggers wait on.
chain_fires = Table(
    "chain_fires",
    metadata,
    # Not a foreign key: the row outlives a pruned run until it is done.
    Column("run_id", String(32), primary_key=True),
    Column("workflow_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    # Who is firing its chained triggers, until when; then anyone may.
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    # When its chained runs were written.
    Column("done_at", UTCDateTime),
    Index(None, "done_at"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pid", Integer),
    # Not a foreign key: a worker's record is kept when its run is pruned.
    Column("run_id", String(32)),
    Column("state", String(16), nullable=False),
    Column("started_at", UTCDateTime),
    Column("last_heartbeat", UTCDateTime),
    Column("restarts", Integer, nullable=False, server_default="0"),
    Column("exit_code", Integer),
    Column("reason", Text),
)
