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
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError
from automation.redaction import redact_logging
from supervisor.config import SupervisorConfig
from supervisor.config_file import load_supervisor_config
from supervisor.core import Supervisor
from supervisor.desktop_gate import DesktopGate
from supervisor.instance_lock import LOCK_FILE, HistoryLock, InstanceLock, history_lock
from supervisor.logs import json_handler
from supervisor.membership import Membership
from supervisor.parts import DaemonParts as DaemonParts  # re-exported: older imports
from supervisor.paths import DeskpilotPaths
from supervisor.retention import RetentionPolicy, schedule_retention, stop_retention
from supervisor.session_watch import SessionWatch, default_watch
from supervisor.stop_marker import clear_stopped
from supervisor.store.migrate import upgrade_in_child
from supervisor.store.store import HistoryStore
from supervisor.systemd import Notifier, start_watchdog, stop_watchdog
from supervisor.workers import ForkServerLauncher, PythonWorkerLauncher, WorkerLauncher

logger = logging.getLogger(__name__)


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
        session: SessionWatch | None = None,
    ) -> None:
        self.paths = paths
        # deskpilotd's own settings: [supervisor] and [rate_limits] in config.toml
        self.config = config or load_supervisor_config(paths.config_dir)
        self.launcher = launcher
        self.registry = registry or BlockRegistry.with_builtins()
        self.api = api
        self.triggers = triggers
        self.session = session
        self.lock = InstanceLock(paths.state_dir / LOCK_FILE)
        self.history_lock: HistoryLock | None = None
        self._stop = asyncio.Event()
        self.parts: DaemonParts | None = None
        #: Why it stopped on its own (it was forgotten while it ran); None: asked to stop.
        self.stopped_because: str | None = None

    def request_stop(self) -> None:
        self._stop.set()

    def _forgotten(self, why: str) -> None:
        self.stopped_because = why
        self.request_stop()

    def _lock_history(self) -> None:
        """A SQLite history file has one supervisor, whatever home it runs from (``HistoryLock``)."""
        lock = history_lock(self.paths)
        if lock is not None:  # None on PostgreSQL: supervisors share it under leases
            lock.acquire()
            self.history_lock = lock

    async def serve(self, ready: Callable[[DaemonParts], None] | None = None) -> None:
        if self.api:
            from supervisor.api.listen import network_listen

            network_listen(os.environ)  # a bad or unsafe API address stops it before it starts
        self.paths.ensure()
        self.lock.acquire()
        try:
            self._lock_history()
        except BaseException:
            self.lock.release()
            raise
        clear_stopped(self.paths.state_dir)  # running again, however it was started
        handler = json_handler(self.paths.log_dir / "deskpilotd.log")
        root = logging.getLogger()
        root.addHandler(handler)
        redact_logging()
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        # Alembic (10 MB with Mako and Pygments) is only needed when the schema changes;
        # migrating in a child keeps it out of a process that runs for weeks.
        upgrade_in_child(self.paths.database_url)
        store = HistoryStore.open(self.paths.database_url)
        try:
            # What a supervisor could not write because the file vanished under it.
            store.import_recoveries()
        except BaseException:
            store.close()
            raise
        launcher = self.launcher or default_launcher(self.paths, self.config)
        worker_log = launcher.log_path if isinstance(launcher, PythonWorkerLauncher) else None
        # On a shared database (PostgreSQL) runs are held under leases and new work is
        # announced by NOTIFY; on SQLite this supervisor is alone with its history.
        shared = self.paths.database_url.startswith("postgresql")
        membership = Membership.of_home(self.paths.data_dir, shared=shared)
        watcher = None
        if shared:  # the LISTEN connection: loaded only for a fleet, never on SQLite
            from supervisor.store.notify import QueueWatcher

            watcher = QueueWatcher(
                self.paths.database_url, host=membership.host, supervisor_id=membership.id
            )
            await watcher.start()
        supervisor = Supervisor(
            store=store,
            launcher=launcher,
            registry=self.registry,
            config=self.config,
            artifacts_dir=self.paths.artifacts_dir,
            worker_log=worker_log,
            membership=membership,
            watcher=watcher,
        )
        # Forgotten while it runs (``machines forget --force``): it stops (``fleetlink``).
        supervisor.on_forgotten.append(self._forgotten)
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
        notifier = Notifier.from_env()
        watchdog: asyncio.Task[None] | None = None
        session = parts.session = self.session or default_watch()
        try:
            await session.start()  # before the first dispatch: a locked screen holds desktop runs
            supervisor.desktop_gate = DesktopGate(supervisor, session)
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
                from supervisor.api.endpoint import locate
                from supervisor.api.server import start_api_server

                server, server_task = await start_api_server(parts)
                endpoint = locate(self.paths.state_dir)
                # Other machines are told the address they can reach, when there is one.
                advertised = server.advertised_url or (None if endpoint is None else str(endpoint))
                if advertised is not None:
                    await supervisor.announce(advertised)
            logger.info("supervisor ready (pid %s, home %s)", os.getpid(), self.paths.data_dir)
            if notifier is not None:
                notifier.notify("READY=1", f"MAINPID={os.getpid()}", "STATUS=serving")
                watchdog = start_watchdog(notifier)
            if ready is not None:
                ready(parts)
            await self._stop.wait()
            logger.info("supervisor stopping")
        finally:
            if notifier is not None:
                notifier.notify("STOPPING=1", "STATUS=stopping: letting running steps finish")
            await stop_watchdog(watchdog)
            await stop_retention(retention)
            if parts.triggers is not None:
                await parts.triggers.stop()
            await session.stop()
            await supervisor.stop()
            if watcher is not None:
                await watcher.close()
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
            if self.history_lock is not None:
                self.history_lock.release()
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
    except DeskpilotError as exc:  # also the store's: a database from a newer Deskpilot
        logging.getLogger("deskpilotd").error("%s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
