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
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import psutil

from automation.redaction import Redactor
from supervisor.interpreter import module_args
from supervisor.masking import mask_evidence
from supervisor.protocol import WARM_BLOCKS, ToWorker, encode

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
    #: Its supervisor lost the lease on its run: the run is someone else's to resume.
    LOST = "lost"
    #: The run handed to it never reported it started (``SupervisorConfig.handover_deadline``).
    NOT_STARTED = "not_started"


class WorkerProcess(Protocol):
    """What the supervisor uses of a worker process (``asyncio.subprocess.Process`` has it)."""

    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None

    @property
    def pid(self) -> int: ...

    async def wait(self) -> int | None: ...


class WorkerLauncher(Protocol):
    async def spawn(self, worker_id: int) -> WorkerProcess: ...


#: Set in every worker's environment to its launcher's log folder: how a supervisor
#: recognises workers a previous instance left behind (one instance per folder).
WORKER_MARK = "DESKPILOT_WORKER_LOGS"


@dataclass
class PythonWorkerLauncher:
    """Starts ``python -m supervisor.worker`` with its stderr in a per-worker log file."""

    log_dir: Path
    heartbeat_interval: float = 0.5
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    keep_logs: int = 50
    _spawns: int = field(default=0, init=False, repr=False)
    #: Block ids whose models the next workers compile ahead (``warm``).
    _warm: set[str] = field(default_factory=set, init=False, repr=False)

    async def spawn(self, worker_id: int) -> WorkerProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"worker-{worker_id}.log"
        env = self._environment()
        with open(log_path, "ab") as log:
            process = await asyncio.create_subprocess_exec(
                self.python,
                *module_args("supervisor.worker"),
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

    def warm(self, blocks: Iterable[str]) -> None:
        """Have the workers started from now on compile these blocks' models before their hello.

        Block models are compiled on first use (``defer_build``): by a spare, once
        its run has been handed to it, on the way to ``run_started``, which a
        restart after a crash waits for (``file.wait``: 0.8 ms of CPU).  Compiled
        before the hello, that is done while the spare waits.  Only blocks that
        runs used are named, so a worker does not compile the models of blocks no
        run needs (all the built-in ones: about 50 ms).
        """
        self._warm.update(blocks)

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "DESKPILOT_HEARTBEAT_INTERVAL": str(self.heartbeat_interval),
            WORKER_MARK: str(self.log_dir.resolve()),
            WARM_BLOCKS: ",".join(sorted(self._warm)),
        }

    def reap_strays(self) -> list[int]:
        """Kill workers that a previous supervisor using these logs left behind.

        A worker stops by itself when its supervisor dies (its stdin closes),
        but one that was frozen, or stuck in C, at that moment cannot; it would
        stay forever.  Only one supervisor runs per folder (the daemon's lock),
        so anything still marked with ours is a leftover.
        """
        mark = str(self.log_dir.resolve())
        killed: list[int] = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.pid == os.getpid() or "supervisor.worker" not in (
                    proc.info["cmdline"] or []
                ):
                    continue
                if proc.environ().get(WORKER_MARK) == mark:
                    killed += kill_tree(proc.pid)
            except psutil.Error:
                continue
        return killed

    def _prune_logs(self) -> None:
        # Every tenth start, not every one: listing and statting the folder cost a
        # millisecond a worker at 50 runs/s.  A log that vanishes meanwhile is no error.
        self._spawns += 1
        if self._spawns % 10 != 1:
            return
        dated = []
        for log in self.log_dir.glob("worker-*.log"):
            with contextlib.suppress(OSError):
                dated.append((log.stat().st_mtime, log))
        dated.sort()
        for _, old in dated[: max(0, len(dated) - self.keep_logs)]:
            with contextlib.suppress(OSError):
                old.unlink(missing_ok=True)


_ids = itertools.count(1)

#: Seconds to start workers directly after the fork server failed, before trying it again.
FORK_SERVER_RETRY = 60.0


class ForkedWorker:
    """A worker forked by the fork server: its pipes, and its exit status as the server reports it."""

    def __init__(
        self,
        pid: int,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        exited: asyncio.Future[int | None],
    ) -> None:
        self._pid = pid
        self.stdin: asyncio.StreamWriter | None = stdin
        self.stdout: asyncio.StreamReader | None = stdout
        self._exited = exited
        # Closed as soon as the exit is known, whoever (if anyone) awaits it: a
        # waiter cancelled on the way out (the fork server lost, the supervisor
        # stopping) would otherwise leave the pipe's transport open.
        exited.add_done_callback(self._close_stdin)

    def _close_stdin(self, _exited: asyncio.Future[int | None]) -> None:
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.close()

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int | None:
        returncode = await asyncio.shield(self._exited)
        self._close_stdin(self._exited)
        return returncode


@dataclass
class ForkServerLauncher(PythonWorkerLauncher):
    """Forks warm workers from a server that imported everything once (Linux).

    ``python -m supervisor.worker`` spends most of a second importing and
    registering blocks before it can take a run; with one process per run that
    caps throughput at a few runs per second per core and makes every restart
    wait for a fresh spare.  The fork server pays that once; each worker is
    then a ``fork()`` away, still one process per run, in a session of its own.
    Where the server cannot run (no ``SOCK_SEQPACKET``, it failed to start or
    died), workers are started the ordinary way.  Block plugins installed after
    the server started are seen once it restarts (``close()``).
    """

    spawn_timeout: float = 10.0
    _sock: socket.socket | None = field(default=None, init=False, repr=False)
    _server: asyncio.subprocess.Process | None = field(default=None, init=False, repr=False)
    _starting: asyncio.Lock | None = field(default=None, init=False, repr=False)
    _ready: asyncio.Future[int] | None = field(default=None, init=False, repr=False)
    _spawning: dict[int, asyncio.Future[int]] = field(default_factory=dict, init=False, repr=False)
    _exits: dict[int, asyncio.Future[int | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    _early: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    #: After the server failed, workers start directly until then (monotonic).
    _direct_until: float = field(default=0.0, init=False, repr=False)
    _watchers: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)
    #: Block ids of ``_warm`` (the models the server is to compile) it was sent.
    _warm_sent: set[str] = field(default_factory=set, init=False, repr=False)

    @staticmethod
    def supported() -> bool:
        return sys.platform.startswith("linux") and hasattr(socket, "send_fds")

    @property
    def server_pid(self) -> int | None:
        return None if self._server is None else self._server.pid

    async def spawn(self, worker_id: int) -> WorkerProcess:
        if not self.supported() or time.monotonic() < self._direct_until:
            return await super().spawn(worker_id)
        # A server killed while starting or forking is started again at once; one that
        # fails twice in a row cannot work here (a broken install, no memory), so workers
        # are started directly for a while.
        for _attempt in range(2):
            try:
                sock = await self._ensure_server()
            except (OSError, TimeoutError) as exc:
                logger.warning("the worker fork server did not start (%s)", exc)
                self.close()
                continue
            try:
                return await self._fork(sock, worker_id)
            except (OSError, TimeoutError) as exc:
                # it died (or was killed) under us: a new one is a fork away from ready
                logger.warning("the worker fork server failed (%s)", exc)
                self.close()
        logger.warning(
            "the worker fork server failed twice; starting workers directly for %.0fs",
            FORK_SERVER_RETRY,
        )
        self._direct_until = time.monotonic() + FORK_SERVER_RETRY
        return await super().spawn(worker_id)

    def warm(self, blocks: Iterable[str]) -> None:
        """Have the server compile these blocks' models before it forks the next workers.

        Block models are compiled on first use (``defer_build``).  Compiled in
        a forked worker, they are compiled again in every worker, one per run:
        0.4 ms of CPU and some 300 copied pages for the smallest block, several
        milliseconds for the largest, on the path of every run.  Compiled once
        in the server, every later child inherits them.  Only blocks that runs
        use are compiled there, so an idle server keeps the memory that
        deferring saves.  The ids go with the next fork request.
        """
        self._warm.update(blocks)

    async def _ensure_server(self) -> socket.socket:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._sock is not None and self._server is not None:
                if self._server.returncode is None:
                    return self._sock
                self.close()
            loop = self._loop = asyncio.get_running_loop()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            env = self._environment()
            try:
                with open(self.log_dir / "fork-server.log", "ab") as log:
                    self._server = await asyncio.create_subprocess_exec(
                        self.python,
                        *module_args("supervisor.worker"),
                        "--fork-server",
                        str(theirs.fileno()),
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=log,
                        env=env,
                        pass_fds=(theirs.fileno(),),
                        start_new_session=True,
                    )
            finally:
                theirs.close()
            ours.setblocking(False)
            self._sock = ours
            self._ready = loop.create_future()
            loop.add_reader(ours.fileno(), self._on_message, ours)
            try:
                await asyncio.wait_for(asyncio.shield(self._ready), self.spawn_timeout * 3)
            except BaseException:
                self.close()
                raise
            return ours

    async def _fork(self, sock: socket.socket, worker_id: int) -> WorkerProcess:
        loop = asyncio.get_running_loop()
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        log_path = self.log_path(worker_id)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        spawned: asyncio.Future[int] = loop.create_future()
        self._spawning[worker_id] = spawned
        warm = sorted(self._warm - self._warm_sent)
        try:
            request = json.dumps({"id": worker_id, "warm": warm}).encode()
            socket.send_fds(sock, [request], [stdin_r, stdout_w, log_fd])
            self._warm_sent.update(warm)
        except OSError:
            self._spawning.pop(worker_id, None)
            for fd in (stdin_r, stdin_w, stdout_r, stdout_w, log_fd):
                os.close(fd)
            raise
        finally:
            for fd in (stdin_r, stdout_w, log_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            pid = await asyncio.wait_for(spawned, self.spawn_timeout)
        except BaseException:
            self._spawning.pop(worker_id, None)
            os.close(stdin_w)
            os.close(stdout_r)
            raise
        exited: asyncio.Future[int | None] = loop.create_future()
        if pid in self._early:
            exited.set_result(self._early.pop(pid))
        else:
            self._exits[pid] = exited
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024, loop=loop)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
            os.fdopen(stdout_r, "rb", buffering=0),
        )
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(loop=loop),
            os.fdopen(stdin_w, "wb", buffering=0),
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self._prune_logs()
        return ForkedWorker(pid, writer, reader, exited)

    def _on_message(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                logger.warning("the worker fork server went away")
                self.close()
                return
            message = json.loads(data)
            kind = message.get("type")
            if kind == "ready" and self._ready is not None and not self._ready.done():
                self._ready.set_result(int(message["pid"]))
            elif kind == "spawned":
                future = self._spawning.pop(int(message["id"]), None)
                if future is not None and not future.done():
                    future.set_result(int(message["pid"]))
            elif kind == "failed":
                future = self._spawning.pop(int(message["id"]), None)
                if future is not None and not future.done():
                    future.set_exception(OSError(message.get("error", "fork failed")))
            elif kind == "exited":
                pid, code = int(message["pid"]), int(message["returncode"])
                exited = self._exits.pop(pid, None)
                if exited is None:
                    self._early[pid] = code  # exited before we heard it was spawned
                elif not exited.done():
                    exited.set_result(code)

    def close(self) -> None:
        """Stop the fork server (on its loop); workers it started run on, their exits still seen."""
        loop = self._loop
        sock, self._sock = self._sock, None
        self._warm_sent.clear()  # a new server compiles them again
        if sock is not None:
            if loop is not None and not loop.is_closed():
                loop.remove_reader(sock.fileno())
            sock.close()
        server, self._server = self._server, None
        if server is not None:
            if server.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    server.kill()
            if loop is not None and not loop.is_closed():
                reaper = loop.create_task(server.wait())
                self._watchers.add(reaper)
                reaper.add_done_callback(self._watchers.discard)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(OSError("the worker fork server exited while starting"))
        for future in self._spawning.values():
            if not future.done():
                future.set_exception(OSError("the worker fork server went away"))
        self._spawning.clear()
        # Nobody can wait for these workers now: watch them disappear instead.
        for pid, exited in self._exits.items():
            if loop is not None and not loop.is_closed():
                task = loop.create_task(_watch_exit(pid, exited))
                self._watchers.add(task)
                task.add_done_callback(self._watchers.discard)
        self._exits.clear()
        self._early.clear()

    async def aclose(self) -> None:
        """``close()``, then wait until the fork server has exited."""
        self.close()
        if self._watchers:
            await asyncio.wait(list(self._watchers), timeout=5)


async def _watch_exit(pid: int, exited: asyncio.Future[int | None]) -> None:
    """Resolve ``exited`` (status unknown: None) once ``pid`` is gone or a zombie."""
    while not exited.done():
        try:
            gone = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            gone = True
        if gone:
            exited.set_result(None)
            return
        await asyncio.sleep(0.1)


@dataclass(eq=False)
class WorkerHandle:
    process: WorkerProcess
    id: int = field(default_factory=lambda: next(_ids))
    state: WorkerState = WorkerState.STARTING
    run_id: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_heartbeat: datetime | None = None
    lease_expires: float = float("inf")
    #: Backstop deadline for the current step or run (monotonic), inf when none.
    hard_deadline: float = float("inf")
    hard_deadline_reason: ExitReason = ExitReason.TIMED_OUT
    #: When the run handed to it must have reported it started (monotonic); inf once it has.
    start_due: float = float("inf")
    kill_reason: ExitReason | None = None
    heartbeats: int = 0
    #: Sequence number of the last event of its run seen from this worker.
    last_seq: int = 0
    #: The supervisor's one pending check of this worker's lease and deadline, and when it is due.
    timer: asyncio.TimerHandle | None = None
    timer_due: float = float("inf")
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished_run: bool = False
    #: Said "drained" during a shutdown: between two steps, starting no other.
    drained: bool = False

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

    async def send(self, message: ToWorker) -> bool:
        """Write one message to the worker; False if its pipe is gone."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            return False
        try:
            stdin.write(encode(message.to_dict()))
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
    path: Path,
    *,
    pid: int,
    reason: str,
    log_tail: str,
    extra: dict[str, Any],
    redactor: Redactor | None,
) -> Path:
    """Write what the supervisor saw of a worker, secrets masked with ``redactor``.

    Command lines, the log tail and whatever ``extra`` holds are masked as a
    whole before they are encoded; ``redactor`` None (the secrets could not
    be read) withholds every field that may carry one
    (``supervisor.masking``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "reason": reason,
        "pid": pid,
        "at": datetime.now(UTC).isoformat(),
        "process_tree": process_tree(pid),
        "worker_log_tail": log_tail,
        **extra,
    }
    data = mask_evidence(data, redactor)
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


def grab_screen_png(path: Path) -> Path:
    """The whole virtual desktop as a PNG: what a hung desktop run was looking at.

    mss is imported here, not at the top: the supervisor needs it only when a
    desktop run hangs, and most supervisors never do.
    """
    import mss
    import mss.tools

    path.parent.mkdir(parents=True, exist_ok=True)
    with mss.MSS() as screen:
        shot = screen.grab(screen.monitors[0])
        mss.tools.to_png(shot.rgb, shot.size, output=str(path))
    return path


def display_available() -> bool:
    """Whether a screenshot can be attempted (on X11, only with DISPLAY set)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY"))
    return True


def tail(path: Path, limit: int = 20_000, redactor: Redactor | None = None) -> str:
    """The end of a log file; with ``redactor``, masked before it is cut.

    Cut first, the tail could begin inside a secret and keep its end, which
    no longer matches it; so a little more is read, masked, then cut.
    """
    margin = redactor.reach if redactor is not None else 0
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit - margin))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return redactor.clip_tail(text, limit) if redactor is not None else text
