"""Circuit breakers shared by every supervisor on the database: one row per workflow.

A breaker's state (its failures in the window, when it opened and why, the
run that probes it while half-open) lives in the ``breakers`` table, so a
workflow paused on one machine is paused on all of them.  Times are
seconds since the epoch on the database's clock, the one clock supervisors
on different machines share (``supervisor.store_time``): each supervisor
turns them into its own monotonic clock.

Every change is a compare-and-set on the row's ``version``: read the row,
decide the new state (a pure function, ``supervisor.breaker_sync``), write
it only if nobody changed the row since the read, and otherwise read it
again and decide again.  No change made by one supervisor is lost to
another's.  ``HistoryStore`` takes these methods from ``BreakerMethods``.

On PostgreSQL each change also sends ``NOTIFY deskpilot_breakers`` with the
workflow's name, in the transaction that writes it, so the other
supervisors read the row as soon as it is committed
(``supervisor.store.notify``) instead of at their next lease renewal; the
renewal still reads every row, for a notification lost on the way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from automation.clock import Clock
from supervisor.store.claims import insert_or_ignore
from supervisor.store.retry import retrying
from supervisor.store.schema import breakers

#: A change that keeps losing the race this often is refused (it never should be).
_CAS_ATTEMPTS = 50
#: PostgreSQL channel announcing a changed breaker; the payload is the workflow's name.
BREAKER_CHANNEL = "deskpilot_breakers"


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerRow:
    """One workflow's breaker as stored; ``version`` counts its changes (0: never stored)."""

    workflow: str
    #: Failures inside the window (epoch seconds), oldest first.
    failures: tuple[float, ...] = ()
    #: When it opened (epoch seconds); None: closed.
    opened_at: float | None = None
    #: Why it opened (``breaker.OpenedFor``'s value).
    opened_for: str | None = None
    #: The run that probes it while half-open; None: no probe has started.
    probe_run: str | None = None
    #: The last reset (epoch seconds): first starts before it are not counted towards the
    #: run-rate ceiling (``claims.count_first_starts``).  None: never reset.
    starts_since: float | None = None
    version: int = 0
    updated_at: datetime | None = None


class BreakerConflict(Exception):
    """A breaker's row kept changing under a compare-and-set (a bug or a pathological race)."""


class BreakerMethods:
    """The breaker rows, on ``HistoryStore``'s transactions and clock."""

    clock: Clock

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def breaker_rows(self) -> list[BreakerRow]:
        """Every workflow's stored breaker (one small table: read whole)."""
        with self._read() as connection:
            rows = connection.execute(select(breakers).order_by(breakers.c.workflow_name)).all()
        return [_record(row) for row in rows]

    def breaker_row(self, workflow: str) -> BreakerRow:
        """One workflow's breaker; a closed one at version 0 if none is stored."""
        with self._read() as connection:
            return _fetch(connection, workflow)

    def change_breaker(
        self, workflow: str, change: Callable[[BreakerRow], BreakerRow | None]
    ) -> tuple[BreakerRow, bool]:
        """Compare-and-set ``change(current)`` on a workflow's breaker.

        ``change`` is called with the row as stored now and returns the new
        row, or None to leave it as it is (it may be called again, with a
        newer row, if another supervisor changed it meanwhile).  Returns the
        row as stored after the call, and whether this call changed it.
        """
        for _ in range(_CAS_ATTEMPTS):
            with self._read() as connection:
                current = _fetch(connection, workflow)
            wanted = change(current)
            if wanted is None:
                return current, False
            values: dict[str, Any] = {
                "failures": list(wanted.failures),
                "opened_at": wanted.opened_at,
                "opened_for": wanted.opened_for,
                "probe_run": wanted.probe_run,
                "starts_since": wanted.starts_since,
                "version": current.version + 1,
                "updated_at": self.clock.now(),
            }

            def write(current: BreakerRow, values: dict[str, Any]) -> BreakerRow | None:
                with self._write() as connection:
                    if current.version == 0:
                        done = insert_or_ignore(
                            connection,
                            breakers,
                            {"workflow_name": workflow, **values},
                            ["workflow_name"],
                        )
                    else:
                        done = (
                            connection.execute(
                                update(breakers)
                                .where(
                                    breakers.c.workflow_name == workflow,
                                    breakers.c.version == current.version,
                                )
                                .values(values)
                            ).rowcount
                            == 1
                        )
                    if not done:
                        return None
                    if connection.dialect.name == "postgresql":
                        # Delivered when this transaction commits, with the row already visible.
                        connection.execute(select(func.pg_notify(BREAKER_CHANNEL, workflow)))
                    return _fetch(connection, workflow)

            stored = retrying(
                functools.partial(write, current, values), f"updating the breaker of {workflow}"
            )
            if stored is not None:
                return stored, True
        raise BreakerConflict(
            f"the breaker of workflow '{workflow}' changed {_CAS_ATTEMPTS} times under one update"
        )


def _fetch(connection: Connection, workflow: str) -> BreakerRow:
    row = connection.execute(select(breakers).where(breakers.c.workflow_name == workflow)).first()
    return BreakerRow(workflow=workflow) if row is None else _record(row)


def _record(row: Any) -> BreakerRow:
    return BreakerRow(
        workflow=row.workflow_name,
        failures=tuple(float(at) for at in (row.failures or ())),
        opened_at=row.opened_at,
        opened_for=row.opened_for,
        probe_run=row.probe_run,
        starts_since=row.starts_since,
        version=row.version,
        updated_at=row.updated_at,
    )
