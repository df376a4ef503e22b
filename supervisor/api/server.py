"""Serving the API: a Unix socket only the user can reach, uvicorn on the daemon's loop.

The socket is bound under a temporary name, set to 0600, then renamed into
place, so there is no moment when ``api.sock`` exists with looser
permissions; its folder (the state folder) is 0700 besides.  A socket left by
a supervisor that died is removed; one that still answers is someone else's
and is left alone.  Where Unix sockets are not the choice (see ``endpoint``)
it listens on 127.0.0.1 and advertises the port in ``api.port`` instead.
``DESKPILOT_API_LISTEN`` adds a TCP listener other machines can reach
(``supervisor.api.listen``), behind the same bearer gate.  With a certificate
it speaks HTTPS: uvicorn puts one TLS context on every socket a server
serves, so the network listener gets a server of its own (same app, no
lifespan of its own), which starts and stops with the local one.

uvicorn runs as a task on the supervisor's loop, with our logging and without
its signal handlers: the daemon owns SIGTERM and stops the API last, so
clients can watch a shutdown until the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import uvicorn

from supervisor.api.app import create_app
from supervisor.api.endpoint import (
    LOOPBACK,
    Transport,
    chosen_transport,
    port_path,
    remove_port_file_if_ours,
    write_port_file,
)
from supervisor.api.listen import bind_network, listen_settings, network_listen
from supervisor.api.tokenfile import ensure_token, socket_path, token_path
from supervisor.errors import SupervisorError
from supervisor.parts import DaemonParts

logger = logging.getLogger(__name__)

#: sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
STARTUP_TIMEOUT = 10.0


class ApiServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, closing: asyncio.Event) -> None:
        self._exit = asyncio.Event()
        super().__init__(config)
        self.closing = closing
        #: Where other machines reach this API (``listen``); None: this machine only.
        self.advertised_url: str | None = None
        #: The network listener's own server, told to stop with this one.
        self.companion: ApiServer | None = None

    @property
    def should_exit(self) -> bool:
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit.set()
        else:
            self._exit.clear()
        companion = getattr(self, "companion", None)  # uvicorn sets it while constructing
        if companion is not None:
            companion.should_exit = value

    async def main_loop(self) -> None:
        """Sleep until told to stop.

        uvicorn's own loop wakes ten times a second to look at ``should_exit``
        and refresh the Date header; that was most of an idle daemon's
        wake-ups.  The header is off (a local API has no use for it), so one
        tick sets the default headers for good.
        """
        await self.on_tick(0)
        await self._exit.wait()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.closing.set()
        await super().shutdown(sockets)


def _check_length(path: Path) -> None:
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:
        raise SupervisorError(
            f"the API socket path {path} is {size} bytes long, more than the {MAX_SOCKET_PATH} "
            "a Unix socket allows; set DESKPILOT_HOME to a shorter folder"
        )


def _remove_stale(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SupervisorError(f"{path} exists and is not a socket; move it away and start again")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        logger.info("removing the stale API socket %s", path)
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise SupervisorError(
        f"another process already serves {path}; stop it first ('deskpilot supervisor stop')"
    )


def bind_socket(path: Path) -> socket.socket:
    """A listening socket at ``path`` that only this user can connect to."""
    _check_length(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    _remove_stale(path)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    _check_length(draft)
    draft.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(draft))
        os.chmod(draft, 0o600)
        os.rename(draft, path)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        draft.unlink(missing_ok=True)
        raise
    return sock


def _unlink_if_ours(path: Path, inode: int) -> None:
    with contextlib.suppress(OSError):
        if os.lstat(path).st_ino == inode:
            path.unlink()


def bind_loopback(port_file: Path) -> socket.socket:
    """A listening socket on 127.0.0.1, on a port the kernel picks, advertised in ``port_file``."""
    port_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        sock.listen(128)
        sock.setblocking(False)
        write_port_file(port_file, sock.getsockname()[1])
    except BaseException:
        sock.close()
        raise
    return sock


def _config(
    app: Any, *, lifespan: Literal["on", "off"], cert: str | None = None, key: str | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        http="h11",
        ws="none",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=3,
        ssl_certfile=cert,
        ssl_keyfile=key,
    )


async def start_api_server(
    parts: DaemonParts, transport: Transport | None = None
) -> tuple[ApiServer, asyncio.Task[None]]:
    """Serve the API where ``transport`` says (default: ``DESKPILOT_API_TRANSPORT`` or the
    platform's choice); returns once it accepts connections."""
    token = ensure_token(token_path(parts.paths.config_dir))
    transport = transport or chosen_transport(os.environ)
    path = socket_path(parts.paths.state_dir)
    port_file = port_path(parts.paths.state_dir)
    inode: int | None = None
    if transport == "unix":
        sock = bind_socket(path)
        inode = os.lstat(path).st_ino
        port_file.unlink(missing_ok=True)  # a crashed TCP supervisor's; its pid is dead
        where = str(path)
    else:
        _remove_stale(path)  # so clients, which try the socket first, find the port
        sock = bind_loopback(port_file)
        where = f"{LOOPBACK}:{sock.getsockname()[1]} (advertised in {port_file})"
    try:
        # refused here, before anything else is bound
        listen = network_listen(listen_settings(parts.paths.config_dir, os.environ))
        network = None if listen is None else bind_network(listen)
    except BaseException:
        sock.close()
        if inode is not None:
            _unlink_if_ours(path, inode)
        raise
    app = create_app(parts, token=token, remote_token=None if listen is None else listen.token)
    server = ApiServer(_config(app, lifespan="on"), closing=app.state.closing)
    sockets = [sock]
    if listen is not None and network is not None:
        bound = network.getsockname()[1]
        server.advertised_url = listen.advertised(bound)
        where += f", and on {listen.host}:{bound} (advertised as {server.advertised_url})"
        if listen.tls:
            where += " with TLS"
            server.companion = ApiServer(
                _config(app, lifespan="off", cert=listen.tls_cert, key=listen.tls_key),
                closing=app.state.closing,
            )
        else:
            sockets.append(network)
            if not listen.loopback:
                logger.warning(
                    "the API on %s:%s speaks plain HTTP: its token crosses the network "
                    "unencrypted; set DESKPILOT_API_TLS_CERT and DESKPILOT_API_TLS_KEY",
                    listen.host,
                    bound,
                )

    async def serve() -> None:
        try:
            if server.companion is not None and network is not None:
                await asyncio.gather(
                    server.serve(sockets=sockets), server.companion.serve(sockets=[network])
                )
            else:
                await server.serve(sockets=sockets)
        finally:
            for each in (*sockets, *([] if network is None else [network])):
                each.close()
            if inode is not None:
                _unlink_if_ours(path, inode)
            else:
                remove_port_file_if_ours(port_file)

    task = asyncio.get_running_loop().create_task(serve(), name="deskpilot-api")
    deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
    while not (server.started and (server.companion is None or server.companion.started)):
        if task.done():
            error = task.exception() if not task.cancelled() else None
            raise SupervisorError(f"the API server did not start: {error or 'cancelled'}")
        if asyncio.get_running_loop().time() > deadline:
            server.should_exit = True
            raise SupervisorError(f"the API server did not start within {STARTUP_TIMEOUT:g} s")
        await asyncio.sleep(0.01)
    logger.info("API listening on %s", where)
    return server, task
