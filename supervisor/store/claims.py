"""Writes that stay correct when several processes share one database.

A claim takes queued runs for one claimant: on PostgreSQL the rows picked
are locked with ``FOR UPDATE SKIP LOCKED``, so other claimants pass over
them instead of waiting or taking them too; SQLite's ``BEGIN IMMEDIATE``
(``write_options``) admits one writer at a time.  The UPDATE is a
compare-and-set on ``queued`` as well, so a run is never claimed twice even
where locking would allow it.

``insert_or_ignore`` is the insert-or-get for rows with a unique key
(workflows, their versions): a read-then-insert raced by another process
fails on the constraint, where ``ON CONFLICT DO NOTHING`` waits for the
other transaction and then finds its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from automation.engine.events import RunStatus
from supervisor.store.schema import runs
from supervisor.store.types import UTCDateTime


def claim_rows(connection: Connection, claimant: str, limit: int, at: datetime) -> list[Any]:
    """Claim up to ``limit`` queued runs inside ``connection``'s write transaction.

    One statement, one round trip: ``UPDATE runs ... WHERE id is one of the
    next queued ids AND status = 'queued' RETURNING *``.  Returns the claimed
    ``runs`` rows in claim order (highest priority, then oldest, first).
    """
    picked = (
        select(runs.c.id)
        .where(runs.c.status == RunStatus.QUEUED.value)
        .order_by(runs.c.priority.desc(), runs.c.queued_at, runs.c.id)
        .limit(limit)
    )
    values = {
        "status": RunStatus.RUNNING.value,
        "claimed_by": claimant,
        "claimed_at": at,
        "started_at": func.coalesce(runs.c.started_at, literal(at, UTCDateTime())),
    }
    queued = runs.c.status == RunStatus.QUEUED.value
    if connection.dialect.name == "postgresql":
        # A CTE, locked and evaluated once: as ``id IN (subquery)`` the planner may
        # run the LIMITed subquery again and claim more rows than asked for.
        locked = picked.with_for_update(skip_locked=True).cte("picked")
        statement = update(runs).where(runs.c.id == locked.c.id, queued)
    else:
        statement = update(runs).where(runs.c.id.in_(picked.scalar_subquery()), queued)
    rows = connection.execute(statement.values(values).returning(*runs.c)).all()
    return sorted(rows, key=lambda row: (-row.priority, row.queued_at, row.id))


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
    return bool(connection.execute(statement).rowcount)


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
