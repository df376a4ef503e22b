"""Errors → HTTP answers, all shaped ``{"error": message, ...}``.

Deskpilot errors are the user's (4xx) or the environment's (503), never a
500: a 500 means a bug, is logged with its traceback, and says so.

====================================  ==========================================
error                                 answer
====================================  ==========================================
one with a ``status_code`` attribute  that status (the webhook errors: 401/403/404)
``WorkflowInvalid``                   422, with ``issues``
``WorkflowError``, ``TemplateError``  422
``RunNotFound``                       404
``StoreError`` (locked, disk full)    503
``SecretError``                       503
``SupervisorError``                   409, or 503 while shutting down
any other ``DeskpilotError``          400
request validation                    422, with ``detail``
====================================  ==========================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from automation.errors import (
    DeskpilotError,
    SecretError,
    TemplateError,
    WorkflowError,
    WorkflowInvalid,
)
from supervisor.api.masking import MaskedJSONResponse
from supervisor.errors import SupervisorError
from supervisor.store.errors import RunNotFound, StoreError

logger = logging.getLogger(__name__)


class Problem(HTTPException):
    """Raise from a route for a 4xx/5xx answer with a message people can act on."""

    def __init__(self, status_code: int, message: str, **extra: Any) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.extra = extra


def problem_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    body.update({key: value for key, value in extra.items() if value is not None})
    return MaskedJSONResponse(body, status_code=status, headers=headers)


def status_of(exc: DeskpilotError, accepting: bool = True) -> int:
    declared = getattr(type(exc), "status_code", None)
    if isinstance(declared, int) and 400 <= declared < 600:
        return declared  # errors that know their answer (the webhook errors)
    if isinstance(exc, WorkflowError | TemplateError):
        return 422
    if isinstance(exc, RunNotFound):
        return 404
    if isinstance(exc, StoreError | SecretError):
        return 503
    if isinstance(exc, SupervisorError):
        return 409 if accepting else 503
    return 400


async def _deskpilot_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeskpilotError)
    parts = getattr(request.app.state, "parts", None)
    accepting = bool(parts.supervisor.accepting) if parts is not None else True
    issues = [asdict(issue) for issue in exc.issues] if isinstance(exc, WorkflowInvalid) else None
    return problem_response(status_of(exc, accepting), str(exc), issues=issues)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    extra = getattr(exc, "extra", {})
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers, **extra)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only plain fields: pydantic's own entries may hold the raw input (bytes that
    # are not UTF-8, exception objects) which would not serialise.
    detail = [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(p) for p in item['loc'])}: {item['message']}" for item in detail[:3]
    )
    return problem_response(422, f"invalid request: {summary}", detail=detail)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    logger.error("API request %s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "internal error in the supervisor; the supervisor log has the details"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DeskpilotError, _deskpilot_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _bug)
