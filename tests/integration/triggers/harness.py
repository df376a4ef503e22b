"""A real supervisor daemon (no API) in a thread of the test process, for trigger tests.

The daemon runs its own asyncio loop in a thread, exactly as ``deskpilotd``
runs it, with real worker processes and a real SQLite history under a
temporary ``DESKPILOT_HOME``.  The test thread polls the history (the store
is thread-safe) and calls into the trigger manager on the daemon's loop with
``call`` (the manager, like the supervisor, is not thread-safe).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.breaker import BreakerPolicy
from supervisor.config import SupervisorConfig
from supervisor.daemon import Daemon, DaemonParts
from supervisor.paths import DeskpilotPaths
from supervisor.store.records import RunRecord
from supervisor.triggers.manager import TriggerManager
from tests.helpers.storage import seed_migrated_history

T = TypeVar("T")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


def small_config(**overrides: Any) -> SupervisorConfig:
    values: dict[str, Any] = {
        "worker_limit": 2,
        "spare_workers": 1,
        "shutdown_grace": 1.0,
        "breaker": BreakerPolicy(threshold=50, window=60.0, cooldown=60.0),
    }
    values.update(overrides)
    return SupervisorConfig(**values)


class DaemonThread:
    def __init__(
        self,
        home: Path,
        registry: BlockRegistry,
        config: SupervisorConfig | None = None,
        *,
        triggers: bool = True,
        database_url: str | None = None,
    ) -> None:
        self.paths = DeskpilotPaths.under(home, database_url=database_url).ensure()
        seed_migrated_history(self.paths)  # a new SQLite history; a server's stays as given
        self.daemon = Daemon(
            self.paths, config or small_config(), registry=registry, api=False, triggers=triggers
        )
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="daemon", daemon=True)

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self.daemon.serve(ready=lambda _parts: self._ready.set())

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test by stop()/start()
            self._error = exc
        finally:
            self._ready.set()

    def start(self) -> DaemonThread:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._error is not None:
            raise AssertionError(f"the daemon did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and self._thread.is_alive():
            loop.call_soon_threadsafe(self.daemon.request_stop)
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise AssertionError("the daemon did not stop")
        if self._error is not None:
            raise AssertionError("the daemon failed") from self._error

    @property
    def parts(self) -> DaemonParts:
        assert self.daemon.parts is not None
        return self.daemon.parts

    @property
    def triggers(self) -> TriggerManager:
        manager = self.parts.triggers
        assert isinstance(manager, TriggerManager)
        return manager

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the daemon's loop and return (or raise) its result."""
        assert self._loop is not None

        async def invoke() -> T:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(10)

    def runs(self, workflow: str) -> list[RunRecord]:
        """The workflow's history, oldest first."""
        return list(reversed(self.parts.store.list_runs(workflow=workflow, limit=None)))

    def trigger_info(self, key: str) -> dict[str, Any]:
        for item in self.call(self.triggers.list):
            if item["key"] == key:
                return item
        raise AssertionError(f"no trigger {key}")


def started(runs: list[RunRecord]) -> list[RunRecord]:
    """Runs that were really submitted (not fires recorded as missed or refused)."""
    return [r for r in runs if not (r.status is RunStatus.CANCELLED and _not_run(r))]


def not_run(runs: list[RunRecord]) -> list[RunRecord]:
    return [r for r in runs if r.status is RunStatus.CANCELLED and _not_run(r)]


def _not_run(run: RunRecord) -> bool:
    error = run.error or ""
    return error.startswith(("missed:", "not started:", "skipped:"))


def write_workflow(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"deskpilot: 1\nname: {name}\n{body}", encoding="utf-8")
    return path


PASS_NODES = "nodes:\n  step: {block: control.pass, with: {value: 1}}\n"
FAIL_NODES = "nodes:\n  boom: {block: control.fail, with: {message: on purpose}}\n"
