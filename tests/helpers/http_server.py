"""A real HTTP server on 127.0.0.1 whose routes each test scripts.

    def test_fetch(http_server):
        http_server.add("/data", json={"ok": True})
        http_server.flaky("/busy", failures=2, status=503)
        ... call http_server.url + "/data" ...
        assert http_server.requests[0].method == "GET"

Unknown paths answer 404.  Routes with a ``delay`` wait on an event that
teardown sets, so a test that gives up early never holds the server open.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Send the body in chunks with no Content-Length, as streaming servers do.
    chunked: bool = False
    #: Answer ``failure_status`` this many more times before answering normally.
    failures: int = 0
    failure_status: int = 503


class ScriptedServer:
    """Handle on the running server: its URL, its routes and what it received."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="http-server"
        )

    def add(
        self,
        path: str,
        *,
        status: int = 200,
        body: str | bytes = "",
        json: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        chunked: bool = False,
    ) -> str:
        """Script ``path`` (no query string); returns its full URL."""
        all_headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self.routes[path] = Route(
                status=status, body=raw, headers=all_headers, delay=delay, chunked=chunked
            )
        return self.url + path

    def flaky(
        self,
        path: str,
        *,
        failures: int = 2,
        status: int = 503,
        headers: dict[str, str] | None = None,
        ok_json: Any = None,
    ) -> str:
        """``path`` fails ``failures`` times with ``status``, then answers 200."""
        url = self.add(path, json=ok_json if ok_json is not None else {"ok": True})
        with self._lock:
            route = self.routes[path]
            route.failures = failures
            route.failure_status = status
            route.headers.update(headers or {})
        return url

    def hits(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(record)
            route = self.routes.get(parts.path)
            failing = route is not None and route.failures > 0
            if route is not None and failing:
                route.failures -= 1
        if route is None:
            self._write(handler, 404, b"no such route", {"Content-Type": "text/plain"})
            return
        if route.delay and self.stopping.wait(route.delay):
            return
        status = route.failure_status if failing else route.status
        body = b"temporarily failing" if failing else route.body
        self._write(handler, status, body, route.headers, chunked=route.chunked and not failing)

    @staticmethod
    def _write(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str],
        *,
        chunked: bool = False,
    ) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in {name.lower() for name in headers}:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if not chunked:
            handler.wfile.write(body)
            return
        for start in range(0, len(body), 64 * 1024):
            piece = body[start : start + 64 * 1024]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            # the client may have given up (a timeout test): nothing to answer then
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                server._answer(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``requests`` instead of the access log."""

    return Handler


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
