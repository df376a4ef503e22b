"""The reads that plan a prune: which finished runs go, and in what steps.

``supervisor.retention`` decides the policy and the pace; these queries run
on the store's engine so nothing outside the store reaches for it.  The
rules are ``HistoryStore.prune``'s: only finished runs go, by age (ended, or
queued if they never ran) or beyond the newest ``max_runs`` of all runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select

from supervisor.store.schema import runs
from supervisor.store.store import TERMINAL_STATUSES, HistoryStore

#: Run ids looked up per statement: well under SQLite's limit on bound parameters.
ID_CHUNK = 500


def prunable_runs(
    store: HistoryStore, max_age: timedelta | None, max_runs: int | None
) -> list[str]:
    """Ids of the finished runs a prune with these limits would delete now, oldest first."""
    finished = runs.c.status.in_(TERMINAL_STATUSES)
    rules: list[ColumnElement[bool]] = []
    with store.engine.connect() as connection:
        if max_age is not None:
            cutoff = store.clock.now() - max_age
            ended = func.coalesce(runs.c.finished_at, runs.c.queued_at)
            rules.append(ended < cutoff)
        if max_runs is not None:
            newest_dropped = connection.execute(
                select(runs.c.queued_at, runs.c.id)
                .order_by(runs.c.queued_at.desc(), runs.c.id.desc())
                .offset(max_runs)
                .limit(1)
            ).first()
            if newest_dropped is not None:
                rules.append(
                    or_(
                        runs.c.queued_at < newest_dropped.queued_at,
                        and_(
                            runs.c.queued_at == newest_dropped.queued_at,
                            runs.c.id <= newest_dropped.id,
                        ),
                    )
                )
        if not rules:
            return []
        query = select(runs.c.id).where(finished, or_(*rules)).order_by(runs.c.queued_at)
        return [str(run_id) for run_id in connection.execute(query).scalars()]


def finished_before(store: HistoryStore, cutoff: datetime) -> list[datetime]:
    """When each finished run that ended before ``cutoff`` ended, oldest first."""
    ended = func.coalesce(runs.c.finished_at, runs.c.queued_at)
    with store.engine.connect() as connection:
        return list(
            connection.execute(
                select(ended)
                .where(runs.c.status.in_(TERMINAL_STATUSES), ended < cutoff)
                .order_by(ended)
            ).scalars()
        )


def missing_runs(store: HistoryStore, run_ids: list[str]) -> list[str]:
    """Those of ``run_ids`` no longer in the history, in their order."""
    present: set[str] = set()
    with store.engine.connect() as connection:
        for start in range(0, len(run_ids), ID_CHUNK):
            chunk = run_ids[start : start + ID_CHUNK]
            present.update(
                connection.execute(select(runs.c.id).where(runs.c.id.in_(chunk))).scalars()
            )
    return [run_id for run_id in run_ids if run_id not in present]
