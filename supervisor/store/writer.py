"""Write batches of engine events on one long-lived connection, one transaction per batch.

A workflow that runs steadily hands the recorder a few events at a time, so
the fixed cost of a transaction matters as much as the rows: checking a
connection out of the pool and going through SQLAlchemy's transaction
machinery for each batch cost twice what SQLite needed to commit it.  So the
writer keeps its connection, and on SQLite a batch made only of step, log and
artifact events (the usual case) is framed with ``BEGIN IMMEDIATE``/``COMMIT``
on the driver directly; a batch that starts or finishes a run goes through
SQLAlchemy, whose Core statements those events use.

On a shared server the writer is fenced (``fence_for``): events of a run that is no
longer this supervisor's (taken back after its lease expired, or its lease
ran out while this process was frozen) are dropped, not written into the
history the new owner is writing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select
from sqlalchemy import exc as sa_exc

from automation.engine.events import Event, RunFinished, RunStarted
from supervisor.store.engine import is_sqlite, write_options
from supervisor.store.ingest import apply_events
from supervisor.store.retry import retrying
from supervisor.store.schema import runs
from supervisor.store.types import to_micros

logger = logging.getLogger(__name__)

#: Events that need SQLAlchemy Core statements (and so its transaction).
_RUN_EVENTS = (RunStarted, RunFinished)


class BatchWriter:
    """Applies batches one at a time (a lock serialises callers) on a connection it keeps."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._engine = engine
        self._options = write_options(engine)
        self._direct = is_sqlite(engine)
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        #: The supervisor whose runs these events are, and its clock (``fence_for``).
        self._owner: str | None = None
        self._now: Callable[[], datetime] | None = None
        #: Workflows whose runs' ends go to the chain outbox (``store.chain_fires``).
        self.chain_sources: frozenset[str] = frozenset()

    def fence_for(self, owner: str, now: Callable[[], datetime]) -> None:
        """From now on write only events of runs ``owner`` holds under a live lease."""
        self._owner = owner
        self._now = now

    def record(self, batch: Sequence[Event]) -> None:
        """Apply ``batch`` in one transaction; run it again if the server aborted it (``retry``)."""
        with self._lock:
            retrying(lambda: self._record(batch), f"recording {len(batch)} events")

    def _record(self, batch: Sequence[Event]) -> None:
        try:
            connection = self._connection
            if connection is None:
                connection = self._connection = self._engine.connect().execution_options(
                    **self._options
                )
            if self._direct and not any(isinstance(e, _RUN_EVENTS) for e in batch):
                self._record_direct(connection, batch)
            else:
                with connection.begin():
                    apply_events(connection, self._fenced(connection, batch), self.chain_sources)
        except BaseException:
            # The next batch starts on a fresh connection, whatever state this one is in.
            self._drop()
            raise

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _fenced(
        self, connection: Connection, batch: Sequence[Event], driver: Any = None
    ) -> Sequence[Event]:
        """The batch without events of runs another supervisor owns now (one SELECT).

        ``driver``: the SQLite driver connection of a batch framed directly (its
        transaction is not SQLAlchemy's, so the SELECT goes to the driver too).
        """
        if self._owner is None or self._now is None or not batch:
            return batch
        now = self._now()
        ids = sorted({event.run_id for event in batch})
        if driver is not None:
            marks = ", ".join("?" * len(ids))
            rows = driver.execute(
                f"SELECT id FROM runs WHERE id IN ({marks}) AND claimed_by IS NOT NULL "
                "AND (claimed_by != ? OR (lease_expires_at IS NOT NULL "
                "AND lease_expires_at <= ?))",
                [*ids, self._owner, to_micros(now)],
            ).fetchall()
            lost = {str(row[0]) for row in rows}
        else:
            lost = set(
                connection.execute(
                    select(runs.c.id).where(
                        runs.c.id.in_(ids),
                        runs.c.claimed_by.is_not(None),
                        or_(
                            runs.c.claimed_by != self._owner,
                            and_(
                                runs.c.lease_expires_at.is_not(None),
                                runs.c.lease_expires_at <= now,
                            ),
                        ),
                    )
                ).scalars()
            )
        if not lost:
            return batch
        logger.warning(
            "dropped the events of %d run(s) no longer this supervisor's (lease expired or "
            "taken over): %s",
            len(lost),
            sorted(lost),
        )
        return [event for event in batch if event.run_id not in lost]

    def _record_direct(self, connection: Connection, batch: Sequence[Event]) -> None:
        driver: Any = connection.connection.dbapi_connection
        _call(connection, "BEGIN IMMEDIATE", driver.execute, "BEGIN IMMEDIATE")
        try:
            apply_events(connection, self._fenced(connection, batch, driver), self.chain_sources)
            _call(connection, "COMMIT", driver.commit)
        except BaseException:
            if driver.in_transaction:
                driver.rollback()
            raise

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except sa_exc.SQLAlchemyError:
                logger.debug("closing the recording connection failed", exc_info=True)


def _call(connection: Connection, statement: str, function: Any, *args: Any) -> None:
    """Call the driver, raising its errors as SQLAlchemy would have wrapped them."""
    try:
        function(*args)
    except sqlite3.Error as error:
        raise sa_exc.DBAPIError.instance(
            statement, None, error, sqlite3.Error, dialect=connection.dialect
        ) from error
