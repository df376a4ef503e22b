"""The supervisor itself: health, metrics, workers, circuit breakers, shutdown.

These read the supervisor's in-memory state, so they are coroutines: they
run on its loop, never beside it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from automation.errors import DeskpilotError
from supervisor.api.deps import BEARER, Parts
from supervisor.api.metrics import Metrics
from supervisor.api.models import BreakerInfo, ErrorBody, Health, ShutdownAccepted, WorkerInfo
from supervisor.api.problems import Problem
from supervisor.core import Supervisor
from supervisor.release import installed_version
from supervisor.stop_marker import mark_stopped

logger = logging.getLogger(__name__)

router = APIRouter(tags=["supervisor"], dependencies=BEARER, responses={401: {"model": ErrorBody}})


def _version() -> str:
    return installed_version() or "unknown"


@router.get("/health", response_model=Health, summary="Worker liveness, queue depth, database")
async def health(parts: Parts) -> Health:
    data = parts.supervisor.health()
    return Health.model_validate(
        {
            **data,
            "pid": os.getpid(),
            # started_at is the loop's clock, which is time.monotonic
            "uptime_seconds": time.monotonic() - parts.started_at,
            "version": _version(),
            "triggers": parts.triggers is not None,
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus text exposition",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    collector: Metrics = request.app.state.metrics
    await collector.refresh()
    return Response(collector.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/workers", response_model=list[WorkerInfo], summary="Worker processes now")
async def workers(parts: Parts) -> list[WorkerInfo]:
    return [WorkerInfo.model_validate(w.info()) for w in parts.supervisor.workers.values()]


@router.get("/breakers", response_model=list[BreakerInfo], summary="Circuit breakers per workflow")
async def breakers(parts: Parts) -> list[BreakerInfo]:
    """Every workflow's breaker as the store holds it: shared by every supervisor."""
    sup = parts.supervisor
    await _refreshed(sup)
    now = sup.clock()
    result = []
    for name, breaker in sorted(sup.breakers.items()):
        reopens = breaker.reopens_at()
        result.append(
            BreakerInfo(
                workflow=name,
                state=str(breaker.state(now)),
                failures=len(breaker.failures),
                reopens_in=None if reopens is None else max(0.0, reopens - now),
            )
        )
    return result


@router.post(
    "/breakers/{workflow:path}/reset",
    response_model=BreakerInfo,
    summary="Close a workflow's breaker now, without waiting for its cool-down",
    responses={404: {"model": ErrorBody}},
)
async def reset_breaker(parts: Parts, workflow: str) -> BreakerInfo:
    """Close it for every supervisor: here at once, on the others with their next renewal."""
    sup = parts.supervisor
    await _refreshed(sup)
    if sup.breakers.get(workflow) is None:
        raise Problem(404, f"workflow '{workflow}' has no circuit breaker (it has not run yet)")
    try:
        await sup.reset_breaker_everywhere(workflow)
    except DeskpilotError as exc:
        raise Problem(503, f"could not reset the breaker in the history: {exc}") from exc
    breaker = sup.breakers[workflow]
    return BreakerInfo(
        workflow=workflow, state=str(breaker.state(sup.clock())), failures=len(breaker.failures)
    )


async def _refreshed(sup: Supervisor) -> None:
    """Read the stored breakers first; if the history cannot answer, show what is known here."""
    try:
        await sup.refresh_breakers()
    except DeskpilotError as exc:
        logger.warning("could not read the breakers from the history: %s", exc)


@router.post(
    "/shutdown",
    status_code=202,
    response_model=ShutdownAccepted,
    summary="Stop the supervisor gracefully (running steps get their grace period)",
)
async def shutdown(parts: Parts) -> ShutdownAccepted:
    # Asked for by a person (the CLI's stop, the window's "Quit and stop"): windows then
    # offer to start it again rather than doing so by themselves.
    mark_stopped(parts.paths.state_dir, "a request to its API")
    # After this answer is on its way: the stop sequence ends by closing this server.
    asyncio.get_running_loop().call_soon(parts.stop)
    return ShutdownAccepted()
