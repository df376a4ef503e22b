"""Running a real supervisor for tests and benchmarks: in a thread, or as a process to SIGKILL.

``SupervisorThread`` runs ``Supervisor`` (supervisor/core.py) on its own
asyncio loop in a background thread, with real worker processes
(``PythonWorkerLauncher``, or ``ForkServerLauncher`` with ``fork=True``) and
a SQLite history under its home folder.  The test thread talks to the
supervisor only through ``call`` (the supervisor is not thread-safe), reads
the history directly (the store is), and sees every bus event with the
monotonic time it was received, to measure latencies.

``DaemonProcess`` runs ``daemon_proc`` (the daemon without API and
triggers) as a child process, so that a test can SIGKILL the supervisor and
start it again.

Workers may also load ``testblocks`` through a real ``deskpilot.blocks``
entry point: ``write_plugin`` makes a one-file ``.dist-info`` declaring it,
and ``worker_env`` puts it on the workers' ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from automation.blocks.registry import BlockRegistry
from supervisor.breaker import BreakerPolicy
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor
from supervisor.paths import DeskpilotPaths, sqlite_url
from supervisor.store.records import RunRecord
from supervisor.store.store import HistoryStore
from supervisor.workers import ForkServerLauncher, PythonWorkerLauncher
from tests.helpers.common import eventually
from tests.helpers.storage import (
    migrated_sqlite_copy,
    migrated_sqlite_template,
    seed_migrated_history,
)
from tests.integration.supervisor import testblocks

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 30.0

#: The small, fast settings of the fault tests.
BASE_CONFIG: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "kill_grace": 0.5,
    "worker_limit": 2,
    "spare_workers": 1,
    "restart_delay": 0.1,
    "shutdown_grace": 1.0,
    "breaker": BreakerPolicy(threshold=50, window=60.0, cooldown=60.0),
}


def wait_for(check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.02) -> T:
    """``eventually`` for checks that return the thing waited for, or None."""
    found = eventually(check, timeout=timeout, interval=interval)
    assert found is not None
    return found


def small_config(**overrides: Any) -> SupervisorConfig:
    return SupervisorConfig(**{**BASE_CONFIG, **overrides})


def write_plugin(folder: Path) -> Path:
    """A minimal installed distribution whose entry point is ``testblocks``."""
    info = folder / "deskpilot_supervisor_testblocks-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: deskpilot-supervisor-testblocks\nVersion: 0.1\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(
        f"[deskpilot.blocks]\nsupervisor_tests = {testblocks.ENTRY_POINT_MODULE}\n",
        encoding="utf-8",
    )
    return folder


def worker_env(plugin_dir: Path) -> dict[str, str]:
    """The environment that lets workers import ``tests`` and see the test plugin."""
    parts = [str(plugin_dir), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return {"PYTHONPATH": os.pathsep.join(parts)}


def supervisor_registry() -> BlockRegistry:
    registry = BlockRegistry.with_builtins(plugins=False)
    registry.register_module(testblocks)
    return registry


class SupervisorThread:
    """One supervisor, its loop thread, and everything it published."""

    def __init__(
        self,
        home: Path,
        config: SupervisorConfig,
        *,
        fork: bool = False,
        env: dict[str, str] | None = None,
        registry: BlockRegistry | None = None,
        rng: random.Random | None = None,
        worker_start_timeout: float | None = None,
        python: str | None = None,
        busy_timeout: float | None = None,
    ) -> None:
        self.home = home
        self.worker_start_timeout = worker_start_timeout
        self.config = config
        self.workflows = home / "workflows"
        self.workflows.mkdir(parents=True, exist_ok=True)
        self.artifacts = home / "artifacts"
        kind = ForkServerLauncher if fork else PythonWorkerLauncher
        self.launcher = kind(
            log_dir=home / "logs" / "workers",
            heartbeat_interval=config.heartbeat_interval,
            env=dict(env or {}),
        )
        if python is not None:
            self.launcher.python = python
        self.registry = registry or supervisor_registry()
        history = home / "history.sqlite3"
        if not history.exists():  # at head already: the migrations are not under test here
            migrated_sqlite_copy(migrated_sqlite_template(), history)
        self.store = HistoryStore.open(
            sqlite_url(history),
            **({} if busy_timeout is None else {"busy_timeout": busy_timeout}),
        )
        self.rng = rng
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sup: Supervisor | None = None
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._thread = threading.Thread(target=self._main, name="supervisor-test", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------
    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the test by start() / stop()
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        worker_log = (
            self.launcher.log_path if isinstance(self.launcher, PythonWorkerLauncher) else None
        )
        sup = Supervisor(
            store=self.store,
            launcher=self.launcher,
            registry=self.registry,
            config=self.config,
            artifacts_dir=self.artifacts,
            worker_log=worker_log,
            rng=self.rng,
        )
        if self.worker_start_timeout is not None:
            sup.worker_start_timeout = self.worker_start_timeout
        self._sup = sup
        queue = self._queue = sup.bus.subscribe()
        collector = asyncio.get_running_loop().create_task(self._collect(queue))
        await sup.start()
        self._ready.set()
        await self._stop.wait()
        try:
            await sup.stop(grace=0.5)
        finally:
            if isinstance(self.launcher, ForkServerLauncher):
                await self.launcher.aclose()
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector

    async def _collect(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            item = dict(await queue.get())
            item["_t"] = time.monotonic()
            with self._lock:
                self.events.append(item)

    def start(self) -> SupervisorThread:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise AssertionError("the supervisor did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the supervisor did not stop"
        self.store.close()
        if self._error is not None:
            raise self._error

    # -- talking to it ------------------------------------------------------------------
    @property
    def sup(self) -> Supervisor:
        assert self._sup is not None
        return self._sup

    def call(self, function: Callable[[], T], timeout: float = 15.0) -> T:
        """Run ``function`` on the supervisor's loop and return its result."""
        assert self._loop is not None

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def workflow(self, name: str, text: str) -> Path:
        path = self.workflows / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def flow(self, name: str, body: str) -> Path:
        """``workflow`` for a text that starts at its nodes: the header naming it is added."""
        return self.workflow(name, f"deskpilot: 1\nname: {name}\n{body}")

    def submit(self, path: Path, inputs: dict[str, Any] | None = None, **options: Any) -> str:
        sup = self.sup
        return self.call(lambda: sup.submit(sup.load(path), inputs, **options))

    # -- reading what happened ------------------------------------------------------------
    def seen(self, kind: str | None = None, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self.events)
        return [
            e
            for e in items
            if (kind is None or e["kind"] == kind) and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_event(self, kind: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        return wait_for(lambda: next(iter(self.seen(kind, **match)), None), timeout=timeout)

    def run(self, run_id: str) -> RunRecord:
        record = self.store.get_run(run_id)
        assert record is not None, f"no run {run_id}"
        return record

    def wait_terminal(self, run_id: str, timeout: float = 30.0) -> RunRecord:
        """The run's record once it has ended, and every event published by then collected.

        The history can show the end before the bus has handed the last events to
        ``events`` (they pass through a queue): tests that read ``seen()`` right
        after would race it.
        """

        def done() -> RunRecord | None:
            record = self.store.get_run(run_id)
            return record if record is not None and record.status.terminal else None

        record = wait_for(done, timeout=timeout)
        self.settle()
        return record

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every event published so far is in ``events``."""
        queue = self._queue
        assert queue is not None
        wait_for(lambda: self.call(queue.empty) or None, timeout=timeout)

    def busy_pid(self, run_id: str, timeout: float = 20.0) -> int:
        """The pid of the worker running ``run_id`` (the run must be running)."""

        def find() -> int | None:
            infos = self.call(lambda: [w.info() for w in self.sup.workers.values()])
            return next((i["pid"] for i in infos if i["run_id"] == run_id), None)

        return wait_for(find, timeout=timeout)

    def kill_worker(self, run_id: str) -> int:
        """SIGKILL the worker running ``run_id`` and wait until it is gone; its pid."""
        pid = self.busy_pid(run_id)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: pid_gone(pid) or None, timeout=10)
        return pid

    def worker_pids(self) -> list[int]:
        return [e["pid"] for e in self.seen("worker_started")]


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def describe(pid: int) -> str:
    try:
        process = psutil.Process(pid)
        fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        return f"{process.status()}, parent {process.ppid()}, {' '.join(process.cmdline())} {fds}"
    except psutil.Error as exc:
        return repr(exc)


def lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def kill_noted(pids: list[str]) -> None:
    """SIGKILL the processes whose pids a test's script noted (``lines`` of its file), if
    still there: the shells a killed worker left waiting."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


class Xterms:
    """Titles for the xterms a test starts, each new to this run of the tests."""

    def __init__(self) -> None:
        self.titles: list[str] = []

    def title(self, prefix: str) -> str:
        title = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.titles.append(title)
        return title


class DaemonProcess:
    """``daemon_proc`` as a child process of the test: start it, SIGKILL it, start it again."""

    def __init__(self, home: Path, options: dict[str, Any], plugin_dir: Path) -> None:
        self.home = home
        self.options = options
        self.env = {**os.environ, **worker_env(plugin_dir)}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / "daemon-stderr.log"
        home.mkdir(parents=True, exist_ok=True)
        seed_migrated_history(DeskpilotPaths.under(home).ensure())

    def start(self, workflow: Path | None = None, count: int = 0) -> list[str]:
        """Start serving (submitting ``count`` runs of ``workflow``); returns their ids."""
        (self.home / "ready").unlink(missing_ok=True)
        (self.home / "submitted.json").unlink(missing_ok=True)
        args = [sys.executable, "-m", "tests.integration.supervisor.daemon_proc", str(self.home)]
        args.append(json.dumps(self.options))
        if workflow is not None:
            args += [str(workflow), str(count)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stderr=log)
        wait_for(self._ready, timeout=START_TIMEOUT)
        if workflow is None:
            return []
        return list(json.loads((self.home / "submitted.json").read_text(encoding="utf-8")))

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            # not an AssertionError: ``eventually`` would keep polling a dead process
            raise RuntimeError(f"the daemon exited: {self.log.read_text(errors='replace')[-3000:]}")
        return (self.home / "ready").exists()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def workers(self) -> list[psutil.Process]:
        """Its worker processes (and its fork server, whose forks share its command line)."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if "supervisor.worker" in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def wait_terminal(store: HistoryStore, run_id: str, timeout: float = 30.0) -> RunRecord:
    """The run's record once it has ended (polling another process's history)."""

    def done() -> RunRecord | None:
        record = store.get_run(run_id)
        return record if record is not None and record.status.terminal else None

    return wait_for(done, timeout=timeout)


def sqlite_check(database: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return list(connection.execute(query).fetchall())


def duplicate_successes(database: Path) -> list[tuple[Any, ...]]:
    """(run, step) pairs with more than one succeeded attempt: must always be empty."""
    return sqlite_check(
        database,
        "SELECT run_id, step, count(*) FROM step_runs WHERE status = 'succeeded' "
        "GROUP BY run_id, step HAVING count(*) > 1",
    )
