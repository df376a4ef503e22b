"""``GET /events``: the live event stream, as Server-Sent Events.

Each bus item becomes ``event: <kind>`` plus one line of JSON data; a comment
line every ``heartbeat`` seconds keeps idle connections (and their readers'
timeouts) alive.  The subscription is made before the answer's headers are
sent, so a client that waits for them and then submits a run (choosing its
``run_id``) cannot miss the run's first events.

A stream filtered to one run ends by itself: once the run is over it sends a
last ``run_status`` event (``{"kind": "run_status", "run_id", "status",
"error"}``) and closes.  The store is looked at every second too, because
some endings publish no event of their own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from supervisor.api.deps import BEARER, Parts
from supervisor.api.masking import masked
from supervisor.api.models import ErrorBody
from supervisor.parts import DaemonParts

HEARTBEAT_SECONDS = 15.0
#: How often a one-run stream looks at the store for an ending that published no event.
RUN_CHECK_SECONDS = 1.0
_MAYBE_ENDED = {"run_finished", "run_cancelled", "run_interrupted"}

router = APIRouter(tags=["events"], dependencies=BEARER, responses={401: {"model": ErrorBody}})


class EventStream(StreamingResponse):
    """Unsubscribes however the stream ends: finished, client gone, or server stopping."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(content, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def frame(item: dict[str, Any]) -> str:
    kind = str(item.get("kind", "message")).replace("\n", " ")
    data = json.dumps(masked(item), default=str, ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n"


async def _next(
    queue: asyncio.Queue[dict[str, Any]], closing: asyncio.Event, timeout: float
) -> dict[str, Any] | None:
    """The next item, or None on timeout or when the server starts closing."""
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None


def _ended(parts: DaemonParts, run_id: str) -> dict[str, Any] | None:
    record = parts.store.get_run(run_id)
    if record is None or not record.status.terminal:
        return None
    return {
        "kind": "run_status",
        "run_id": run_id,
        "status": str(record.status),
        "error": record.error,
    }


async def _stream(
    parts: DaemonParts,
    queue: asyncio.Queue[dict[str, Any]],
    closing: asyncio.Event,
    run_id: str | None,
    heartbeat: float,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    yield ": subscribed\n\n"
    if run_id is not None and (end := await asyncio.to_thread(_ended, parts, run_id)) is not None:
        yield frame(end)
        return
    last_sent = loop.time()
    while not closing.is_set():
        wait = last_sent + heartbeat - loop.time()
        if run_id is not None:
            wait = min(wait, RUN_CHECK_SECONDS)
        item = await _next(queue, closing, max(0.0, wait))
        look = item is None
        if item is not None and (run_id is None or item.get("run_id") == run_id):
            yield frame(item)
            last_sent = loop.time()
            look = item.get("kind") in _MAYBE_ENDED
        if (
            run_id is not None
            and look
            and (end := await asyncio.to_thread(_ended, parts, run_id)) is not None
        ):
            yield frame(end)
            return
        if loop.time() - last_sent >= heartbeat:
            yield ": keepalive\n\n"
            last_sent = loop.time()


@router.get(
    "/events",
    summary="Live events (Server-Sent Events), optionally of one run",
    response_class=EventStream,
    status_code=200,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "one 'event: <kind>' and one 'data: <json>' line per event",
        }
    },
)
async def events(
    request: Request,
    parts: Parts,
    run_id: Annotated[
        str | None, Query(description="only this run's events; the stream ends with the run")
    ] = None,
    heartbeat: Annotated[
        float,
        Query(
            ge=0.5, le=300, allow_inf_nan=False, description="seconds between keep-alive comments"
        ),
    ] = HEARTBEAT_SECONDS,
) -> EventStream:
    bus = parts.supervisor.bus
    queue = bus.subscribe()
    closing: asyncio.Event = request.app.state.closing
    return EventStream(
        _stream(parts, queue, closing, run_id, heartbeat), on_close=lambda: bus.unsubscribe(queue)
    )
