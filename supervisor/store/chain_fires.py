"""The chain outbox: a run's end that chained triggers wait on, kept until they have fired.

``after`` triggers start a workflow when another one finishes.  Firing them
only in the memory of the supervisor that ran the upstream run lost the
chain if that supervisor died between recording the end and submitting the
chained runs.  Now the end of a run whose workflow some trigger chains from
(``chain_sources``) adds a ``chain_fires`` row in the same transaction that
records the end (the recorder's batch, or ``set_run_status``).  Any
supervisor drains outstanding rows: it claims a row for a while
(``claim_chain_fires``), submits the chained runs, and marks the row done
after those runs are written (``chain_fire_done``).  A claimant that dies
leaves the row to the next one once its claim runs out.

In a fleet the supervisor recording a run's end may not load the trigger
that chains from it at all: another machine does.  So there the end also
goes to the outbox when any trigger row in the store chains from the
workflow (``triggers.chains_from``, saved with each trigger's state:
``chained_in_store``), and the supervisor that loads the trigger drains it
with its next lease renewal.

The chained runs' ids are derived from (upstream run, trigger) by
``chained_run_id``, and a run whose id exists already is not inserted again
(``fires.insert_runs_once``): that is the fire key, so a chain fired twice
(a claim that ran out while its holder was slow) still starts one run.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, Connection, and_, exists, literal, or_, select, update

from automation.clock import Clock
from automation.engine.events import RunStatus
from supervisor.store.claims import insert_or_ignore
from supervisor.store.leasing import lease_micros
from supervisor.store.retry import retrying
from supervisor.store.schema import chain_fires, triggers

#: Namespace of chained runs' ids (``chained_run_id``); never change it.
_CHAIN_NAMESPACE = uuid.UUID("6f1d8a52-8f0e-4c55-9a43-2f6b1c0d7e31")


def chained_run_id(upstream_run_id: str, trigger_key: str) -> str:
    """The id of the run trigger ``trigger_key`` starts after run ``upstream_run_id``: its fire key."""
    return uuid.uuid5(_CHAIN_NAMESPACE, f"{upstream_run_id}/{trigger_key}").hex


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainFire:
    """A run's end that chained triggers have not (all) acted on yet."""

    run_id: str
    workflow: str
    status: RunStatus
    finished_at: datetime


def add_chain_fire(
    connection: Connection, run_id: str, workflow: str, status: RunStatus, at: datetime
) -> None:
    """Inside the transaction that records a run's end: its outbox row (once per run)."""
    insert_or_ignore(
        connection,
        chain_fires,
        {"run_id": run_id, "workflow_name": workflow, "status": status.value, "finished_at": at},
        ["run_id"],
    )


def goes_to_outbox(
    connection: Connection, workflow: str, sources: frozenset[str], in_store: bool
) -> bool:
    """Whether an end of ``workflow`` goes to the outbox: chained here, or (``in_store``) anywhere."""
    return workflow in sources or (in_store and chained_in_store(connection, workflow))


def chained_in_store(connection: Connection, workflow: str) -> bool:
    """Whether any supervisor's enabled ``after`` trigger chains from ``workflow`` (one index probe)."""
    return bool(
        connection.execute(select(exists().where(triggers.c.chains_from == workflow))).scalar()
    )


class _Sources(Protocol):
    """What the store's writer holds for the outbox (``writer.BatchWriter``)."""

    chain_sources: frozenset[str]
    chains_in_store: bool


class ChainFireMethods:
    """The outbox rows, on ``HistoryStore``'s transactions and clock."""

    clock: Clock
    lease_clock: Clock | None
    _writer: _Sources

    @property
    def chain_sources(self) -> frozenset[str]:
        """Workflows ``after`` triggers chain from: their runs' ends go to the chain outbox."""
        return self._writer.chain_sources

    @chain_sources.setter
    def chain_sources(self, names: frozenset[str]) -> None:
        self._writer.chain_sources = frozenset(names)

    @property
    def chains_in_store(self) -> bool:
        """Also send a run's end to the outbox when a trigger row in the store chains from it.

        Set by a supervisor of a fleet, where other machines load triggers
        this one does not; a lone supervisor knows every trigger itself.
        """
        return self._writer.chains_in_store

    @chains_in_store.setter
    def chains_in_store(self, value: bool) -> None:
        self._writer.chains_in_store = value

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def claim_chain_fires(
        self,
        claimant: str,
        *,
        seconds: float,
        run_id: str | None = None,
        workflows: Collection[str] | None = None,
    ) -> list[ChainFire]:
        """Take outstanding outbox rows for ``seconds`` (one run's, or those of ``workflows``).

        A row is taken if nobody holds it, or its holder's time ran out.  The
        UPDATE re-checks that under the row's lock, so two claimants never
        both get it while a claim holds.
        """
        if workflows is not None and not workflows:
            return []

        def claim() -> list[Any]:
            with self._write() as connection:
                # A lease: judged by the database's clock, as a run's (``leasing``).
                now = lease_micros(connection.dialect.name, self.lease_clock)
                conditions: list[Any] = [
                    chain_fires.c.done_at.is_(None),
                    or_(chain_fires.c.claimed_until.is_(None), chain_fires.c.claimed_until < now),
                ]
                if run_id is not None:
                    conditions.append(chain_fires.c.run_id == run_id)
                if workflows is not None:
                    conditions.append(chain_fires.c.workflow_name.in_(sorted(workflows)))
                statement = (
                    update(chain_fires)
                    .where(and_(*conditions))
                    .values(
                        claimed_by=claimant,
                        claimed_until=now + literal(round(seconds * 1_000_000), BigInteger()),
                    )
                    .returning(
                        chain_fires.c.run_id,
                        chain_fires.c.workflow_name,
                        chain_fires.c.status,
                        chain_fires.c.finished_at,
                    )
                )
                return list(connection.execute(statement).all())

        rows = retrying(claim, f"a claim of chain fires by {claimant}")
        return sorted(
            (
                ChainFire(
                    run_id=row.run_id,
                    workflow=row.workflow_name,
                    status=RunStatus(row.status),
                    finished_at=row.finished_at,
                )
                for row in rows
            ),
            key=lambda fire: (fire.finished_at, fire.run_id),
        )

    def chain_fire_done(self, run_id: str, claimant: str) -> bool:
        """The chained runs of ``run_id``'s end are written: the row is done (if still ours)."""

        def done() -> int:
            with self._write() as connection:
                return int(
                    connection.execute(
                        update(chain_fires)
                        .where(
                            chain_fires.c.run_id == run_id,
                            chain_fires.c.claimed_by == claimant,
                            chain_fires.c.done_at.is_(None),
                        )
                        .values(done_at=self.clock.now())
                    ).rowcount
                )

        return retrying(done, f"marking the chain fires of run {run_id} done") == 1

    def outstanding_chain_fires(self) -> list[str]:
        """Ids of runs whose chained triggers have not all been fired (oldest first)."""
        with self._read() as connection:
            rows = connection.execute(
                select(chain_fires.c.run_id)
                .where(chain_fires.c.done_at.is_(None))
                .order_by(chain_fires.c.finished_at)
            ).all()
        return [row.run_id for row in rows]
