"""Runs: list, inspect, submit, cancel, re-run, and wait for one to end.

Routes that only read the store are plain functions (FastAPI runs them in
its thread pool; the store is thread-safe).  Routes that touch the
supervisor's in-memory state are coroutines, so they run on its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from automation.engine.events import RunStatus
from automation.inputs import read_text_inputs
from automation.loader import LoadedWorkflow
from supervisor.api.deps import BEARER, Parts, require_run, require_run_named, run_info
from supervisor.api.models import (
    ArtifactInfo,
    CancelResult,
    ErrorBody,
    EventInfo,
    RerunRequest,
    RunDetail,
    RunPage,
    StepInfo,
    SubmitRequest,
    Submitted,
    WaitResult,
)
from supervisor.api.problems import Problem
from supervisor.debugging import DebugOptions
from supervisor.machine import restart_left, running_for, waiting_reason
from supervisor.parts import DaemonParts
from supervisor.store.artifacts import MAX_STORED_BYTES, media_type
from supervisor.store.errors import RunNotFound
from supervisor.store.records import RunRecord
from supervisor.submitting import RerunChanges

#: Larger files are not workflows anyone wrote by hand or in the editor.
MAX_WORKFLOW_BYTES = 5 * 1024 * 1024
#: Ids in the history are far below this; the bound keeps values inside a database integer.
MAX_SEQ = 2**62

router = APIRouter(
    tags=["runs"],
    dependencies=BEARER,
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)


@router.get("/runs", response_model=RunPage, summary="Runs, newest first, a page at a time")
def list_runs(
    parts: Parts,
    workflow: Annotated[str | None, Query(description="only runs of this workflow")] = None,
    status: Annotated[RunStatus | None, Query(description="only runs with this status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(description="the next_before of the previous page")] = None,
) -> RunPage:
    try:
        records = parts.store.list_runs(
            workflow=workflow, status=status, limit=limit, before=before
        )
    except RunNotFound:
        raise Problem(422, f"before: no run with id '{before}'") from None
    next_before = records[-1].id if len(records) == limit else None
    return RunPage(runs=[run_info(r) for r in records], next_before=next_before)


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    summary="A run with its steps and artifacts (a unique prefix of its id is enough)",
    responses={409: {"description": "the prefix starts several run ids, listed"}},
)
def get_run(parts: Parts, run_id: str) -> RunDetail:
    record = require_run_named(parts, run_id)
    run_id = record.id
    store = parts.store
    info = run_info(record)
    info = info.model_copy(
        update={
            "waiting": waiting_reason(store, record),
            "restart_in": restart_left(store, info.status, info.not_before),
            "running_for": running_for(store, info.status, info.started_at),
        }
    )
    return RunDetail(
        run=info,
        steps=[StepInfo.model_validate(s, from_attributes=True) for s in store.steps(run_id)],
        artifacts=[
            ArtifactInfo.model_validate(a, from_attributes=True) for a in store.artifacts(run_id)
        ],
    )


@router.get(
    "/runs/{run_id}/artifacts/{artifact_id}",
    response_class=Response,
    summary="An artifact's bytes (a failure screenshot, hang evidence), from any machine",
    responses={200: {"content": {"application/octet-stream": {}, "image/png": {}}}},
)
def get_artifact(parts: Parts, run_id: str, artifact_id: int) -> Response:
    """The copy the history keeps; else the file itself, if this machine made it."""
    require_run(parts, run_id)
    store = parts.store
    record = next((a for a in store.artifacts(run_id) if a.id == artifact_id), None)
    if record is None:
        raise Problem(
            404, f"run {run_id} has no artifact {artifact_id}; 'GET /runs/{run_id}' lists them"
        )
    name = Path(record.path).name
    headers = {"Content-Disposition": f'inline; filename="{_header_safe(name)}"'}
    content = store.artifact_content(run_id, artifact_id)
    if content is not None:
        return Response(content.content, media_type=content.media_type, headers=headers)
    local = _local_artifact(parts, record.path)
    if local is not None:
        return FileResponse(local, media_type=media_type(local), headers=headers)
    raise Problem(
        404,
        f"artifact {artifact_id} of run {run_id} ({record.path}) has no copy in the history "
        f"(the file was missing, or larger than {MAX_STORED_BYTES // (1024 * 1024)} MiB, when "
        "it was recorded); only the machine that ran the run may still have it",
    )


def _header_safe(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


def _local_artifact(parts: DaemonParts, text_path: str) -> Path | None:
    """The artifact's file, if it is in this machine's artifacts folder (older records).

    Only that folder: a path in the shared history is not a licence to read any file.
    """
    folder = parts.paths.artifacts_dir.resolve()
    try:
        path = Path(text_path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    return path if path.is_relative_to(folder) and path.is_file() else None


@router.get(
    "/runs/{run_id}/events",
    response_model=list[EventInfo],
    summary="The run's stored log: log lines, retries, replays",
)
def run_events(
    parts: Parts,
    run_id: str,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="only events after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[EventInfo]:
    require_run(parts, run_id)
    return [
        EventInfo.model_validate(e, from_attributes=True)
        for e in parts.store.events(run_id, after_seq=after, limit=limit)
    ]


def _from_catalog(parts: DaemonParts, name: str) -> LoadedWorkflow:
    """The catalog's active version of ``name``: the same one its triggers would run."""
    if parts.catalog is None:
        raise Problem(
            503,
            "the workflow catalog is not running (the supervisor was started without triggers); "
            "submit the workflow file's path instead",
        )
    loaded: LoadedWorkflow | None = parts.catalog.get(name)
    if loaded is None:
        raise Problem(
            404, f"no valid workflow named '{name}' in the catalog; 'GET /workflows' lists them"
        )
    return loaded


def _load(parts: DaemonParts, text_path: str) -> LoadedWorkflow:
    """Read and validate a workflow file: blocking (a large file, a slow disk), so called in a
    thread, never on the loop."""
    path = Path(text_path)
    if "\x00" in text_path or not path.is_absolute():
        raise Problem(
            422, f"path: '{text_path}' is not an absolute path; send the file's full path"
        )
    try:
        info = path.stat()
    except OSError:
        raise Problem(422, f"{path}: no such workflow file") from None
    if path.is_dir():
        raise Problem(422, f"{path}: is a folder, not a workflow file")
    if not path.is_file():
        raise Problem(422, f"{path}: is not a regular file")
    if info.st_size > MAX_WORKFLOW_BYTES:
        raise Problem(422, f"{path}: is {info.st_size} bytes, too large for a workflow file")
    return parts.supervisor.load(path)


def _require_accepting(parts: DaemonParts) -> None:
    if not parts.supervisor.accepting:
        raise Problem(503, "the supervisor is shutting down; try again when it is back")
    problem = parts.store.problem()
    if problem is not None:
        raise Problem(
            503,
            f"{problem} New runs are refused until it is back: put the file back, or restart "
            "the supervisor ('deskpilot supervisor stop', then start it); the restart imports "
            "what the running runs produced meanwhile.",
        )


async def _run_or_404(parts: DaemonParts, run_id: str) -> RunRecord:
    """``require_run`` off the loop: a read may wait on a busy database, the loop must not."""
    return await asyncio.to_thread(require_run, parts, run_id)


@router.post(
    "/runs",
    status_code=202,
    response_model=Submitted,
    summary="Queue a run of a workflow file or of a catalog workflow",
    responses={409: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def submit_run(parts: Parts, body: SubmitRequest) -> Submitted:
    _require_accepting(parts)
    if (
        body.run_id is not None
        and await asyncio.to_thread(parts.store.get_run, body.run_id) is not None
    ):
        raise Problem(409, f"a run with id '{body.run_id}' already exists; choose another id")
    if body.workflow is not None:
        loaded = _from_catalog(parts, body.workflow)
    else:
        loaded = await asyncio.to_thread(_load, parts, str(body.path))
    inputs = {**body.inputs, **read_text_inputs(loaded.workflow, body.text_inputs)}
    run_id = await parts.supervisor.submit_off_loop(
        loaded,
        inputs,
        priority=body.priority,
        trigger="api",
        run_id=body.run_id,
        deadline_seconds=body.deadline_seconds,
        debug=DebugOptions(breakpoints=tuple(body.breakpoints), pause_timeout=body.pause_timeout),
        on=body.on,
    )
    return Submitted(run_id=run_id, workflow=loaded.workflow.name)


@router.post(
    "/runs/{run_id}/cancel",
    response_model=CancelResult,
    summary="Cancel a queued or running run",
    responses={409: {"model": ErrorBody}},
)
async def cancel_run(parts: Parts, run_id: str) -> CancelResult:
    record = await _run_or_404(parts, run_id)
    if record.status.terminal:
        raise Problem(409, f"run {run_id} already ended ({record.status}); nothing to cancel")
    cancelled = await parts.supervisor.cancel_off_loop(run_id)
    after = await asyncio.to_thread(parts.store.get_run, run_id) or record
    return CancelResult(run_id=run_id, cancelled=cancelled, status=after.status)


@router.post(
    "/runs/{run_id}/rerun",
    status_code=202,
    response_model=Submitted,
    summary="Run a finished run again",
    responses={409: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def rerun_run(parts: Parts, run_id: str, body: RerunRequest | None = None) -> Submitted:
    body = body or RerunRequest()
    _require_accepting(parts)
    record = await _run_or_404(parts, run_id)
    if not record.status.terminal:
        raise Problem(409, f"run {run_id} is {record.status}; only finished runs can be re-run")
    current: Path | None = None
    if body.mode == "current" or (body.mode == "from_node" and body.path):
        text = body.path or await asyncio.to_thread(parts.store.workflow_path, record.workflow_id)
        if text is None:
            raise Problem(
                409,
                f"run {run_id} has no workflow file on record; pass 'path' to re-run on a file",
            )
        current = (await asyncio.to_thread(_load, parts, text)).path
    if body.mode == "from_node" and not body.node:
        raise Problem(422, "node: mode 'from_node' needs the id of the node to run from")
    debug = DebugOptions(
        breakpoints=tuple(body.breakpoints),
        run_from=body.node if body.mode == "from_node" else None,
        pause_timeout=body.pause_timeout,
    )
    new_id = await parts.supervisor.rerun_off_loop(
        run_id,
        mode=body.mode,
        current_path=current,
        debug=debug,
        changes=RerunChanges(
            inputs=dict(body.inputs),
            text_inputs=dict(body.text_inputs),
            priority=body.priority,
            deadline_seconds=body.deadline_seconds,
            on=body.on,
        ),
    )
    return Submitted(run_id=new_id, workflow=record.workflow_name)


async def _next_about(queue: asyncio.Queue[dict[str, Any]], run_id: str) -> None:
    while (await queue.get()).get("run_id") != run_id:
        pass


@router.get(
    "/runs/{run_id}/wait",
    response_model=WaitResult,
    summary="Long-poll until the run ends or the timeout passes",
)
async def wait_run(
    parts: Parts,
    run_id: str,
    timeout: Annotated[float, Query(ge=0, le=300, allow_inf_nan=False)] = 30.0,
) -> WaitResult:
    record = await _run_or_404(parts, run_id)
    bus = parts.supervisor.bus
    queue = bus.subscribe()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not record.status.terminal:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            # Woken by the run's own events; the periodic look covers endings that
            # publish none (a worker that reported a fatal error).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_next_about(queue, run_id), min(remaining, 0.5))
            record = await _run_or_404(parts, run_id)
    finally:
        bus.unsubscribe(queue)
    return WaitResult(run=run_info(record), finished=record.status.terminal)
