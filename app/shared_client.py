"""The one API client a window's threads share.

httpx clients may be shared between threads and making one costs tens of
milliseconds, so views must not each make their own; only its lazy creation
needs a lock.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any, Literal

import httpcore
import httpx
from httpcore._backends.sync import SyncStream

from supervisor.client import SupervisorClient, SupervisorUnavailable
from supervisor.paths import DeskpilotPaths
from supervisor.remote import RemoteApi


class _ClosingBackend(httpcore.SyncBackend):
    """httpcore's backend, except that a refused Unix-socket connection closes its socket.

    httpcore 1.0 leaves it open (a ResourceWarning each time); the GUI retries while the
    supervisor restarts, so it would leak one socket per try until the next collection.
    """

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(path)
        except TimeoutError as exc:
            sock.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            sock.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return SyncStream(sock)


class SharedClient(SupervisorClient):
    """A client that the GUI thread and the job pool share (httpx clients may be shared
    between threads; making one costs tens of milliseconds, so views must not each make
    their own).  Only its lazy creation needs a lock."""

    def __init__(
        self,
        paths: DeskpilotPaths,
        *,
        timeout: float = 10.0,
        remote: RemoteApi | None | Literal["auto"] = "auto",
    ) -> None:
        super().__init__(paths, timeout=timeout, remote=remote)
        self._making = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Closed for good: a job still running when the window closes must not open a new
        connection (nobody would close it; its socket would leak until a collection)."""
        with self._making:
            self._closed = True
            super().close()

    def _client(self) -> httpx.Client:
        with self._making:
            if self._closed:
                raise SupervisorUnavailable("this window's connection to the supervisor is closed")
            made = self._http is None
            client = super()._client()
            if made:
                # the transport's pool is private to httpx: patch it where it is as expected
                pool = getattr(getattr(client, "_transport", None), "_pool", None)
                if pool is not None and hasattr(pool, "_network_backend"):
                    pool._network_backend = _ClosingBackend()
            return client
