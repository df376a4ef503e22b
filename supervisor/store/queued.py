"""Queued runs as a supervisor of a fleet looks for work: ids first, whole rows only for its picks.

A supervisor looks for queued runs it does not hold yet at every renewal
and whenever the store announces new work (``supervisor.fleetlink``).  The
look read every queued run in full, inputs and options included, to keep
the best few: with thousands queued, each look moved them all out of the
database and through SQLAlchemy, every two seconds on every machine.  Now
it reads the ids of the next runs it may take, in claim order and only as
many as it has room for, then the rows of those it did not hold already;
and it asks which of the runs it holds are still queued, by their ids.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager

from sqlalchemy import BigInteger, Connection, and_, case, or_, select, type_coerce

from automation.clock import Clock
from automation.engine.events import RunStatus
from supervisor.store.leasing import lease_micros, statement_micros
from supervisor.store.records import RunRecord, run_record
from supervisor.store.schema import runs, supervisors

#: Ids per ``IN (...)``: well under SQLite's limit on bound parameters.
ID_CHUNK = 500


class QueuedReads:
    """The look for queued work (mixed into HistoryStore)."""

    #: What judges heartbeats (``supervisor.store.leasing``): None, the database's clock.
    lease_clock: Clock | None

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def next_queued_ids(self, host: str | None, limit: int) -> list[str]:
        """Ids of the next ``limit`` queued runs ``host`` may run, in claim order.

        Claim order is the claim's (``claims``): highest priority, then
        oldest.  Runs routed to another machine are left out (``host`` None
        takes any).  Runs still waiting out a restart delay (by the database's
        clock, as the claim judges it) come after every run that may start
        now: with a look-ahead this short, a few of them at the head would
        otherwise keep the startable ones behind them out of the look.
        """
        if limit < 1:
            return []
        with self._read() as connection:
            now = statement_micros(connection.dialect.name)
            waits = case(
                (and_(runs.c.not_before.is_not(None), runs.c.not_before > now), 1), else_=0
            )
            query = select(runs.c.id).where(runs.c.status == RunStatus.QUEUED.value)
            if host is not None:
                query = query.where(or_(runs.c.target_host.is_(None), runs.c.target_host == host))
            query = query.order_by(
                waits, runs.c.priority.desc(), runs.c.queued_at, runs.c.id
            ).limit(limit)
            return [str(run_id) for run_id in connection.execute(query).scalars()]

    def runs_by_id(self, run_ids: Collection[str]) -> list[RunRecord]:
        """The runs with these ids that the history has, in the order given."""
        wanted = list(dict.fromkeys(run_ids))
        found: dict[str, RunRecord] = {}
        with self._read() as connection:
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = wanted[start : start + ID_CHUNK]
                for row in connection.execute(select(runs).where(runs.c.id.in_(chunk))):
                    record = run_record(row)
                    found[record.id] = record
        return [found[run_id] for run_id in wanted if run_id in found]

    def still_queued(self, run_ids: Collection[str]) -> set[str]:
        """Which of these runs are still queued (the others were claimed or ended)."""
        wanted = list(run_ids)
        queued: set[str] = set()
        with self._read() as connection:
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = wanted[start : start + ID_CHUNK]
                queued.update(
                    str(run_id)
                    for run_id in connection.execute(
                        select(runs.c.id).where(
                            runs.c.id.in_(chunk), runs.c.status == RunStatus.QUEUED.value
                        )
                    ).scalars()
                )
        return queued

    def live_supervisors(self, within: float) -> list[str]:
        """Ids of the supervisors heard from in the last ``within`` seconds and not stopped.

        By the database's clock (``leasing``), as every heartbeat is stamped.  Who shares
        the next queued runs with whom (``supervisor.fleet_share``): a
        supervisor that went silent, or stopped, has no share to keep.
        """
        with self._read() as connection:
            now = lease_micros(connection.dialect.name, self.lease_clock)
            since = now - round(within * 1_000_000)
            query = (
                select(supervisors.c.id)
                .where(
                    supervisors.c.stopped_at.is_(None),
                    type_coerce(supervisors.c.heartbeat_at, BigInteger) >= since,
                )
                .order_by(supervisors.c.id)
            )
            return [str(found) for found in connection.execute(query).scalars()]
