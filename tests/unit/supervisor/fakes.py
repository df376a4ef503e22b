"""A fake worker launcher and a fake clock, to drive the supervisor without processes.

Real worker processes are tested in ``tests/integration/supervisor``; these
fakes answer the supervisor's pipe protocol in memory, so a test can decide
what each worker does and read every message it was sent.  Their pids lie
above the kernel's ``pid_max``, so a kill that reached the OS by mistake
would find no process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from automation.engine.events import RunFinished, RunStatus
from supervisor.protocol import encode, event_message
from supervisor.workers import WorkerProcess

#: Above any Linux pid_max (at most 2**22): no real process has these.
FAKE_PIDS = itertools.count(10_000_001)

Behaviour = Callable[["FakeWorker", dict[str, Any]], None]


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Pipe:
    """The worker's stdin as the supervisor writes it: each line goes to the worker."""

    def __init__(self, worker: FakeWorker) -> None:
        self._worker = worker
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes) -> None:
        for line in data.splitlines():
            self._worker.received(json.loads(line))

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


class FakeWorker:
    """One fake worker process: says hello, then does what ``behaviour`` says with each message."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.pid = next(FAKE_PIDS)
        self.behaviour = behaviour
        self.stdout = asyncio.StreamReader()
        self.stdin = _Pipe(self)
        self.messages: list[dict[str, Any]] = []
        self._exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.say({"type": "hello", "pid": self.pid, "protocol": 1})

    def say(self, message: dict[str, Any]) -> None:
        if not self._exited.done():
            self.stdout.feed_data(encode(message))

    def finish(self, start: dict[str, Any], status: RunStatus = RunStatus.SUCCEEDED) -> None:
        """Report the run of ``start`` ended, then exit as a real worker does."""
        event = RunFinished(
            run_id=start["run_id"],
            seq=int(start.get("seq_after") or 0) + 1,
            at=datetime.now(UTC),
            status=status,
            duration=0.01,
        )
        self.say(event_message(event))
        self.exit(0)

    def exit(self, code: int | None) -> None:
        if not self._exited.done():
            self.stdin.closed = True
            self.stdout.feed_eof()
            self._exited.set_result(code)

    async def wait(self) -> int | None:
        return await asyncio.shield(self._exited)

    def received(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.behaviour(self, message)


def succeed(worker: FakeWorker, message: dict[str, Any]) -> None:
    """Each run succeeds as soon as it starts."""
    if message["type"] == "start":
        worker.finish(message)


class FakeLauncher:
    """Spawns ``FakeWorker``s; ``kill`` is the supervisor's process killer for them."""

    def __init__(self, behaviour: Behaviour = succeed) -> None:
        self.behaviour = behaviour
        self.spawned: list[FakeWorker] = []

    async def spawn(self, worker_id: int) -> WorkerProcess:
        worker = FakeWorker(self.behaviour)
        self.spawned.append(worker)
        return cast(WorkerProcess, worker)

    def kill(self, pid: int) -> list[int]:
        for worker in self.spawned:
            if worker.pid == pid:
                worker.exit(-9)
                return [pid]
        return []

    def starts(self) -> list[dict[str, Any]]:
        """Every ``start`` message any worker was sent, in order."""
        return [m for w in self.spawned for m in w.messages if m["type"] == "start"]
