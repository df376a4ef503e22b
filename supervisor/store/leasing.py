"""Lease time: every lease decision is judged by the database's clock.

Supervisors sharing one database run on machines whose clocks disagree: a
desktop whose clock runs a minute ahead would, judging by its own clock,
reap a live peer's runs (their leases look expired), refuse its own
fenced writes, and start every lease it claims a minute too long; one
running behind would keep a dead peer's runs and start leases already
expired.  So a lease's end and every check of it (a claim, a renewal, the
reaper, a fenced status write, the recorder's fence, a chain outbox claim,
``deskpilot machines``) use one clock that every supervisor shares: the
database's.  History timestamps (when a step started) stay the machine's.

The database's time is read where the decision is made, inside its
transaction: PostgreSQL's ``clock_timestamp()`` (``now()`` is the
transaction's start, before any wait for row locks), SQLite's ``'now'``
(its write lock is taken at ``BEGIN IMMEDIATE``, before this read).  A
renewal (``FleetMethods.supervisor_heartbeat``) reads it only once it holds
its runs' rows: a lease that expired while it waited on another writer's
locks is lost, not renewed.

``lease_micros`` is the same time as a SQL expression (integer microseconds,
as timestamps are stored, ``supervisor.store.types``), for a statement that
judges a lease in its own WHERE: a fenced UPDATE that waited for a row lock
re-checks it on PostgreSQL with the time after the wait.

A store given a ``lease_clock`` (tests: ``FakeClock``, so leases expire
without waiting) judges by that clock instead, read at the same points: the
decisions stay pure functions of (the leases, now), as ``split_renewals``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, cast, func, literal, literal_column, select, text

from automation.clock import Clock
from supervisor.store.types import to_micros

#: SQLite's time now as microseconds since the epoch ('now' is fixed for one statement).
SQLITE_MICROS = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000000.0) AS INTEGER)"


def database_now(connection: Connection) -> datetime:
    """The database's time at this moment of ``connection``'s transaction, aware UTC."""
    if connection.dialect.name == "postgresql":
        found = connection.execute(select(func.clock_timestamp())).scalar_one()
        if not isinstance(found, datetime):  # pragma: no cover - psycopg gives datetimes
            raise TypeError(f"clock_timestamp() gave {found!r}")
        return found.astimezone(UTC)
    stamp = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC)


def lease_now(connection: Connection, lease_clock: Clock | None) -> datetime:
    """The time a lease decision judges by: the database's, or a test's ``lease_clock``."""
    if lease_clock is None:
        return database_now(connection)
    return lease_clock.now()


def database_micros(dialect: str) -> Any:
    """The database's time as a SQL expression of integer microseconds since the epoch.

    Evaluated by the statement itself (on PostgreSQL, again when an UPDATE
    re-checks a row it waited for), where ``database_now`` costs a round trip.
    """
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()) * 1_000_000, BigInteger)
    return literal_column(SQLITE_MICROS, BigInteger())


def statement_micros(dialect: str) -> Any:
    """The database's time as of the statement's start, as ``database_micros`` gives it.

    One value however often a statement reads it (PostgreSQL's
    ``statement_timestamp()``; SQLite's ``'now'`` is fixed per statement):
    a claim stamps a run's claim and first start with it, and they must be
    equal (``claims.count_first_starts`` tells a first start by it).
    """
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()) * 1_000_000, BigInteger)
    return literal_column(SQLITE_MICROS, BigInteger())


def lease_micros(dialect: str, lease_clock: Clock | None) -> Any:
    """``lease_now`` as a SQL expression of integer microseconds (``database_micros``)."""
    if lease_clock is not None:
        return literal(to_micros(lease_clock.now()), BigInteger())
    return database_micros(dialect)


def split_renewals(
    leases: Iterable[tuple[str, datetime | None]], now: datetime
) -> tuple[list[str], list[str]]:
    """Which of a supervisor's runs (id, lease end) to renew at ``now``, and which expired.

    A lease that ends at or before ``now`` has expired: its run may be
    reaped at any moment and is not renewed.  No lease at all (a lone
    supervisor on SQLite holds its runs without one) is kept.
    """
    kept: list[str] = []
    expired: list[str] = []
    for run_id, ends in leases:
        (kept if ends is None or ends > now else expired).append(run_id)
    return kept, expired
