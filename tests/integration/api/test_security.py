"""Who may talk to the supervisor: the token, the socket's and files' permissions."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from supervisor.api.tokenfile import TokenFileError, socket_path, token_path
from supervisor.core import SupervisorError
from supervisor.instance_lock import read_lock_holder
from supervisor.paths import DeskpilotPaths
from supervisor.store.store import HistoryStore
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, short_home

GUARDED = [
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/runs"),
    ("POST", "/runs"),
    ("GET", "/events"),
    ("GET", "/workers"),
    ("GET", "/triggers"),
    ("POST", "/triggers/pause-all"),
    ("POST", "/shutdown"),
    ("GET", "/no-such-route"),
    ("GET", "/docs"),
]


def test_every_route_refuses_a_missing_or_wrong_token(api_daemon: RunningDaemon) -> None:
    wrong = "x" * len(api_daemon.token)
    with api_daemon.http(token="") as anonymous, api_daemon.http(token=wrong) as impostor:
        for method, url in GUARDED:
            for client in (anonymous, impostor):
                response = client.request(method, url)
                assert response.status_code == 401, (method, url, response.text)
                assert "token" in response.json()["error"]
                assert response.headers["www-authenticate"].startswith("Bearer")
        basic = anonymous.get("/health", headers={"Authorization": f"Basic {api_daemon.token}"})
        assert basic.status_code == 401
    assert api_daemon.alive, "an unauthenticated POST /shutdown must not stop the daemon"


def test_the_right_token_opens_the_api_but_no_docs_ui(api_daemon: RunningDaemon) -> None:
    with api_daemon.http() as client:
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404


def test_token_socket_and_folders_are_private(api_daemon: RunningDaemon) -> None:
    paths = api_daemon.paths
    token = os.lstat(token_path(paths.config_dir))
    assert stat.S_ISREG(token.st_mode)
    assert stat.S_IMODE(token.st_mode) == 0o600
    sock = os.lstat(api_daemon.socket)
    assert stat.S_ISSOCK(sock.st_mode)
    assert stat.S_IMODE(sock.st_mode) == 0o600
    assert sock.st_mode & 0o077 == 0, "group and other users must have no access"
    for folder in (paths.state_dir, paths.config_dir):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert len(api_daemon.token) >= 40


CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("denied")
except OSError as exc:
    print("error", exc)
else:
    print("connected")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_another_user_cannot_connect(api_daemon: RunningDaemon) -> None:
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 that another user may run")
    # A second name for the socket in a folder anyone may enter, so only the
    # socket's own mode stands between the other user and the API.
    public = Path(tempfile.mkdtemp(prefix="dp-pub-", dir="/tmp"))
    try:
        public.chmod(0o755)
        alias = public / "api.sock"
        os.link(api_daemon.socket, alias)

        def connect_as_nobody(path: Path) -> str:
            done = subprocess.run(
                [python, "-c", CONNECT, str(path)],
                user=65534,
                group=65534,
                extra_groups=[],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            return done.stdout.strip()

        assert connect_as_nobody(alias) == "denied"
        assert connect_as_nobody(api_daemon.socket) == "denied"
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(alias))  # the alias itself works: only the permissions stopped them
        probe.close()
    finally:
        shutil.rmtree(public, ignore_errors=True)


def test_a_token_file_others_can_read_stops_the_start() -> None:
    home = short_home()
    try:
        paths = DeskpilotPaths.under(home).ensure()
        token = token_path(paths.config_dir)
        token.write_text("a" * 43 + "\n")
        token.chmod(0o644)
        daemon = RunningDaemon(home)
        with pytest.raises(TokenFileError, match="can be read by other users"):
            daemon.start()
        daemon.join()
        assert not socket_path(paths.state_dir).exists()
        assert read_lock_holder(paths.state_dir / "deskpilotd.lock") is None
        assert stat.S_IMODE(token.stat().st_mode) == 0o644, "refused, not silently repaired"
    finally:
        shutil.rmtree(home, ignore_errors=True)


SLOW_WORKFLOW = """\
deskpilot: 1
name: slow
nodes:
  nap:
    block: control.delay
    with: {seconds: 30}
"""


def test_stale_socket_is_replaced_and_permissions_do_not_depend_on_the_umask(
    tmp_path: Path,
) -> None:
    home = short_home()
    try:
        paths = DeskpilotPaths.under(home).ensure()
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(socket_path(paths.state_dir)))
        stale.close()  # what a killed supervisor leaves behind: a socket nobody listens on
        previous = os.umask(0)
        try:
            daemon = RunningDaemon(home).start()
        finally:
            os.umask(previous)
        try:
            assert stat.S_IMODE(os.lstat(daemon.socket).st_mode) == 0o600
            assert stat.S_IMODE(os.lstat(token_path(paths.config_dir)).st_mode) == 0o600
            with daemon.http() as client:
                assert client.get("/health").json()["status"] == "ok"
                # Without triggers, the trigger routes say so instead of failing.
                refused = client.get("/triggers")
                assert refused.status_code == 503
                assert "triggers are not running" in refused.json()["error"]
                assert client.get("/workflows").json() == []
        finally:
            daemon.stop()
        assert not daemon.socket.exists(), "the socket is removed when the supervisor stops"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_shutdown_is_graceful_and_the_api_answers_until_the_end(tmp_path: Path) -> None:
    home = short_home()
    flow = tmp_path / "slow.yaml"
    flow.write_text(SLOW_WORKFLOW, encoding="utf-8")
    try:
        daemon = RunningDaemon(home).start()
        try:
            with daemon.http() as client:
                run_id = client.post("/runs", json={"path": str(flow)}).json()["run_id"]
                eventually(
                    lambda: client.get(f"/runs/{run_id}").json()["run"]["status"] == "running",
                    timeout=30,
                )
                assert client.post("/shutdown").json() == {"stopping": True}

                # While the running step gets its grace period, the API still answers,
                # and says why it takes no new runs.
                def refused() -> str:
                    late = client.post("/runs", json={"path": str(flow)})
                    return str(late.json()["error"]) if late.status_code == 503 else ""

                assert "shutting down" in eventually(refused, timeout=5)
            daemon.join()
        finally:
            daemon.stop()
        assert not daemon.socket.exists()
        store = HistoryStore.open(daemon.paths.database_url)
        try:
            record = store.get_run(run_id)
        finally:
            store.close()
        assert record is not None and record.status == "interrupted", "resumed on the next start"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_socket_path_too_long_for_unix_is_a_clear_error(tmp_path: Path) -> None:
    home = short_home()
    deep = home / ("d" * 90)
    try:
        daemon = RunningDaemon(deep)
        with pytest.raises(SupervisorError, match="set DESKPILOT_HOME to a shorter folder"):
            daemon.start()
        daemon.join()
    finally:
        shutil.rmtree(home, ignore_errors=True)
