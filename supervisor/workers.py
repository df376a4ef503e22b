"""Worker processes as the supervisor sees them: spawn, lease, kill, evidence.

A worker's life: STARTING (spawned, importing) → IDLE (said hello; a warm
spare) → BUSY (running one run) → EXITED.  STOPPING is any state after we
asked it to stop or decided to kill it.  Every change goes through
``WorkerHandle.move`` and its transition table, and is announced as an event.

Heartbeats are leases: each message from a busy worker pushes its lease
expiry forward; the supervisor reaps expired leases.  The launcher is passed
in, so tests can start any program that speaks the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import psutil

from supervisor.protocol import encode

logger = logging.getLogger(__name__)


class WorkerState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    EXITED = "exited"


ALLOWED: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.STARTING: frozenset({WorkerState.IDLE, WorkerState.STOPPING, WorkerState.EXITED}),
    WorkerState.IDLE: frozenset({WorkerState.BUSY, WorkerState.STOPPING, WorkerState.EXITED}),
    WorkerState.BUSY: frozenset({WorkerState.STOPPING, WorkerState.EXITED}),
    WorkerState.STOPPING: frozenset({WorkerState.EXITED}),
    WorkerState.EXITED: frozenset(),
}


class IllegalWorkerTransition(RuntimeError):
    pass


class ExitReason(StrEnum):
    """Why a worker went away, as the run history reports it."""

    FINISHED = "finished"
    CRASHED = "crashed"
    HUNG = "hung"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SHUTDOWN = "shutdown"


class WorkerLauncher(Protocol):
    async def spawn(self, worker_id: int) -> asyncio.subprocess.Process: ...


@dataclass
class PythonWorkerLauncher:
    """Starts ``python -m supervisor.worker`` with its stderr in a per-worker log file."""

    log_dir: Path
    heartbeat_interval: float = 0.5
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    keep_logs: int = 50

    async def spawn(self, worker_id: int) -> asyncio.subprocess.Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"worker-{worker_id}.log"
        env = {
            **os.environ,
            **self.env,
            "DESKPILOT_HEARTBEAT_INTERVAL": str(self.heartbeat_interval),
        }
        with open(log_path, "ab") as log:
            process = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "supervisor.worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,  # its own process group: we kill the whole tree
                limit=64 * 1024 * 1024,
            )
        self._prune_logs()
        return process

    def log_path(self, worker_id: int) -> Path:
        return self.log_dir / f"worker-{worker_id}.log"

    def _prune_logs(self) -> None:
        logs = sorted(self.log_dir.glob("worker-*.log"), key=lambda p: p.stat().st_mtime)
        for old in logs[: max(0, len(logs) - self.keep_logs)]:
            old.unlink(missing_ok=True)


_ids = itertools.count(1)


@dataclass(eq=False)
class WorkerHandle:
    process: asyncio.subprocess.Process
    id: int = field(default_factory=lambda: next(_ids))
    state: WorkerState = WorkerState.STARTING
    run_id: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_heartbeat: datetime | None = None
    lease_expires: float = float("inf")
    #: Backstop deadline for the current step or run (monotonic), inf when none.
    hard_deadline: float = float("inf")
    hard_deadline_reason: ExitReason = ExitReason.TIMED_OUT
    kill_reason: ExitReason | None = None
    heartbeats: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished_run: bool = False

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def move(self, new: WorkerState) -> WorkerState:
        old = self.state
        if new is old:
            return old
        if new not in ALLOWED[old]:
            raise IllegalWorkerTransition(f"worker {self.id} cannot go from '{old}' to '{new}'")
        self.state = new
        return old

    async def send(self, message: dict[str, Any]) -> bool:
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            return False
        try:
            stdin.write(encode(message))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "state": str(self.state),
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
            "heartbeats": self.heartbeats,
        }


def process_tree(pid: int) -> list[dict[str, Any]]:
    """A snapshot of a process and its descendants, for the record of a hang."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    tree = []
    for proc in members:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                tree.append(
                    {
                        "pid": proc.pid,
                        "ppid": proc.ppid(),
                        "status": proc.status(),
                        "cmdline": proc.cmdline(),
                        "cpu_user": times.user,
                        "cpu_system": times.system,
                        "rss": proc.memory_info().rss,
                        "threads": proc.num_threads(),
                    }
                )
        except psutil.Error:
            continue
    return tree


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and everything under it; returns the pids signalled."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    killed = []
    for proc in reversed(members):  # children first, so none is re-parented and missed
        try:
            proc.kill()
            killed.append(proc.pid)
        except psutil.NoSuchProcess:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # anything left in its session's group
    return killed


def request_stack_dump(pid: int) -> bool:
    """Ask a worker for a faulthandler dump of every thread (into its log)."""
    try:
        os.kill(pid, signal.SIGUSR1)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def save_evidence(
    path: Path, *, pid: int, reason: str, log_tail: str, extra: dict[str, Any]
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "reason": reason,
        "pid": pid,
        "at": datetime.now(UTC).isoformat(),
        "process_tree": process_tree(pid),
        "worker_log_tail": log_tail,
        **extra,
    }
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


def tail(path: Path, limit: int = 20_000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
