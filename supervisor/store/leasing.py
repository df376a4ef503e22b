"""When a run's lease is renewed: judged by the database's clock, once the renewal holds the rows.

A renewal (``FleetMethods.supervisor_heartbeat``) first locks its
supervisor's running runs, and may wait there: a status write, the
recorder or a reaper holds some of them.  A lease that expired during that
wait must not be renewed: another supervisor may already be reaping it,
and the fenced writer already treats the run as lost.  So the time that
judges expiry is read after the locks are held, inside the renewal's
transaction, from the database itself: PostgreSQL's ``clock_timestamp()``
(``now()`` is the transaction's start, before the wait), SQLite's
``'now'`` (its write lock is taken at ``BEGIN IMMEDIATE``, before this
read).  Every supervisor on one database then renews by the same clock.

A store given another clock (tests: ``FakeClock``) judges by that clock,
read at the same point, so the decision stays a pure function of (the
leases, now): ``split_renewals``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select, text

from automation.clock import Clock, SystemClock


def database_now(connection: Connection) -> datetime:
    """The database's time at this moment of ``connection``'s transaction, aware UTC."""
    if connection.dialect.name == "postgresql":
        found = connection.execute(select(func.clock_timestamp())).scalar_one()
        if not isinstance(found, datetime):  # pragma: no cover - psycopg gives datetimes
            raise TypeError(f"clock_timestamp() gave {found!r}")
        return found.astimezone(UTC)
    stamp = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC)


def renewal_now(connection: Connection, clock: Clock) -> datetime:
    """The time a renewal judges by: the database's clock, or an injected test clock's."""
    if isinstance(clock, SystemClock):
        return database_now(connection)
    return clock.now()


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
