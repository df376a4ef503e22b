"""``deskpilotd``: the supervisor as a daemon.

One per user, guarded by an exclusive ``flock`` on a lock file (a pidfile
alone lies after a crash).  It opens the history store, reconciles runs a
previous instance left behind, starts the workflows catalog and triggers,
serves the local API on a Unix socket, and on SIGTERM/SIGINT stops taking
work, gives running steps ``shutdown_grace`` to finish, then interrupts and
records the rest so the next start resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.blocks.registry import BlockRegistry
from automation.redaction import Redactor
from supervisor.config import SupervisorConfig
from supervisor.core import Supervisor, SupervisorError
from supervisor.logs import json_handler
from supervisor.paths import DeskpilotPaths
from supervisor.retention import RetentionPolicy, schedule_retention, stop_retention
from supervisor.store.store import HistoryStore
from supervisor.workers import ForkServerLauncher, PythonWorkerLauncher, WorkerLauncher

logger = logging.getLogger(__name__)


class InstanceLock:
    """An exclusive lock held for the daemon's lifetime; the kernel frees it if we die."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SupervisorError(
                f"another Deskpilot supervisor is already running (pid {holder}); "
                "stop it with 'deskpilot supervisor stop' or use a different DESKPILOT_HOME"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


def read_lock_holder(path: Path) -> int | None:
    """The pid holding the lock, or None if no supervisor runs."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@dataclass
class DaemonParts:
    """What the API serves: the supervisor plus the optional parts around it."""

    paths: DeskpilotPaths
    supervisor: Supervisor
    store: HistoryStore
    registry: BlockRegistry
    triggers: Any = None
    catalog: Any = None
    started_at: float = 0.0
    stop: Callable[[], None] = field(default=lambda: None)


class Daemon:
    def __init__(
        self,
        paths: DeskpilotPaths,
        config: SupervisorConfig | None = None,
        *,
        launcher: WorkerLauncher | None = None,
        registry: BlockRegistry | None = None,
        api: bool = True,
        triggers: bool = True,
    ) -> None:
        self.paths = paths
        self.config = config or SupervisorConfig()
        self.launcher = launcher
        self.registry = registry or BlockRegistry.with_builtins()
        self.api = api
        self.triggers = triggers
        self.lock = InstanceLock(paths.state_dir / "deskpilotd.lock")
        self._stop = asyncio.Event()
        self.parts: DaemonParts | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def serve(self, ready: Callable[[DaemonParts], None] | None = None) -> None:
        self.paths.ensure()
        self.lock.acquire()
        redactor = Redactor()
        handler = json_handler(self.paths.log_dir / "deskpilotd.log", redactor)
        root = logging.getLogger()
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        store = HistoryStore.open(self.paths.database_url)
        launcher = self.launcher or default_launcher(self.paths, self.config)
        worker_log = launcher.log_path if isinstance(launcher, PythonWorkerLauncher) else None
        supervisor = Supervisor(
            store=store,
            launcher=launcher,
            registry=self.registry,
            config=self.config,
            artifacts_dir=self.paths.artifacts_dir,
            worker_log=worker_log,
        )
        parts = DaemonParts(
            paths=self.paths,
            supervisor=supervisor,
            store=store,
            registry=self.registry,
            started_at=loop.time(),
            stop=self.request_stop,
        )
        self.parts = parts
        server_task: asyncio.Task[Any] | None = None
        server: Any = None
        retention: asyncio.Task[None] | None = None
        try:
            await supervisor.start()
            retention = schedule_retention(
                supervisor, lambda: RetentionPolicy.from_config(self.paths.config_dir)
            )
            if self.triggers:
                from supervisor.triggers.manager import TriggerManager

                parts.triggers = TriggerManager(parts)
                parts.catalog = parts.triggers.catalog
                await parts.triggers.start()
            if self.api:
                from supervisor.api.server import start_api_server

                server, server_task = await start_api_server(parts)
            logger.info("supervisor ready (pid %s, home %s)", os.getpid(), self.paths.data_dir)
            if ready is not None:
                ready(parts)
            await self._stop.wait()
            logger.info("supervisor stopping")
        finally:
            await stop_retention(retention)
            if parts.triggers is not None:
                await parts.triggers.stop()
            await supervisor.stop()
            aclose = getattr(launcher, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if server is not None:
                server.should_exit = True
                if server_task is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(server_task, timeout=5)
            store.close()
            self.lock.release()
            root.removeHandler(handler)
            handler.close()


def default_launcher(paths: DeskpilotPaths, config: SupervisorConfig) -> PythonWorkerLauncher:
    """Workers forked from a warm fork server where the platform allows it.

    A fresh ``python -m supervisor.worker`` takes about a second to import
    before it can take a run, which caps one-process-per-run throughput near
    one run per second on a small machine; a fork takes milliseconds.  The
    fork server falls back to fresh interpreters by itself when it cannot run.
    ``DESKPILOT_WORKER_LAUNCHER=exec`` asks for fresh interpreters anyway
    (e.g. to pick up block plugins installed while the supervisor runs).
    """
    kind = os.environ.get("DESKPILOT_WORKER_LAUNCHER", "fork").strip().lower()
    if kind not in {"fork", "exec"}:
        logging.getLogger(__name__).warning(
            "DESKPILOT_WORKER_LAUNCHER=%r is neither 'fork' nor 'exec'; using 'fork'", kind
        )
        kind = "fork"
    cls = (
        ForkServerLauncher
        if kind == "fork" and ForkServerLauncher.supported()
        else PythonWorkerLauncher
    )
    return cls(log_dir=paths.log_dir / "workers", heartbeat_interval=config.heartbeat_interval)


def run_daemon(paths: DeskpilotPaths | None = None, config: SupervisorConfig | None = None) -> None:
    """Entry point of ``deskpilotd`` and ``deskpilot supervisor start --foreground``."""
    daemon = Daemon(paths or DeskpilotPaths.from_env(), config)
    asyncio.run(daemon.serve())


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        run_daemon()
    except SupervisorError as exc:
        logging.getLogger("deskpilotd").error("%s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
