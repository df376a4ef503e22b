"""HTTP blocks: ``http.request`` for any call, ``http.json`` for JSON APIs.

Which failures are worth retrying is decided here, once, so every block that
speaks HTTP (``notify.webhook`` too) agrees:

* retryable: connection refused or reset, timeouts, and the statuses a server
  uses for "not now" — 408, 429 and every 5xx;
* not retryable: other unexpected statuses (a 404 stays a 404), malformed
  URLs, redirect loops, responses over ``max_bytes``.

The engine's retry policy does any waiting; a ``Retry-After`` header is logged
so the user can see what the server asked for.  Messages never contain header
values (an ``Authorization`` header would leak) and show URLs with passwords
and secret-looking query parameters masked.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
import warnings
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BeforeValidator, Field, field_validator

from automation.blocks.base import Block, BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.durations import Duration
from automation.errors import BlockError, BlockInputError
from automation.redaction import MASK, Redactor

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_SNIPPET = 200
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|sig|auth|credential|session", re.I)
_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.I)
_STATUS_RANGE = re.compile(r"^(\d{3})\s*-\s*(\d{3})$")

Method = Annotated[
    Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
]
Scalar = str | int | float | bool
StatusSpec = int | str | list[int | str]


def require(ctx: BlockContext, block_id: str, problem: str | None) -> None:
    """Fail on inputs that clash with each other.

    Checked when the step starts rather than in a model validator: the
    registry validates each input's default on an otherwise empty model, so
    a rule like "give at least one recipient" would reject the block at start-up.
    """
    if problem is not None:
        raise BlockInputError(f"node '{ctx.node_id}' ({block_id}): {problem}")


# -- helpers shared with notify.webhook ------------------------------------------------
def redact_url(url: str) -> str:
    """The URL as it may appear in a message: no password, no secret-looking query values."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:{MASK}@{parts.hostname or ''}"
            if parts.port is not None:
                netloc += f":{parts.port}"
    except ValueError:
        return url
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_status_spec(spec: StatusSpec) -> list[tuple[int, int]]:
    """Inclusive status ranges from ``200``, ``"2xx"``, ``"200-299"``, ``"2xx,404"`` or a list."""
    items: list[int | str] = list(spec) if isinstance(spec, list) else [spec]
    ranges: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"{item!r} is not an HTTP status")
        if isinstance(item, int):
            ranges.append((item, item))
            continue
        for part in (p.strip() for p in item.split(",")):
            if part.isdigit():
                ranges.append((int(part), int(part)))
            elif match := _STATUS_CLASS.match(part):
                first = int(match.group(1)) * 100
                ranges.append((first, first + 99))
            elif match := _STATUS_RANGE.match(part):
                ranges.append((int(match.group(1)), int(match.group(2))))
            else:
                raise ValueError(
                    f"'{part}' is not a status pattern; use codes like 200, classes like "
                    "'2xx' or ranges like '200-299'"
                )
    for low, high in ranges:
        if not 100 <= low <= high <= 599:
            raise ValueError(f"status range {low}-{high} is outside 100-599")
    return ranges


def describe_status_spec(spec: StatusSpec) -> str:
    items = spec if isinstance(spec, list) else [spec]
    return ", ".join(str(item) for item in items)


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


@dataclass(frozen=True, kw_only=True)
class HttpResponse:
    method: str
    safe_url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: str
    url: str
    elapsed: float

    def json_or_none(self) -> Any:
        try:
            return jsonlib.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None

    def summary(self) -> str:
        return f"{self.method} {self.safe_url} → {self.status} in {self.elapsed:.2f} s"

    def snippet(self, redactor: Redactor) -> str:
        """The start of the body for a message: masked before it is squeezed and cut."""
        text = " ".join(redactor.text(self.body).split())
        if not text:
            return "(empty body)"
        return redactor.clip(text, _SNIPPET, suffix="…")


#: An HTTP header name: a token of RFC 9110.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def check_headers(headers: dict[str, str]) -> None:
    """Refuse header names and values HTTP cannot carry, naming the header (never its value,
    which may hold a secret): non-ASCII text and line breaks (which would also let a value
    inject headers of its own)."""
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise BlockInputError(
                f"'{name[:60]}' is not a valid HTTP header name; use letters, digits and '-'"
            )
        for position, char in enumerate(value):
            if char in "\r\n\x00":
                raise BlockInputError(
                    f"header '{name}' contains a line break or NUL at character {position + 1}; "
                    "a header value is one line"
                )
            if not char.isascii():
                raise BlockInputError(
                    f"header '{name}' contains a non-ASCII character at character "
                    f"{position + 1}; HTTP header values are ASCII: percent-encode the value "
                    "(the server must decode it) or send it in the body"
                )


def send(
    ctx: BlockContext,
    *,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    json: Any = None,
    form: dict[str, Any] | None = None,
    body: str | None = None,
    timeout: float = 30.0,
    follow_redirects: bool = True,
    verify_tls: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> HttpResponse:
    """Make one request and read the whole response, within the step's deadline."""
    # Here, not at the top: the supervisor loads every block module to validate
    # workflows and should not carry httpx (6 MB with its CLI's imports); workers
    # import it before they say hello (``supervisor.worker``).
    import httpx

    check_headers(headers or {})
    # masked before redact_url re-encodes the query, which would change the secret's form
    safe_url = redact_url(ctx.redactor.text(url))
    limit = ctx.remaining(timeout) or timeout
    ctx.check_cancelled()
    ctx.log(f"{method} {safe_url}", "debug")
    started = time.monotonic()
    end = started + limit
    try:
        with (
            httpx.Client(
                timeout=limit, follow_redirects=follow_redirects, verify=verify_tls
            ) as client,
            client.stream(
                method, url, headers=headers, params=params, json=json, data=form, content=body
            ) as response,
        ):
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(method, safe_url, max_bytes, int(declared))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(method, safe_url, max_bytes, None)
                chunks.append(chunk)
                ctx.check_cancelled()
                if time.monotonic() > end:
                    raise httpx.ReadTimeout("the response did not finish in time")
            text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
            return HttpResponse(
                method=method,
                safe_url=safe_url,
                status=response.status_code,
                reason=response.reason_phrase,
                headers=dict(response.headers),
                body=text,
                url=str(response.url),
                elapsed=time.monotonic() - started,
            )
    except httpx.TimeoutException as exc:
        ctx.check_cancelled()  # the step deadline, not our own timeout: StepTimeout
        raise BlockError(
            f"{method} {safe_url} timed out after {limit:g} s ({type(exc).__name__}); check that "
            "the server is up and answering, or raise 'timeout'",
            retryable=True,
        ) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise BlockError(
            f"'{safe_url}' is not a URL we can request: {exc}; it must start with http:// "
            "or https://",
            retryable=False,
        ) from None
    except httpx.TooManyRedirects:
        raise BlockError(
            f"{method} {safe_url} redirected too many times; check the URL, or set "
            "follow_redirects to false to see the first redirect",
            retryable=False,
        ) from None
    except httpx.LocalProtocolError as exc:
        raise BlockError(
            f"{method} {safe_url} could not be sent: {exc}; check the header names and values",
            retryable=False,
        ) from None
    except httpx.ConnectError as exc:
        raise BlockError(
            f"could not connect to {safe_url}: {exc}; check that the server is running, that "
            "the host and port in the URL are right and that no firewall or proxy blocks it",
            retryable=True,
        ) from None
    except httpx.TransportError as exc:
        raise BlockError(
            f"{method} {safe_url} failed while talking to the server: {exc}; the connection "
            "broke, so check the server and the network",
            retryable=True,
        ) from None
    except httpx.DecodingError as exc:
        raise BlockError(
            f"the response to {method} {safe_url} could not be decoded: {exc}",
            retryable=False,
        ) from None


def _too_large(method: str, safe_url: str, max_bytes: int, declared: int | None) -> BlockError:
    size = f"{declared} bytes" if declared is not None else "more"
    return BlockError(
        f"the response to {method} {safe_url} is larger than max_bytes ({max_bytes} bytes; "
        f"server sent {size}); raise max_bytes or ask the server for less",
        retryable=False,
    )


def check_status(ctx: BlockContext, response: HttpResponse, expected: StatusSpec) -> None:
    """Raise a BlockError when the status is not one the workflow expects."""
    status = response.status
    if any(low <= status <= high for low, high in parse_status_spec(expected)):
        return
    retryable = is_retryable_status(status)
    retry_after = response.headers.get("retry-after")
    extra = ""
    if retry_after is not None:
        ctx.log(f"the server asks to retry after {retry_after}", "warning", retry_after=retry_after)
        extra = f" (server asks to retry after {retry_after})"
    hint = _STATUS_HINTS.get(status, "")
    raise BlockError(
        f"{response.method} {response.safe_url} returned {status} {response.reason} "
        f"(expected {describe_status_spec(expected)}){extra}; {hint}response: "
        f"{response.snippet(ctx.redactor)}",
        retryable=retryable,
    )


_STATUS_HINTS = {
    401: "check the credentials; ",
    403: "check the credentials and their permissions; ",
    404: "check the URL; ",
    429: "the server is rate limiting requests; ",
}


# -- blocks ------------------------------------------------------------------------------
class _CommonInput(BlockInput):
    method: Method = Field("GET", description="HTTP method")
    url: str = Field(description="http:// or https:// URL to call")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="request headers; use a secret template for tokens, e.g. "
        "'Bearer {{ secrets.api_token }}'",
    )
    params: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict, description="query-string parameters added to the URL"
    )
    timeout: Duration = Field(
        30.0, description="give up after this long (capped by the step deadline)"
    )
    follow_redirects: bool = Field(True, description="follow 3xx redirects to the final URL")
    expect_status: StatusSpec = Field(
        "2xx",
        description="acceptable statuses: codes, classes like '2xx' or ranges like '200-399'; "
        "any other status fails the step",
    )
    verify_tls: bool = Field(True, description="check the server's HTTPS certificate")
    max_bytes: int = Field(
        DEFAULT_MAX_BYTES, gt=0, description="fail if the response body is larger than this"
    )

    @field_validator("expect_status")
    @classmethod
    def _valid_status_spec(cls, value: StatusSpec) -> StatusSpec:
        parse_status_spec(value)
        return value


# ``json`` is the natural pin name but shadows BaseModel.json (deprecated in pydantic v2).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class RequestInput(_CommonInput):
        json: Any = Field(None, description="send this value as a JSON body")
        form: dict[str, Scalar] | None = Field(None, description="send these fields URL-encoded")
        body: str | None = Field(None, description="send this text as the body")

        def problem(self) -> str | None:
            given = [name for name in ("json", "form", "body") if getattr(self, name) is not None]
            if len(given) > 1:
                return f"give only one of 'json', 'form' and 'body' (got {' and '.join(given)})"
            return None

    class RequestOutput(BlockOutput):
        status: int = Field(description="HTTP status code")
        headers: dict[str, str] = Field(description="response headers, names in lower case")
        body: str = Field(description="response body as text")
        json: Any = Field(description="the body parsed as JSON, or null if it is not JSON")
        url: str = Field(description="final URL after redirects")
        elapsed: float = Field(description="seconds the request took")

    class JsonInput(_CommonInput):
        json: Any = Field(None, description="send this value as the JSON request body")


class JsonOutput(BlockOutput):
    data: Any = Field(description="the response parsed as JSON")
    status: int = Field(description="HTTP status code")


def _send_inputs(inputs: _CommonInput) -> dict[str, Any]:
    return {
        "method": inputs.method,
        "url": inputs.url,
        "params": inputs.params or None,
        "timeout": inputs.timeout,
        "follow_redirects": inputs.follow_redirects,
        "verify_tls": inputs.verify_tls,
        "max_bytes": inputs.max_bytes,
    }


class HttpRequest(Block[RequestInput]):
    """Call a URL and return the status, headers and body.

    Unexpected statuses fail the step: 408, 429 and 5xx are retried by the
    step's retry policy, other codes are not.  Connection failures and
    timeouts are retried.
    """

    id = "http.request"
    title = "HTTP request"
    category = "http"
    idempotent = False  # POST, PUT and DELETE change things on the server
    Input = RequestInput
    Output = RequestOutput

    def run(self, inputs: RequestInput, ctx: BlockContext) -> RequestOutput:
        require(ctx, self.id, inputs.problem())
        response = send(
            ctx,
            headers=inputs.headers,
            json=inputs.json,
            form=inputs.form,
            body=inputs.body,
            **_send_inputs(inputs),
        )
        check_status(ctx, response, inputs.expect_status)
        ctx.log(response.summary())
        return RequestOutput(
            status=response.status,
            headers=response.headers,
            body=response.body,
            json=response.json_or_none(),
            url=response.url,
            elapsed=response.elapsed,
        )


class HttpJson(Block[JsonInput]):
    """Call a JSON API and return the parsed response as ``data``.

    Like ``http.request``, but sends ``Accept: application/json`` and fails
    if the response is not JSON.
    """

    id = "http.json"
    title = "HTTP JSON"
    category = "http"
    idempotent = False
    Input = JsonInput
    Output = JsonOutput

    def run(self, inputs: JsonInput, ctx: BlockContext) -> JsonOutput:
        headers = dict(inputs.headers)
        if not any(name.lower() == "accept" for name in headers):
            headers["Accept"] = "application/json"
        response = send(ctx, headers=headers, json=inputs.json, **_send_inputs(inputs))
        check_status(ctx, response, inputs.expect_status)
        try:
            data = jsonlib.loads(response.body)
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise BlockError(
                f"{inputs.method} {response.safe_url} returned {kind}, not JSON: "
                f"{response.snippet(ctx.redactor)}; check the URL, or use http.request for non-JSON replies",
                retryable=False,
            ) from None
        ctx.log(response.summary())
        return JsonOutput(data=data, status=response.status)


BLOCKS = (HttpRequest, HttpJson)
