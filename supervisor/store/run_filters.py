"""Conditions on the ``runs`` table that listing, counting and pruning share."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_

from automation.engine.events import RunStatus
from supervisor.store.schema import runs

#: A status, a status's name, several of them, or None for any.
StatusFilter = RunStatus | str | Collection[RunStatus | str] | None


def at_or_before(queued_at: datetime, run_id: str) -> Any:
    """Runs at or before this one in the history's order (queued time, then id)."""
    return or_(
        runs.c.queued_at < queued_at, and_(runs.c.queued_at == queued_at, runs.c.id <= run_id)
    )


def filtered(query: Select[Any], workflow: str | None, status: StatusFilter) -> Select[Any]:
    """``query`` narrowed to one workflow's runs and to these statuses (None: any)."""
    if workflow is not None:
        query = query.where(runs.c.workflow_name == workflow)
    if isinstance(status, str):
        query = query.where(runs.c.status == RunStatus(status).value)
    elif status is not None:
        query = query.where(runs.c.status.in_([RunStatus(item).value for item in status]))
    return query
