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
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Select, select
from sqlalchemy import exc as sa_exc

from automation.clock import Clock
from automation.engine.events import Event, LogEmitted, RunFinished, RunStarted, RunStatus
from supervisor.store.engine import is_sqlite, write_options
from supervisor.store.ingest import apply_events
from supervisor.store.leasing import SQLITE_MICROS, lease_micros
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
        #: The supervisor whose runs these events are, and what judges leases (``fence_for``).
        self._owner: str | None = None
        self._lease_clock: Clock | None = None
        #: Workflows whose runs' ends go to the chain outbox (``store.chain_fires``).
        self.chain_sources: frozenset[str] = frozenset()
        #: Also those any trigger row in the store chains from (a fleet: ``chained_in_store``).
        self.chains_in_store = False

    def fence_for(self, owner: str, lease_clock: Clock | None = None) -> None:
        """From now on write only events of runs ``owner`` holds under a live lease.

        Leases are judged by the database's clock (``supervisor.store.leasing``),
        or by ``lease_clock`` if a test gives one.
        """
        self._owner = owner
        self._lease_clock = lease_clock

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
                    apply_events(
                        connection,
                        self._fenced(connection, batch),
                        self.chain_sources,
                        self.chains_in_store,
                    )
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
        """The batch without events of runs that are not this supervisor's now (one SELECT).

        Dropped: every event of a run another supervisor claims, or whose
        lease ran out; and of a run queued with no claim (taken back after its
        lease expired, waiting for whoever claims it next), everything but a
        note: a late ``run_started`` from the worker that lost it would put it
        back to ``running`` with nobody holding it, and nothing would ever
        claim or take it back again.

        ``driver``: the SQLite driver connection of a batch framed directly (its
        transaction is not SQLAlchemy's, so the SELECT goes to the driver too).
        """
        if self._owner is None or not batch:
            return batch
        ids = sorted({event.run_id for event in batch})
        if driver is not None:
            marks = ", ".join("?" * len(ids))
            clock = self._lease_clock
            now = SQLITE_MICROS if clock is None else str(to_micros(clock.now()))
            found = driver.execute(
                f"SELECT id, claimed_by, status, lease_expires_at <= {now} FROM runs "
                f"WHERE id IN ({marks})",
                ids,
            ).fetchall()
        else:
            found = connection.execute(
                _batch_runs(
                    connection, ids, lease_micros(connection.dialect.name, self._lease_clock)
                )
            ).all()
        rows = [(str(i), c, st, None if e is None else bool(e)) for i, c, st, e in found]
        lost: set[str] = set()
        unclaimed: set[str] = set()
        for run_id, claimed_by, status, expired in rows:
            if claimed_by is not None and (claimed_by != self._owner or expired):
                lost.add(run_id)
            elif claimed_by is None and status == RunStatus.QUEUED.value:
                unclaimed.add(run_id)
        kept = [
            event
            for event in batch
            if event.run_id not in lost
            and (event.run_id not in unclaimed or isinstance(event, LogEmitted))
        ]
        if len(kept) == len(batch):
            return batch
        dropped = sorted(
            lost
            | {e.run_id for e in batch if e.run_id in unclaimed and not isinstance(e, LogEmitted)}
        )
        logger.warning(
            "dropped the events of %d run(s) no longer this supervisor's (lease expired, "
            "taken over, or queued again for another claim): %s",
            len(dropped),
            dropped,
        )
        return kept

    def _record_direct(self, connection: Connection, batch: Sequence[Event]) -> None:
        driver: Any = connection.connection.dbapi_connection
        _call(connection, "BEGIN IMMEDIATE", driver.execute, "BEGIN IMMEDIATE")
        try:
            apply_events(
                connection,
                self._fenced(connection, batch, driver),
                self.chain_sources,
                self.chains_in_store,
            )
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


def _batch_runs(connection: Connection, ids: list[str], lease_now: Any) -> Select[Any]:
    """The batch's runs, read at the start of its transaction.

    On PostgreSQL they are locked there, in id order (``FOR NO KEY UPDATE``,
    what the status updates of the batch take anyway): a heartbeat renewal
    locks its supervisor's runs in id order too, and the two taking them in
    different orders deadlocked, which delayed renewals past their lease
    under load.  ``NO KEY``: the event rows' foreign-key checks do not wait
    on it.
    """
    query = (
        select(runs.c.id, runs.c.claimed_by, runs.c.status, runs.c.lease_expires_at <= lease_now)
        .where(runs.c.id.in_(ids))
        .order_by(runs.c.id)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    return query


def _call(connection: Connection, statement: str, function: Any, *args: Any) -> None:
    """Call the driver, raising its errors as SQLAlchemy would have wrapped them."""
    try:
        function(*args)
    except sqlite3.Error as error:
        raise sa_exc.DBAPIError.instance(
            statement, None, error, sqlite3.Error, dialect=connection.dialect
        ) from error
