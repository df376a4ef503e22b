"""Writing ``triggers`` rows in a caller's transaction.

Its own module because both the store (a fire's runs and its triggers' state
in one transaction) and ``trigger_rows`` (a save on its own) write them, and
``trigger_rows`` needs the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, case, cast, func, literal, literal_column

from automation.clock import Clock
from supervisor.store.claims import upsert
from supervisor.store.leasing import SQLITE_MICROS
from supervisor.store.schema import triggers
from supervisor.store.types import to_micros

#: ``triggers`` rows as ``upsert_trigger_rows`` takes them (``TriggerStateStore.rows_of``).
Rows = Sequence[Mapping[str, Any]]


def _keep_anchor(proposed: Any) -> dict[str, Any]:
    """A save keeps the stored anchor while the timing is the same: the first saver's wins."""
    return {
        "anchor": case(
            (
                and_(
                    triggers.c.spec_hash == proposed.spec_hash,
                    triggers.c.anchor.is_not(None),
                ),
                triggers.c.anchor,
            ),
            else_=proposed.anchor,
        )
    }


def written_at(dialect: str, lease_clock: Clock | None) -> Any:
    """The database's time of a save, as a SQL expression of integer microseconds.

    The transaction's start on PostgreSQL (the nearest the database gets to
    the moment the writer read its clock for ``updated_at``), SQLite's
    ``'now'``; a store given a ``lease_clock`` (tests) stamps that clock's.
    """
    if lease_clock is not None:
        return literal(to_micros(lease_clock.now()), BigInteger())
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.transaction_timestamp()) * 1_000_000, BigInteger)
    return literal_column(SQLITE_MICROS, BigInteger())


def upsert_trigger_rows(
    connection: Connection, rows: Rows, lease_clock: Clock | None = None
) -> None:
    """Upsert these ``triggers`` rows in ``connection``'s transaction, in one statement.

    An upsert on the unique (workflow, key): two processes saving the same
    trigger cannot both insert it, where a read-then-insert could.  Rows go
    in (workflow, key) order, so two writers saving the same triggers lock
    their rows in the same order on PostgreSQL and cannot deadlock.  Each row
    is stamped with the database's time of the save (``written_at``): with
    its ``updated_at``, read on the writer's clock, it gives whoever loads
    the row the writer's offset from the database's clock
    (``supervisor.triggers.state``).
    """
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: (str(row["workflow_name"]), str(row["trigger_key"])))
    dialect = connection.dialect.name
    if lease_clock is not None:  # a test clock's time is a literal: built for this save
        statement = _statement(connection, written_at(dialect, lease_clock))
    else:
        statement = _BUILT.get(dialect)
        if statement is None:
            statement = _BUILT[dialect] = _statement(connection, written_at(dialect, None))
    connection.execute(statement, [dict(row) for row in ordered])


#: The upsert of each dialect, built once: building it (the ``excluded`` columns, the
#: anchor's CASE) took about half the CPU of saving twenty states, on the lane, inside
#: the transaction of every schedules' pass.
_BUILT: dict[str, Any] = {}


def _statement(connection: Connection, stamp: Any) -> Any:
    return upsert(
        connection,
        triggers,
        ["workflow_name", "trigger_key"],
        [
            "spec",
            "enabled",
            "paused",
            "state",
            "updated_at",
            "spec_hash",
            "chains_from",
            "clock",
            "written_at",
        ],
        _keep_anchor,
    ).values(written_at=stamp)
