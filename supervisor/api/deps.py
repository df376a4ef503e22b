"""What every route needs: the daemon's parts, and converting store records to answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from automation.engine.events import RunStatus
from supervisor.api.models import RunInfo
from supervisor.api.problems import Problem
from supervisor.parts import DaemonParts
from supervisor.store.records import RunRecord

#: Documents the token in the OpenAPI document; ``auth.BearerGate`` enforces it.
bearer = HTTPBearer(auto_error=False, description="the contents of the api-token file")
BEARER = [Security(bearer)]


def get_parts(request: Request) -> DaemonParts:
    parts: DaemonParts = request.app.state.parts
    return parts


Parts = Annotated[DaemonParts, Depends(get_parts)]


def run_info(record: RunRecord) -> RunInfo:
    info = RunInfo.model_validate(record, from_attributes=True)
    if record.not_before is not None and record.status is not RunStatus.QUEUED:
        # a claim leaves the column as it was: only a queued run still waits for it
        info = info.model_copy(update={"not_before": None})
    return info


def require_run(parts: DaemonParts, run_id: str) -> RunRecord:
    record = parts.store.get_run(run_id)
    if record is None:
        raise Problem(404, f"no run with id '{run_id}'; 'deskpilot runs list' shows recent runs")
    return record


def require_run_named(parts: DaemonParts, run_id: str) -> RunRecord:
    """The run ``run_id`` names: its whole id, or a unique prefix of it.

    Resolved as this machine's CLI resolves it (``HistoryStore.run_id_for``),
    so a short id typed on another machine's CLI means the same run; several
    matches answer 409 listing them, none 404.
    """
    found: RunRecord | None = parts.store.get_run(run_id)
    return found if found is not None else require_run(parts, parts.store.run_id_for(run_id))
