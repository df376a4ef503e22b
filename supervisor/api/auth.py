"""The gate in front of every route: a valid bearer token, compared in constant time.

The token itself comes from ``supervisor.api.token``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def token_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer ...`` header."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


WEBHOOK_PATH = re.compile(r"^/webhooks/[^/]+/?$")


def is_webhook(scope: Scope) -> bool:
    """The one route that authenticates with its trigger's secret instead of the token."""
    return scope.get("method") == "POST" and bool(WEBHOOK_PATH.match(scope.get("path", "")))


class BearerGate:
    """ASGI middleware: no valid token, no route, not even a 404 or the OpenAPI document.

    A middleware rather than a FastAPI dependency because dependencies do not
    cover the routes FastAPI adds itself (``/openapi.json``) nor unknown paths.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        exempt: Callable[[Scope], bool] = is_webhook,
        also: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.token = token
        #: Other tokens accepted (``DESKPILOT_API_TOKEN`` for remote clients: ``listen``).
        self.also = also
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        if any(token_matches(header, token) for token in (self.token, *self.also)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send(
                {"type": "websocket.close", "code": 1008, "reason": "missing or wrong token"}
            )
            return
        response = JSONResponse(
            {
                "error": "missing or wrong API token: send 'Authorization: Bearer <token>' "
                "with the token from the supervisor's api-token file"
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="deskpilot"'},
        )
        await response(scope, receive, send)
