"""Process blocks: run a command, find, stop, and read the machine's load.

``process.run`` starts the command in a session (POSIX) or process group
(Windows) of its own, so a timeout or a cancellation can stop everything it
started — children, grandchildren, a shell's background jobs — not only the
process we spawned.  Processes that escaped by starting their own session are
found through psutil's process tree and killed too.

Output is read by background threads as it arrives, so a chatty command can
never block on a full pipe; only the first ``max_output`` characters are kept.
"""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import psutil
from pydantic import Field, field_validator

from automation.blocks.base import Block, BlockInput, BlockOutput, resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.http import require  # one home until base.py has it
from automation.durations import Duration
from automation.errors import BlockError, StepTimeout
from automation.redaction import Redactor

DEFAULT_MAX_OUTPUT = 1024 * 1024
_STDERR_TAIL = 4000
_ERROR_LINES = 10
#: How long to keep reading after the command exited, in case it left a
#: background process holding its output open.
_OUTPUT_GRACE = 1.0


# -- running a command -----------------------------------------------------------------


class _Capture(threading.Thread):
    """Drains one pipe; keeps the head up to ``limit`` chars and a short tail.

    Both keep ``margin`` characters more than they show: the run's secrets are
    masked before the cut (``Redactor.clip``), so a secret the cut falls into
    is masked whole instead of leaving its first or last characters behind.
    """

    def __init__(self, stream: IO[bytes], limit: int, encoding: str, margin: int = 0) -> None:
        super().__init__(daemon=True, name="process-output")
        self._stream = stream
        self._shown = limit
        self._limit = limit + margin
        self._tail_limit = _STDERR_TAIL + margin
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._head: list[str] = []
        self._kept = 0
        self._seen = 0
        self.truncated = False
        self.tail = ""

    def run(self) -> None:
        try:
            fd = self._stream.fileno()
            while chunk := os.read(fd, 65536):
                self._take(self._decoder.decode(chunk))
            self._take(self._decoder.decode(b"", final=True))
        except (OSError, ValueError):
            pass  # the pipe was closed under us: keep what we have
        finally:
            self._stream.close()

    def _take(self, text: str) -> None:
        room = max(0, self._limit - self._kept)
        if room:
            part = text[:room]
            self._head.append(part)
            self._kept += len(part)
        self._seen += len(text)
        if self._seen > self._shown:
            self.truncated = True
        self.tail = (self.tail + text)[-self._tail_limit :]

    def text(self, redactor: Redactor) -> str:
        """The head as the step reports it: at most ``limit`` characters, secrets masked."""
        return redactor.clip("".join(self._head), self._shown)

    def last(self, redactor: Redactor) -> str:
        """The tail for an error message, secrets masked."""
        return redactor.clip_tail(self.tail, _STDERR_TAIL)


def _feed(stream: IO[bytes], data: bytes) -> None:
    try:
        with stream:
            stream.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass  # the command exited without reading all of its input; that is its choice


def _isolation() -> dict[str, Any]:
    """Popen arguments that put the command in a group we can kill as a whole."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until every process has exited (zombies count); returns the survivors."""
    end = time.monotonic() + timeout
    alive = list(processes)
    while alive:
        alive = [p for p in alive if not _gone(p)]
        if not alive or time.monotonic() >= end:
            break
        time.sleep(0.02)
    return alive


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and everything it started, then reap the command."""
    if proc.returncode is not None:
        return  # already reaped: its id, and its group's, may belong to someone else now
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # same id as the session we created
    for child in descendants:  # those that moved to a session of their own
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    proc.kill()
    proc.wait(timeout=5)
    _wait_gone(descendants, timeout=2.0)


class RunInput(BlockInput):
    args: list[str] | None = Field(
        None, description="program and its arguments, e.g. ['git', 'pull']; no shell involved"
    )
    command: str | None = Field(None, description="a shell command line; needs shell: true")
    shell: bool = Field(False, description="run 'command' through the system shell")
    cwd: str | None = Field(
        None, description="working folder, relative to the workflow file (default: its folder)"
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="environment variables to add or override"
    )
    stdin: str | None = Field(None, description="text to send to the command's standard input")
    timeout: Duration = Field(
        60.0, description="stop the command and everything it started after this long"
    )
    max_output: int = Field(
        DEFAULT_MAX_OUTPUT, gt=0, description="keep at most this many characters of each output"
    )
    check: bool = Field(True, description="fail the step when the exit code is not 0")
    encoding: str = Field("utf-8", description="encoding of the command's output")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding '{value}'") from None
        return value

    def problem(self) -> str | None:
        if self.shell:
            if self.command is None or self.args is not None:
                return "with shell: true give 'command' (one string), not 'args'"
        elif self.command is not None:
            return "'command' runs through a shell: set shell: true, or give 'args' as a list"
        elif not self.args:
            return "give 'args', the program and its arguments as a list"
        return None

    def display(self, redactor: Redactor) -> str:
        """The command for messages: secrets masked first, then cut to 200 characters."""
        text = self.command if self.shell else shlex.join(self.args or [])
        return redactor.clip(text or "", 200, suffix="…")


class RunOutput(BlockOutput):
    exit_code: int = Field(description="exit code; negative if killed by a signal (POSIX)")
    stdout: str = Field(description="standard output (first max_output characters)")
    stderr: str = Field(description="standard error (first max_output characters)")
    stdout_truncated: bool = Field(description="stdout was longer than max_output")
    stderr_truncated: bool = Field(description="stderr was longer than max_output")
    duration: float = Field(description="seconds the command ran")
    pid: int = Field(description="process id the command ran as")


class ProcessRun(Block[RunInput]):
    """Run a program or shell command and capture its output.

    A timeout or a cancelled run kills the command with every process it
    started.  With ``check`` on, a non-zero exit fails the step with the end of
    its error output."""

    id = "process.run"
    title = "Run command"
    category = "process"
    idempotent = False
    Input = RunInput
    Output = RunOutput

    def run(self, inputs: RunInput, ctx: BlockContext) -> RunOutput:
        require(ctx, self.id, inputs.problem())
        display = inputs.display(ctx.redactor)
        cwd = resolve_path(ctx, inputs.cwd) if inputs.cwd else ctx.workflow_dir
        if not cwd.is_dir():
            raise BlockError(f"working folder '{cwd}' does not exist", retryable=False)
        limit = ctx.remaining(inputs.timeout) or inputs.timeout
        ctx.check_cancelled()
        started = time.monotonic()
        proc = _spawn(inputs, cwd, display)
        ctx.log(f"started `{display}` (pid {proc.pid})", "debug")
        assert proc.stdout is not None and proc.stderr is not None
        margin = ctx.redactor.reach
        out = _Capture(proc.stdout, inputs.max_output, inputs.encoding, margin)
        err = _Capture(proc.stderr, inputs.max_output, inputs.encoding, margin)
        out.start()
        err.start()
        if proc.stdin is not None:
            data = (inputs.stdin or "").encode(inputs.encoding)
            threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True).start()
        try:
            _wait(proc, ctx, started + limit, display, limit)
        except BaseException:
            kill_tree(proc)
            raise
        duration = time.monotonic() - started
        grace_end = time.monotonic() + _OUTPUT_GRACE
        for capture in (out, err):
            capture.join(timeout=max(0.0, grace_end - time.monotonic()))
        if out.is_alive() or err.is_alive():
            ctx.log(
                f"`{display}` exited but a process it started still holds its output open; "
                "output written after the exit is not captured",
                "warning",
            )
        code = proc.returncode
        ctx.log(f"`{display}` exited with code {code} after {duration:.2f} s")
        if inputs.check and code != 0:
            # The exit code cannot tell a transient failure from a bug; the retry
            # policy's max_attempts bounds the cost of guessing "transient".
            raise BlockError(_failure(display, code, err.last(ctx.redactor)), retryable=True)
        return RunOutput(
            exit_code=code,
            stdout=out.text(ctx.redactor),
            stderr=err.text(ctx.redactor),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            duration=duration,
            pid=proc.pid,
        )


def _spawn(inputs: RunInput, cwd: Path, display: str) -> subprocess.Popen[bytes]:
    program = (inputs.command or "") if inputs.shell else list(inputs.args or [])
    try:
        return subprocess.Popen(
            program,
            shell=inputs.shell,
            cwd=cwd,
            env={**os.environ, **inputs.env},
            stdin=subprocess.PIPE if inputs.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **_isolation(),
        )
    except FileNotFoundError:
        raise BlockError(
            f"program '{(inputs.args or [display])[0]}' was not found; check its name, or give "
            "the full path",
            retryable=False,
        ) from None
    except PermissionError:
        raise BlockError(
            f"not allowed to run `{display}`; check that the file is executable",
            retryable=False,
        ) from None
    except OSError as exc:
        raise BlockError(f"could not start `{display}`: {exc}", retryable=False) from None


def _wait(
    proc: subprocess.Popen[bytes], ctx: BlockContext, end: float, display: str, limit: float
) -> None:
    """Wait for exit, waking at once on cancellation; raise at the timeout.

    The caller kills the process tree on any exception from here."""
    while proc.poll() is None:
        ctx.check_cancelled()
        if time.monotonic() >= end:
            ctx.check_cancelled()  # the step deadline rather than our own timeout
            raise StepTimeout(
                f"`{display}` did not finish within {limit:g} s; it was stopped together with "
                "every process it started (raise 'timeout' if it needs longer)"
            )
        ctx.cancel.event.wait(min(0.05, max(0.0, end - time.monotonic())))


def _failure(display: str, code: int, stderr_tail: str) -> str:
    if code < 0 and sys.platform != "win32":
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    lines = stderr_tail.strip().splitlines()[-_ERROR_LINES:]
    detail = "\n".join(lines) if lines else "(no error output)"
    return f"`{display}` {how}:\n{detail}"


# -- finding and stopping processes ----------------------------------------------------


def _protected() -> set[int]:
    """This process and its ancestors: a pattern like 'python*' must not stop Deskpilot."""
    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.parents())}


def find_processes(
    name: str | None, pid: int | None, match_command_line: bool
) -> list[psutil.Process]:
    """Live processes by pid, or whose name (or command line) matches a glob, any case."""
    protected = _protected()
    if pid is not None:
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return []
        return [] if _gone(process) else [process]
    pattern = (name or "").lower()
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        info = process.info
        if process.pid in protected or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(info["cmdline"] or [])
        subject = cmdline if match_command_line else info["name"] or ""
        if fnmatch.fnmatchcase(subject.lower(), pattern):
            found.append(process)
    return found


class _SelectInput(BlockInput):
    name: str | None = Field(
        None, description="process name pattern, like 'notepad*' or 'firefox' (any case)"
    )
    pid: int | None = Field(None, gt=0, description="process id")
    match_command_line: bool = Field(
        False, description="match the pattern against the full command line instead of the name"
    )

    def problem(self) -> str | None:
        if (self.name is None) == (self.pid is None):
            return "give either 'name' or 'pid', not both"
        return None


class IsRunningInput(_SelectInput):
    pass


class IsRunningOutput(BlockOutput):
    running: bool = Field(description="at least one matching process is running")
    pids: list[int] = Field(description="ids of the matching processes")


class ProcessIsRunning(Block[IsRunningInput]):
    """Check whether a process is running, by name pattern or by id."""

    id = "process.is_running"
    title = "Is process running"
    category = "process"
    Input = IsRunningInput
    Output = IsRunningOutput

    def run(self, inputs: IsRunningInput, ctx: BlockContext) -> IsRunningOutput:
        require(ctx, self.id, inputs.problem())
        found = find_processes(inputs.name, inputs.pid, inputs.match_command_line)
        pids = sorted(p.pid for p in found)
        return IsRunningOutput(running=bool(pids), pids=pids)


class KillInput(_SelectInput):
    grace: Duration = Field(
        5.0, description="how long to wait after asking politely (TERM) before forcing (KILL)"
    )
    tree: bool = Field(False, description="also stop the processes they started")
    missing_ok: bool = Field(True, description="succeed when nothing matches")


class KillOutput(BlockOutput):
    killed: list[int] = Field(description="ids of the processes that were stopped")


class ProcessKill(Block[KillInput]):
    """Stop processes by name pattern or id: TERM first, KILL after a grace period.

    Deskpilot's own process and its parents are never matched."""

    id = "process.kill"
    title = "Stop process"
    category = "process"
    idempotent = False
    Input = KillInput
    Output = KillOutput

    def run(self, inputs: KillInput, ctx: BlockContext) -> KillOutput:
        require(ctx, self.id, inputs.problem())
        if inputs.pid is not None and inputs.pid in _protected():
            raise BlockError(
                f"refusing to stop pid {inputs.pid}: it is Deskpilot itself", retryable=False
            )
        targets = find_processes(inputs.name, inputs.pid, inputs.match_command_line)
        if inputs.tree:
            targets = _with_descendants(targets)
        if not targets:
            what = inputs.name if inputs.pid is None else f"pid {inputs.pid}"
            if inputs.missing_ok:
                ctx.log(f"no running process matches {what}")
                return KillOutput(killed=[])
            raise BlockError(f"no running process matches {what}", retryable=False)
        _signal_all(targets, terminate=True)
        alive = _wait_cancellably(ctx, targets, ctx.remaining(inputs.grace) or inputs.grace)
        if alive:
            ctx.log(f"{len(alive)} process(es) ignored TERM; killing", "warning")
            _signal_all(alive, terminate=False)
            alive = _wait_cancellably(ctx, alive, ctx.remaining(5.0) or 5.0)
        if alive:
            raise BlockError(
                f"processes {sorted(p.pid for p in alive)} are still running after KILL",
                retryable=True,
            )
        killed = sorted(p.pid for p in targets)
        ctx.log(f"stopped {killed}")
        return KillOutput(killed=killed)


def _with_descendants(processes: list[psutil.Process]) -> list[psutil.Process]:
    seen = {p.pid: p for p in processes}
    for process in processes:
        try:
            for child in process.children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    return list(seen.values())


def _signal_all(processes: list[psutil.Process], *, terminate: bool) -> None:
    for process in processes:
        try:
            if terminate:
                process.terminate()
            else:
                process.kill()
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            raise BlockError(
                f"not allowed to stop pid {process.pid} ({_name(process)}); it belongs to "
                "another user",
                retryable=False,
            ) from None


def _wait_cancellably(
    ctx: BlockContext, processes: list[psutil.Process], timeout: float
) -> list[psutil.Process]:
    end = time.monotonic() + timeout
    alive = processes
    while True:
        alive = _wait_gone(alive, timeout=min(0.1, max(0.0, end - time.monotonic())))
        if not alive or time.monotonic() >= end:
            return alive
        ctx.check_cancelled()


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "?"


# -- system load -----------------------------------------------------------------------


class LoadInput(BlockInput):
    path: str = Field(
        ".", description="folder whose disk usage to report, relative to the workflow"
    )
    interval: Duration = Field(
        0.5, le=10, description="how long to sample CPU usage (capped by the deadline)"
    )


class LoadOutput(BlockOutput):
    cpu_percent: float = Field(description="CPU use over the interval, 0-100 across all cores")
    memory_percent: float = Field(description="memory in use, percent")
    memory_available: int = Field(description="memory available to new programs, bytes")
    disk_percent: float = Field(description="disk space in use on the path's volume, percent")
    disk_free: int = Field(description="free disk space on the path's volume, bytes")
    load_average: list[float] = Field(description="1, 5 and 15 minute load averages")


class SystemLoad(Block[LoadInput]):
    """Measure CPU, memory and disk use, e.g. to wait until the machine is idle."""

    id = "system.load"
    title = "System load"
    category = "process"
    Input = LoadInput
    Output = LoadOutput

    def run(self, inputs: LoadInput, ctx: BlockContext) -> LoadOutput:
        path = resolve_path(ctx, inputs.path)
        try:
            disk = psutil.disk_usage(str(path))
        except OSError as exc:
            raise BlockError(
                f"cannot read disk usage of '{path}': {exc.strerror or exc}", retryable=False
            ) from None
        ctx.check_cancelled()
        cpu = psutil.cpu_percent(interval=ctx.remaining(inputs.interval) or inputs.interval)
        memory = psutil.virtual_memory()
        return LoadOutput(
            cpu_percent=cpu,
            memory_percent=memory.percent,
            memory_available=memory.available,
            disk_percent=disk.percent,
            disk_free=disk.free,
            load_average=list(psutil.getloadavg()),
        )


BLOCKS = (ProcessRun, ProcessIsRunning, ProcessKill, SystemLoad)
