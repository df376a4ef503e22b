"""Workflows in the catalog, their triggers, and the webhook route.

The trigger manager (``supervisor.triggers.manager``) and its catalog do the
work; these routes translate.  ``pause``/``resume`` take a trigger key
(``<workflow>:<index>``) or a workflow name (all of its triggers).

``POST /webhooks/{name}`` is the one route without the API token: the
program calling it proves itself by signing the body with the trigger's own
secret (``X-Deskpilot-Signature``, see ``supervisor.webhook_signature``), so
a webhook sender never holds the key to the whole API and a captured request
cannot be replayed.  It is still only reachable on the user's socket.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Security
from fastapi.security import APIKeyHeader

from supervisor import webhook_signature as signature
from supervisor.api.deps import BEARER, Parts
from supervisor.api.models import (
    ErrorBody,
    TriggerInfo,
    TriggersChanged,
    WebhookAccepted,
    WorkflowInfo,
)
from supervisor.api.problems import Problem
from supervisor.parts import DaemonParts

if TYPE_CHECKING:
    from supervisor.triggers.manager import TriggerManager

MAX_WEBHOOK_BYTES = 1024 * 1024

router = APIRouter(dependencies=BEARER, responses={401: {"model": ErrorBody}})
webhooks = APIRouter(tags=["triggers"])
signature_header = APIKeyHeader(
    name=signature.HEADER,
    auto_error=False,
    scheme_name="WebhookSignature",
    description='t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the '
    "webhook trigger's secret> (not the API token)",
)

_NO_TRIGGERS = (
    "triggers are not running in this supervisor (it was started without them); "
    "restart it with triggers enabled"
)


def _triggers(parts: DaemonParts) -> TriggerManager:
    if parts.triggers is None:
        raise Problem(503, _NO_TRIGGERS)
    return parts.triggers


@router.get(
    "/workflows",
    response_model=list[WorkflowInfo],
    tags=["workflows"],
    summary="The workflow catalog",
)
async def list_workflows(parts: Parts) -> list[WorkflowInfo]:
    if parts.catalog is None:
        return []
    # the last run of each is read in a thread: a read may wait on the database, the loop must not
    statuses = await asyncio.to_thread(parts.catalog.last_statuses, parts.catalog.file_names())
    entries = parts.catalog.list(statuses)
    return [WorkflowInfo.model_validate(entry) for entry in entries]


async def _trigger_list(parts: DaemonParts) -> list[TriggerInfo]:
    return [TriggerInfo.model_validate(t) for t in _triggers(parts).list()]


def _matching(triggers: list[TriggerInfo], key: str) -> list[TriggerInfo]:
    return [t for t in triggers if t.key == key or t.workflow == key]


@router.get(
    "/triggers",
    response_model=list[TriggerInfo],
    tags=["triggers"],
    summary="Every trigger of every workflow",
    responses={503: {"model": ErrorBody}},
)
async def list_triggers(parts: Parts) -> list[TriggerInfo]:
    return await _trigger_list(parts)


async def _change(parts: DaemonParts, key: str, action: str) -> TriggersChanged:
    manager = _triggers(parts)
    change = manager.pause if action == "pause" else manager.resume
    if not change(key):
        raise Problem(
            404,
            f"'{key}' is neither a trigger key nor a workflow with triggers; "
            "'deskpilot triggers list' shows them",
        )
    return TriggersChanged(triggers=_matching(await _trigger_list(parts), key))


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


@router.post(
    "/triggers/pause-all",
    response_model=TriggersChanged,
    tags=["triggers"],
    summary="Pause every trigger (manual runs still work)",
    responses=_CHANGE_RESPONSES,
)
async def pause_all(parts: Parts) -> TriggersChanged:
    _triggers(parts).pause_all()
    return TriggersChanged(triggers=await _trigger_list(parts))


@router.post(
    "/triggers/resume-all",
    response_model=TriggersChanged,
    tags=["triggers"],
    summary="Resume every paused trigger",
    responses=_CHANGE_RESPONSES,
)
async def resume_all(parts: Parts) -> TriggersChanged:
    _triggers(parts).resume_all()
    return TriggersChanged(triggers=await _trigger_list(parts))


@router.post(
    "/triggers/{key:path}/pause",
    response_model=TriggersChanged,
    tags=["triggers"],
    summary="Pause one trigger, or every trigger of a workflow",
    responses=_CHANGE_RESPONSES,
)
async def pause_trigger(parts: Parts, key: str) -> TriggersChanged:
    return await _change(parts, key, "pause")


@router.post(
    "/triggers/{key:path}/resume",
    response_model=TriggersChanged,
    tags=["triggers"],
    summary="Resume one trigger, or every trigger of a workflow (a breaker's pause stays)",
    responses=_CHANGE_RESPONSES,
)
async def resume_trigger(parts: Parts, key: str) -> TriggersChanged:
    return await _change(parts, key, "resume")


async def _read_body(request: Request) -> bytes:
    """The raw body, at most ``MAX_WEBHOOK_BYTES``: it is parsed only once its signature holds."""
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            raise Problem(413, f"webhook payloads are limited to {MAX_WEBHOOK_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@webhooks.post(
    "/webhooks/{name}",
    status_code=202,
    response_model=WebhookAccepted,
    summary="Fire a webhook trigger (authenticated by the trigger's secret, not the API token)",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {}}},
            "description": "any JSON; the trigger passes it to the workflow",
        }
    },
    responses={
        401: {"model": ErrorBody},
        409: {"model": ErrorBody},
        413: {"model": ErrorBody},
        429: {"model": ErrorBody},
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)
async def fire_webhook(
    request: Request,
    parts: Parts,
    name: str,
    signed: str | None = Security(signature_header),
) -> WebhookAccepted:
    manager = _triggers(parts)
    body = await _read_body(request)
    # The manager checks the signature (constant time, against the keyring) before it parses
    # the body, and answers WebhookRejected (401, the same for unknown names),
    # WebhookReplayed (409), WebhookPayloadInvalid (422) or WebhookThrottled (429, past a
    # run-rate ceiling), mapped by their status_code.
    run_id = await manager.call_webhook(name, signed or None, body)
    if run_id is None:
        return WebhookAccepted(
            run_id=None, message=f"webhook '{name}' is paused or disabled; nothing was started"
        )
    return WebhookAccepted(run_id=str(run_id), message=f"run {run_id} queued")
