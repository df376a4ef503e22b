"""Writes that stay correct when several processes share one database.

A claim takes queued runs for one claimant: on PostgreSQL the rows picked
are locked with ``FOR UPDATE SKIP LOCKED``, so other claimants pass over
them instead of waiting or taking them too; SQLite's ``BEGIN IMMEDIATE``
(``write_options``) admits one writer at a time.  The UPDATE is a
compare-and-set on ``queued`` as well, so a run is never claimed twice even
where locking would allow it.  Claims honour routing (a run's
``target_host``) and take at most one run that needs the desktop per
machine (serialised per machine by an advisory lock on PostgreSQL).

``insert_or_ignore`` is the insert-or-get for rows with a unique key
(workflows, their versions): a read-then-insert raced by another process
fails on the constraint, where ``ON CONFLICT DO NOTHING`` waits for the
other transaction and then finds its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, insert, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from automation.engine.events import RunStatus
from supervisor.store.schema import runs, supervisors
from supervisor.store.types import UTCDateTime


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimRequest:
    """Who claims, where, for how long; see ``HistoryStore.claim_queued``."""

    claimant: str
    limit: int
    at: datetime
    #: The claimant's machine: runs routed elsewhere are left alone.  None: take any run.
    host: str | None = None
    #: The lease's end (None: no lease, as with a single supervisor).
    lease_until: datetime | None = None
    #: Whether the claimant's desktop is free for a run that needs it.
    desktop: bool = True


def claim_rows(connection: Connection, request: ClaimRequest) -> list[Any]:
    """Claim up to ``request.limit`` queued runs inside ``connection``'s write transaction.

    Runs routed to another machine are not taken.  A run that needs the
    desktop is taken only if ``request.desktop`` and no run of this machine
    (or claimant) that needs the desktop is running: one at a time per
    machine, at most one per claim.  Without desktop runs to consider this is
    one statement: ``UPDATE runs ... WHERE id is one of the next queued ids
    AND status = 'queued' RETURNING *``.  Returns the claimed ``runs`` rows in
    claim order (highest priority, then oldest, first).
    """
    rows: list[Any] = []
    if request.desktop and request.limit > 0:
        rows += _claim(connection, request, 1, desktop=True)
    left = request.limit - len(rows)
    if left > 0:
        rows += _claim(connection, request, left, desktop=False)
    return sorted(rows, key=lambda row: (-row.priority, row.queued_at, row.id))


def _claim(
    connection: Connection, request: ClaimRequest, limit: int, *, desktop: bool
) -> list[Any]:
    queued = runs.c.status == RunStatus.QUEUED.value
    conditions: list[Any] = [queued, runs.c.needs_desktop == desktop]
    if request.host is not None:
        conditions.append(or_(runs.c.target_host.is_(None), runs.c.target_host == request.host))
    postgres = connection.dialect.name == "postgresql"
    if desktop:
        if postgres:
            # Two claimants of one machine must not both see its desktop free: the
            # check below runs after the other's claim committed, in a new snapshot.
            connection.execute(
                select(func.pg_advisory_xact_lock(func.hashtext(_desktop_key(request))))
            )
        conditions.append(~_desktop_busy(request))
    picked = (
        select(runs.c.id)
        .where(*conditions)
        .order_by(runs.c.priority.desc(), runs.c.queued_at, runs.c.id)
        .limit(limit)
    )
    values = {
        "status": RunStatus.RUNNING.value,
        "claimed_by": request.claimant,
        "claimed_at": request.at,
        "lease_expires_at": request.lease_until,
        "started_at": func.coalesce(runs.c.started_at, literal(request.at, UTCDateTime())),
    }
    if postgres:
        # A CTE, locked and evaluated once: as ``id IN (subquery)`` the planner may
        # run the LIMITed subquery again and claim more rows than asked for.
        locked = picked.with_for_update(skip_locked=True).cte("picked")
        statement = update(runs).where(runs.c.id == locked.c.id, queued)
    else:
        statement = update(runs).where(runs.c.id.in_(picked.scalar_subquery()), queued)
    return list(connection.execute(statement.values(values).returning(*runs.c)).all())


def _desktop_key(request: ClaimRequest) -> str:
    return f"deskpilot-desktop:{request.host if request.host is not None else request.claimant}"


def _desktop_busy(request: ClaimRequest) -> Any:
    """A run of this machine (or this claimant) that needs the desktop is running."""
    running = runs.alias("running")
    mine = running.c.claimed_by == request.claimant
    if request.host is not None:
        mine = or_(
            mine,
            running.c.claimed_by.in_(
                select(supervisors.c.id).where(supervisors.c.host == request.host)
            ),
        )
    return exists().where(
        running.c.status == RunStatus.RUNNING.value, running.c.needs_desktop == true(), mine
    )


def insert_or_ignore(
    connection: Connection, table: Any, values: dict[str, Any], unique: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on ``unique``; True if the row was added.

    A concurrent insert of the same key waits for the other transaction and
    then does nothing, where a read-then-insert would fail on the constraint.
    """
    name = connection.dialect.name
    statement: Any
    if name == "postgresql":
        statement = (
            postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=unique)
        )
    elif name == "sqlite":
        statement = (
            sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=unique)
        )
    else:  # pragma: no cover - Deskpilot supports SQLite and PostgreSQL
        found = connection.execute(
            select(func.count())
            .select_from(table)
            .where(*(table.c[column] == values[column] for column in unique))
        ).scalar_one()
        if found:
            return False
        statement = insert(table).values(values)
    # Whether a row came back, not the row count: psycopg reports 1 for an INSERT that
    # conflicted and did nothing.
    return connection.execute(statement.returning(table.c[unique[0]])).first() is not None


def upsert(connection: Connection, table: Any, unique: list[str], columns: list[str]) -> Any:
    """INSERT ... ON CONFLICT (``unique``) DO UPDATE SET ``columns``, for this dialect.

    Execute it with a list of rows: one statement inserts the new ones and
    overwrites the others, with no window between a read and an insert.
    """
    name = connection.dialect.name
    if name == "postgresql":
        pg_statement = postgresql.insert(table)
        return pg_statement.on_conflict_do_update(
            index_elements=unique,
            set_={column: pg_statement.excluded[column] for column in columns},
        )
    if name == "sqlite":
        sqlite_statement = sqlite.insert(table)
        return sqlite_statement.on_conflict_do_update(
            index_elements=unique,
            set_={column: sqlite_statement.excluded[column] for column in columns},
        )
    raise NotImplementedError(f"no upsert for {name}: Deskpilot supports SQLite and PostgreSQL")
