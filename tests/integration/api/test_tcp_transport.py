"""The API over loopback TCP (``DESKPILOT_API_TRANSPORT=tcp``, the Windows default).

Over TCP any local program can connect, so these tests check what stands in
for the socket's permissions: the token on every route, a port file only
this user can write, and a client that sends its token only to a port the
live supervisor advertised.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.api.endpoint import (
    LOOPBACK,
    TRANSPORT_VARIABLE,
    chosen_transport,
    locate,
    port_path,
    read_port_file,
    write_port_file,
)
from supervisor.api.tokenfile import socket_path
from supervisor.client import (
    SupervisorClient,
    SupervisorUnavailable,
    endpoint_answers,
    is_running,
    start_detached,
    start_log_tail,
)
from supervisor.core import SupervisorError
from supervisor.paths import HOME_VARIABLE, DeskpilotPaths
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, short_home


@pytest.fixture
def tcp_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningDaemon]:
    monkeypatch.setenv(TRANSPORT_VARIABLE, "tcp")
    home = short_home()
    daemon = RunningDaemon(home)
    try:
        yield daemon.start()
    finally:
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_the_api_answers_on_loopback_and_advertises_its_port(tcp_daemon: RunningDaemon) -> None:
    state = tcp_daemon.paths.state_dir
    port_file = port_path(state)

    advertised = read_port_file(port_file)
    with SupervisorClient(tcp_daemon.paths) as client:
        health = client.health()
        endpoint = client.endpoint

    assert health.status in ("ok", "degraded")
    assert advertised is not None and advertised[1] == os.getpid()
    assert endpoint is not None and endpoint.transport == "tcp"
    assert endpoint.port == advertised[0]
    assert stat.S_IMODE(os.lstat(port_file).st_mode) == 0o600
    assert not socket_path(state).exists(), "no Unix socket when TCP was asked for"
    # Only loopback: the port is not open on any other address of this machine.
    with socket.create_connection((LOOPBACK, advertised[0]), timeout=2):
        pass


def test_every_route_still_needs_the_token(tcp_daemon: RunningDaemon) -> None:
    wrong = "x" * len(tcp_daemon.token)
    with tcp_daemon.http(token="") as anonymous, tcp_daemon.http(token=wrong) as impostor:
        for client in (anonymous, impostor):
            for method, url in (("GET", "/health"), ("GET", "/runs"), ("POST", "/shutdown")):
                assert client.request(method, url).status_code == 401, (method, url)
    with tcp_daemon.http() as client:
        assert client.get("/health").status_code == 200
    assert tcp_daemon.alive


def test_the_port_file_goes_when_the_supervisor_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRANSPORT_VARIABLE, "tcp")
    home = short_home()
    try:
        daemon = RunningDaemon(home).start()
        port_file = port_path(daemon.paths.state_dir)
        assert port_file.exists()
        daemon.stop()
        assert not port_file.exists()
        assert locate(daemon.paths.state_dir) is None
        with pytest.raises(SupervisorUnavailable, match="not running"):
            SupervisorClient(daemon.paths).health()
    finally:
        shutil.rmtree(home, ignore_errors=True)


class _Listener:
    """A program that took a port over: it counts the connections it is offered."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_a_port_file_left_by_a_dead_supervisor_gets_no_token(tmp_path: Path) -> None:
    """The port may belong to another program now: the client must not even connect."""
    paths = DeskpilotPaths.under(tmp_path).ensure()
    listener = _Listener()
    try:
        write_port_file(port_path(paths.state_dir), listener.port)  # names us; we hold no lock

        assert locate(paths.state_dir) is None
        assert not endpoint_answers(paths)
        assert not is_running(paths, timeout=1)
        with pytest.raises(SupervisorUnavailable, match="not running"):
            SupervisorClient(paths, timeout=2).health()
    finally:
        listener.close()
    assert listener.accepted == 0


def test_a_port_file_others_could_write_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "api.port"
    write_port_file(path, 4242)
    assert read_port_file(path) == (4242, os.getpid())
    path.chmod(0o622)
    assert read_port_file(path) is None
    path.write_text("not json")
    path.chmod(0o600)
    assert read_port_file(path) is None


def test_the_transport_setting_is_checked() -> None:
    assert chosen_transport({}) == "unix"
    assert chosen_transport({TRANSPORT_VARIABLE: " TCP "}) == "tcp"
    with pytest.raises(SupervisorError, match="use 'unix' or 'tcp'"):
        chosen_transport({TRANSPORT_VARIABLE: "http"})


def test_a_real_daemon_on_tcp_serves_the_cli_client_and_cleans_up() -> None:
    """``deskpilotd`` as its own process, found by the client through the port file."""
    home = short_home()
    paths = DeskpilotPaths.under(home).ensure()
    env = {**os.environ, HOME_VARIABLE: str(home), TRANSPORT_VARIABLE: "tcp"}
    env.pop("DESKPILOT_DATABASE_URL", None)
    process = start_detached(paths, env, requested_by="the TCP test")
    try:
        eventually(
            lambda: is_running(paths, timeout=1) or process.poll() is not None,
            timeout=60,
            interval=0.1,
        )
        assert process.poll() is None, start_log_tail(paths)
        advertised = read_port_file(port_path(paths.state_dir))
        assert advertised is not None and advertised[1] == process.pid
        with SupervisorClient(paths) as client:
            assert client.workers() is not None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not port_path(paths.state_dir).exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)
