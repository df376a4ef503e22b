"""The FastAPI application: routes, the bearer gate, error answers, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from supervisor.api import (
    machines,
    problems,
    routes_debug,
    routes_events,
    routes_runs,
    routes_system,
    routes_triggers,
)
from supervisor.api.auth import BearerGate
from supervisor.api.masking import MaskedJSONResponse
from supervisor.api.metrics import Metrics
from supervisor.api.tokenfile import ensure_token, token_path
from supervisor.parts import DaemonParts

#: Request bodies are small JSON documents; this bounds what a confused client can make us read.
MAX_BODY_BYTES = 8 * 1024 * 1024

DESCRIPTION = """\
Control and observe the Deskpilot supervisor.

Served on a Unix domain socket, and on TCP where `DESKPILOT_API_LISTEN` asks
for it. Every route needs `Authorization: Bearer <token>` (the contents of
the `api-token` file in Deskpilot's config folder, or `DESKPILOT_API_TOKEN`
where it is set), except `POST /webhooks/{name}`, which takes the
webhook trigger's own secret in `X-Deskpilot-Secret`.

Errors are JSON objects with an `error` message; workflow validation errors
add `issues`, request validation errors add `detail`.
"""


def create_app(
    parts: DaemonParts, *, token: str | None = None, remote_token: str | None = None
) -> FastAPI:
    """The API over ``parts``; the token defaults to the one in the config folder.

    ``remote_token`` (``DESKPILOT_API_TOKEN``, see ``listen``) is accepted too.
    """
    metrics = Metrics(parts)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.start()
        try:
            yield
        finally:
            await metrics.stop()

    app = FastAPI(
        title="Deskpilot supervisor",
        description=DESCRIPTION,
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        default_response_class=MaskedJSONResponse,
        max_body_size=MAX_BODY_BYTES,
        # operationId = the route function's name, so generated clients read well
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.parts = parts
    app.state.metrics = metrics
    #: Set when the server begins to stop, so endless event streams end first.
    app.state.closing = asyncio.Event()
    problems.install(app)
    app.include_router(routes_system.router)
    app.include_router(machines.router)
    app.include_router(routes_runs.router)
    app.include_router(routes_debug.router)
    app.include_router(routes_events.router)
    app.include_router(routes_triggers.router)
    app.include_router(routes_triggers.webhooks)
    secret = token if token is not None else ensure_token(token_path(parts.paths.config_dir))
    also = (remote_token,) if remote_token else ()
    app.add_middleware(BearerGate, token=secret, also=also)
    return app
