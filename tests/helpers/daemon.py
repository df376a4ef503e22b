"""A real supervisor daemon for integration tests, and clients for its real socket.

``RunningDaemon`` runs ``supervisor.daemon.Daemon`` (real worker processes,
real SQLite, the real API on its Unix socket) on its own asyncio loop in a
background thread, under a short temporary DESKPILOT_HOME (a Unix socket path
must stay under 108 bytes).  ``call()`` runs a function on the daemon's loop,
for the few tests that must touch its parts directly.

Fixtures: ``api_daemon`` (one daemon per test package), ``api_client`` (a
``SupervisorClient`` for it), ``api_http`` (a raw httpx client with the token),
``tiny_workflow`` / ``failing_workflow`` (workflow files in a temp folder),
``TEST_CONFIG`` (small limits: two workers, 0.2 s heartbeats),
``deskpilot_cli`` (runs the ``deskpilot`` command line as a subprocess).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from supervisor.api.endpoint import locate
from supervisor.api.tokenfile import socket_path, token_path
from supervisor.client import SupervisorClient
from supervisor.config import SupervisorConfig
from supervisor.daemon import Daemon, DaemonParts
from supervisor.paths import DeskpilotPaths
from tests.helpers.storage import seed_migrated_history

T = TypeVar("T")

TEST_CONFIG = SupervisorConfig(
    worker_limit=2, spare_workers=1, heartbeat_interval=0.2, shutdown_grace=2.0
)

TINY_WORKFLOW = """\
deskpilot: 1
name: {name}
inputs:
  word: {{type: string, default: hello}}
nodes:
  first:
    block: control.pass
    with: {{value: "{{{{ inputs.word }}}}"}}
  second:
    block: control.pass
links:
  - first.value -> second.value
outputs:
  echoed: "{{{{ nodes.second.value }}}}"
"""

#: In the workflows folder of ``api_daemon``: a webhook trigger and a nightly schedule.
HOOKED_WORKFLOW = """\
deskpilot: 1
name: hooked
inputs:
  who: {type: string, default: nobody}
nodes:
  greet:
    block: control.pass
    with: {value: "hello {{ inputs.who }}"}
outputs:
  greeting: "{{ nodes.greet.value }}"
triggers:
  - type: webhook
    name: deploy
    secret: hook_secret
"""

NIGHTLY_WORKFLOW = """\
deskpilot: 1
name: nightly
nodes:
  only:
    block: control.pass
triggers:
  - type: schedule
    cron: "0 3 * * *"
"""

FAILING_WORKFLOW = """\
deskpilot: 1
name: {name}
nodes:
  boom:
    block: control.fail
    with: {{message: "failed on purpose"}}
"""


def short_home(prefix: str = "dp-") -> Path:
    """A folder under /tmp with a short path, so the API socket path fits."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def stop_processes_of_home(home: Path, timeout: float = 30.0) -> list[int]:
    """SIGTERM (then SIGKILL) every process started with ``DESKPILOT_HOME=home``.

    A supervisor started detached (by the window, the tray, ``deskpilot
    supervisor start``) runs in a session of its own and outlives the test;
    one still starting has not written the lock file yet, so the lock's pid
    alone misses it.  Its environment names the home from its first
    instruction on.  Returns the pids it stopped.
    """
    import psutil

    wanted = {str(home), str(home.resolve())}
    found: list[psutil.Process] = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get("DESKPILOT_HOME") in wanted:
                found.append(process)
        except (psutil.Error, OSError):
            continue  # gone, or another user's
    for process in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _gone, alive = psutil.wait_procs(found, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    return [process.pid for process in found]


class RunningDaemon:
    def __init__(
        self,
        home: Path,
        config: SupervisorConfig = TEST_CONFIG,
        *,
        api: bool = True,
        triggers: bool = False,
        workflows: dict[str, str] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.home = home
        self.paths = DeskpilotPaths.under(home, database_url=database_url).ensure()
        seed_migrated_history(self.paths)
        for name, text in (workflows or {}).items():
            (self.paths.workflows_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
        self.daemon = Daemon(self.paths, config, api=api, triggers=triggers)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="deskpilotd-test", daemon=True)

    @property
    def parts(self) -> DaemonParts:
        assert self.daemon.parts is not None, "the daemon has not started"
        return self.daemon.parts

    @property
    def socket(self) -> Path:
        return socket_path(self.paths.state_dir)

    @property
    def token(self) -> str:
        return token_path(self.paths.config_dir).read_text().strip()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test by start()
            self.error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.daemon.serve(ready=lambda parts: self._ready.set())

    def start(self, timeout: float = 30.0) -> RunningDaemon:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"the daemon did not become ready within {timeout}s")
        if self.error is not None:
            raise self.error
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float = 30.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the daemon did not stop"

    def stop(self, timeout: float = 30.0) -> None:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.daemon.request_stop)
        if self._thread.ident is not None:
            self.join(timeout)

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``function`` on the daemon's loop and return its result."""
        assert self.loop is not None

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def client(self, timeout: float = 10.0) -> SupervisorClient:
        return SupervisorClient(self.paths, timeout=timeout)

    def http(self, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        """A raw client of the API; ``token=''`` sends no Authorization header."""
        secret = self.token if token is None else token
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        endpoint = locate(self.paths.state_dir)
        assert endpoint is not None, "the daemon advertises no API endpoint"
        return httpx.Client(
            transport=endpoint.http_transport(),
            base_url=endpoint.base_url,
            headers=headers,
            timeout=timeout,
        )


def write_workflow(folder: Path, name: str, template: str = TINY_WORKFLOW) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(template.format(name=name), encoding="utf-8")
    return path


@pytest.fixture(scope="package")
def api_daemon() -> Iterator[RunningDaemon]:
    """One daemon per test package (it takes seconds to start), with triggers and two
    workflows in its folder.  Tests sharing it use workflow names of their own."""
    home = short_home()
    daemon = RunningDaemon(
        home,
        triggers=True,
        workflows={"hooked": HOOKED_WORKFLOW, "nightly": NIGHTLY_WORKFLOW},
    )
    try:
        yield daemon.start()
    finally:
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def api_client(api_daemon: RunningDaemon) -> Iterator[SupervisorClient]:
    with api_daemon.client() as client:
        yield client


@pytest.fixture
def api_http(api_daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with api_daemon.http() as client:
        yield client


@pytest.fixture
def tiny_workflow(tmp_path: Path) -> Path:
    return write_workflow(tmp_path, "tiny")


@pytest.fixture
def failing_workflow(tmp_path: Path) -> Path:
    return write_workflow(tmp_path, "always-fails", FAILING_WORKFLOW)


#: The ``deskpilot`` command line, run as ``python -c`` so it uses this interpreter and tree.
CLI_BOOT = "from supervisor.cli.main import main\nmain()\n"


@pytest.fixture
def deskpilot_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(
        home: Path, *args: str, timeout: float = 60.0, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DESKPILOT_HOME": str(home)}
        return subprocess.run(
            [sys.executable, "-c", CLI_BOOT, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    return run
