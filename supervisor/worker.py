"""A worker process: runs one workflow run for the supervisor and reports over a pipe.

Started as ``python -m supervisor.worker``.  It imports the engine and the
blocks first and then says ``hello``, so a spare worker can wait, warm, for
its ``start`` message: that is what makes a restart after a crash fast.

The protocol owns the real stdout; the worker points file descriptor 1 at
stderr so that a block (or a library) printing cannot corrupt it.
Heartbeats come from their own thread; if the run thread holds the GIL
forever (a catastrophic regex, a C call), heartbeats stop and the supervisor
knows.  ``faulthandler`` is armed on SIGUSR1 so the supervisor can ask for a
stack dump of every thread before it kills a hung worker.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

# Imported here, before the worker says hello, not when its run first needs them:
# keyring and its backends take ~50 ms to import, httpx and jsonpath-ng about as
# long, which a restart onto a warm spare should not wait for.  (The secrets, HTTP
# and data blocks import them only when used, so the supervisor does not carry them.)
import httpx  # noqa: F401
import jsonpath_ng.ext.parser  # noqa: F401
import keyring.core  # noqa: F401

from automation.blocks.context import CancelToken
from automation.blocks.registry import BlockRegistry
from automation.engine.debugger import (
    DEFAULT_PAUSE_TIMEOUT,
    Breakpoints,
    DebugAction,
    PauseSnapshot,
    Resume,
    resume_from,
)
from automation.engine.engine import Engine
from automation.engine.events import Event
from automation.engine.hold import SessionHold
from automation.engine.options import InterruptedStep, RunOptions, StepCheckpoint
from automation.errors import DeskpilotError, WorkflowInvalid
from automation.loader import LoadedWorkflow, parse_workflow
from automation.redaction import RedactingStream, process_redactor
from automation.secrets import secret_store_from_env
from automation.validation import validate
from supervisor.logs import json_handler
from supervisor.protocol import (
    PROTOCOL_VERSION,
    WARM_BLOCKS,
    Cancel,
    Debug,
    DoneStep,
    Drain,
    Drained,
    EngineEvent,
    Fatal,
    FromWorker,
    Heartbeat,
    Hello,
    Hold,
    Release,
    SetBreakpoints,
    Start,
    StepInFlight,
    decode,
    encode,
    to_worker,
)

logger = logging.getLogger(__name__)


class _Channel:
    """Serialised writes to the protocol pipe from the run and heartbeat threads."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def send(self, message: FromWorker) -> None:
        # Masked again as it leaves: engine events are masked already, but a fatal
        # message or anything else said here passes no other redactor.
        data = encode(process_redactor().value(message.to_dict()))
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                # the supervisor is gone; nobody to report to
                self.closed = True

    def sink(self, event: Event) -> None:
        self.send(EngineEvent(event=event))


#: A spare waiting for its run beats this often: nobody needs its heartbeats (leases are for
#: busy workers), and an idle supervisor should not wake up several times a second for them.
IDLE_HEARTBEAT_INTERVAL = 5.0


def _heartbeats(
    channel: _Channel, interval: float, stop: threading.Event, busy: threading.Event
) -> None:
    seq = 0
    while True:
        if busy.is_set():
            if stop.wait(interval):
                return
        else:
            # idle: beat slowly, but at once when the run starts (its lease starts then)
            busy.wait(max(interval, IDLE_HEARTBEAT_INTERVAL))
            if stop.is_set():
                return
        seq += 1
        channel.send(Heartbeat(seq=seq))


class _PipeCommands:
    """The debugger's commands as they arrive on the pipe, for the run thread to wait on.

    A cancel or a drain also ends a pause: the run must not sit at a
    breakpoint while the supervisor waits for it to stop.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[Resume] = queue.Queue()
        self.breakpoints: Breakpoints | None = None

    def next_command(self, snapshot: PauseSnapshot, timeout: float) -> Resume | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def command(self, message: Debug) -> None:
        try:
            self.queue.put(resume_from(message.to_dict()))
        except ValueError as exc:
            logger.warning("ignored a debugger command: %s", exc)

    def set_breakpoints(self, nodes: tuple[str, ...]) -> None:
        if self.breakpoints is not None:
            self.breakpoints.set_nodes(nodes)

    def wake(self, action: DebugAction) -> None:
        self.queue.put(Resume(action=action))


def _listen(
    stdin: IO[bytes],
    token: CancelToken,
    started: threading.Event,
    box: list[Start],
    drain: threading.Event,
    commands: _PipeCommands | None = None,
    hold: SessionHold | None = None,
) -> None:
    """Read supervisor messages: the first ``start``, then ``cancel``, ``drain``, ``debug``...

    ``hold`` and ``release`` (the screen locked, then unlocked) set the run's
    ``SessionHold``, which its desktop steps wait on.
    """
    commands = commands or _PipeCommands()
    hold = hold or SessionHold()
    for raw in stdin:
        try:
            message = to_worker(decode(raw))
        except ValueError as exc:  # ProtocolError: a line that is not a message to us
            logger.warning("ignored a line from the supervisor: %s", exc)
            continue
        if isinstance(message, Start) and not started.is_set():
            box.append(message)
            started.set()
        elif isinstance(message, Cancel):
            token.set(message.reason)
            commands.wake(DebugAction.ABORT)
            hold.wake()
        elif isinstance(message, Drain):
            drain.set()
            commands.wake(DebugAction.CONTINUE)
            hold.wake()
        elif isinstance(message, Hold):
            hold.hold(message.reason, message.since)
        elif isinstance(message, Release):
            hold.release()
        elif isinstance(message, Debug):
            commands.command(message)
        elif isinstance(message, SetBreakpoints):
            commands.set_breakpoints(message.nodes)
    # stdin closed: the supervisor went away; stop the run rather than orphan it
    token.set("cancelled")
    commands.wake(DebugAction.ABORT)
    hold.wake()
    started.set()


def _checkpoint(done: dict[int, DoneStep]) -> dict[int, StepCheckpoint]:
    return {
        step: StepCheckpoint(
            node_id=item.node_id, emissions=list(item.emissions), vars_set=dict(item.vars_set)
        )
        for step, item in done.items()
    }


def _interrupted(step: StepInFlight | None) -> InterruptedStep | None:
    if step is None:
        return None
    return InterruptedStep(step=step.step, node_id=step.node_id, attempt=step.attempt)


def serve(
    stdin: IO[bytes],
    stdout: IO[bytes],
    *,
    heartbeat_interval: float = 0.5,
    registry: BlockRegistry | None = None,
    warm: Iterable[str] = (),
) -> int:
    """Say hello, run the one run the supervisor starts, and return the exit status.

    ``warm``: blocks whose models are compiled before the hello (``WARM_BLOCKS``).
    """
    channel = _Channel(stdout)
    token = CancelToken()
    started = threading.Event()
    box: list[Start] = []  # the start message, once it came
    stop_beats = threading.Event()
    drain = threading.Event()
    registry = registry or BlockRegistry.with_builtins(check_schemas=False)  # see its docstring
    beats = threading.Thread(
        target=_heartbeats,
        args=(channel, heartbeat_interval, stop_beats, started),
        daemon=True,
        name="heartbeat",
    )
    beats.start()
    commands = _PipeCommands()
    # made before the run starts: a hold may arrive right behind the start message
    hold = SessionHold()
    listener = threading.Thread(
        target=_listen,
        args=(stdin, token, started, box, drain, commands, hold),
        daemon=True,
        name="listen",
    )
    listener.start()
    _compile_models(registry, warm)
    channel.send(Hello(pid=os.getpid(), protocol=PROTOCOL_VERSION))
    started.wait()
    if not box:
        return 0
    start = box[0]
    loaded: LoadedWorkflow | None = None
    try:
        path = Path(start.workflow_path) if start.workflow_path else None
        loaded = parse_workflow(start.workflow_text, path=path)
        problem = _desktop_problem(loaded, registry)
        if problem is not None:
            channel.send(Fatal(message=problem))
            return 3
        # Everything loaded so far lives as long as the process: keep the
        # collector from walking it again and again during the run.
        gc.freeze()
        engine = Engine(
            registry,
            sink=channel.sink,
            secrets=secret_store_from_env(),
            artifacts_dir=Path(start.artifacts_dir) if start.artifacts_dir else None,
        )
        deadline = start.deadline_seconds
        # Always there, even with no breakpoint yet: the GUI may set one on the running run.
        commands.breakpoints = Breakpoints(
            list(start.breakpoints),
            commands,
            timeout=start.pause_timeout or DEFAULT_PAUSE_TIMEOUT,
        )
        options = RunOptions(
            run_id=start.run_id,
            trigger=start.trigger,
            cancel=token,
            checkpoint=_checkpoint(start.checkpoint),
            attempts_used=dict(start.attempts_used),
            attempts_spent=dict(start.attempts_spent),
            interrupted=_interrupted(start.interrupted),
            seq_after=start.seq_after,
            retry_not_before={
                step: engine.clock.monotonic() + left for step, left in start.retry_waits.items()
            },
            deadline=engine.clock.monotonic() + deadline if deadline else None,
            inputs_validated=start.inputs_validated,
            drain=drain,
            on_drained=lambda: channel.send(Drained()),
            debugger=commands.breakpoints,
            hold=hold,
        )
        result = engine.run(loaded, start.inputs, options)
        engine.close()
    except DeskpilotError as exc:
        channel.send(Fatal(message=_fatal_message(exc, loaded, registry)))
        return 3
    finally:
        stop_beats.set()
    return 0 if result.ok else 1


def _desktop_problem(loaded: LoadedWorkflow, registry: BlockRegistry) -> str | None:
    """Why a workflow that drives the desktop cannot run in this session (Wayland, no X)."""
    needs = any(
        "desktop" in block.resources
        for node in loaded.workflow.nodes.values()
        if not node.disabled and (block := registry.get(node.block)) is not None
    )
    if not needs:
        return None
    from automation.blocks.desktop.display import session_problem

    problem = session_problem(connect=True)
    return None if problem is None else f"this workflow drives the desktop, but {problem}"


def _fatal_message(
    exc: DeskpilotError, loaded: LoadedWorkflow | None, registry: BlockRegistry
) -> str:
    """Why this worker cannot run the workflow, in words a user can act on.

    The supervisor validated the workflow with its own block registry; a
    worker whose registry differs (a block plugin that fails to import in the
    worker) only finds out mid-run, where the engine has no issue list to
    give.  Validating here, on this rare path only, names the missing block.
    """
    text = str(exc)
    if loaded is not None and isinstance(exc, WorkflowInvalid) and not exc.issues:
        issues = validate(loaded, registry)
        if issues:
            text = "; ".join(str(issue) for issue in issues)
    return f"the worker could not run this workflow: {text}"


def _continue_when_orphaned() -> None:
    """Ask Linux to send us SIGCONT when our parent dies.

    A worker notices its supervisor's death by its stdin closing, and stops.
    A worker that is frozen (SIGSTOP) at that moment cannot notice anything
    and would stay, stopped, forever; SIGCONT wakes it so it sees the closed
    pipe like the others.  Elsewhere this is a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGCONT), 0, 0, 0)


def _redact_stderr() -> None:
    """Prints and tracebacks written straight to stderr (the worker's log) are masked too.

    The log handler masks what goes through logging; this catches what does not.
    ``sys.stdout`` is the same stream: fd 1 points at the log as well.
    """
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
    sys.stdout = sys.stderr


def _arm_faulthandler() -> None:
    faulthandler.enable(file=sys.stderr)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)


def _heartbeat_interval() -> float:
    return float(os.environ.get("DESKPILOT_HEARTBEAT_INTERVAL", "0.5"))


def _warm_blocks() -> list[str]:
    return [block for block in os.environ.get(WARM_BLOCKS, "").split(",") if block]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--fork-server":
        fork_server(int(sys.argv[2]))
        return
    root = logging.getLogger()
    root.addHandler(json_handler(None))
    root.setLevel(logging.INFO)
    _arm_faulthandler()
    _continue_when_orphaned()
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything printed now lands in the worker's log, not the protocol
    _redact_stderr()
    code = serve(
        sys.stdin.buffer,
        protocol_out,
        heartbeat_interval=_heartbeat_interval(),
        warm=_warm_blocks(),
    )
    protocol_out.close()
    os._exit(code)  # daemon threads may be blocked on stdin; do not wait for them


# -- the fork server ---------------------------------------------------------------------


def fork_server(fd: int) -> None:
    """Import and build everything a worker needs once, then fork a worker per request.

    ``python -m supervisor.worker --fork-server FD``: ``FD`` is a ``SOCK_SEQPACKET``
    socket to the supervisor.  Each request carries a worker id and three file
    descriptors (the worker's stdin and stdout pipes and its log file); the
    child is a complete worker in a session of its own, as if started by
    ``python -m supervisor.worker``, minus the ~0.5 s of imports and block
    registration.  Exit statuses of children go back as ``exited`` messages,
    since only this process can wait for them.  The server is single-threaded
    (forking a process with threads is unsafe) and exits when the socket
    closes: its workers notice their own stdin closing and stop by themselves.
    """
    import gc
    import json
    import socket

    sock = socket.socket(fileno=fd)
    root = logging.getLogger()
    root.addHandler(json_handler(None))
    root.setLevel(logging.INFO)
    registry = BlockRegistry.with_builtins(check_schemas=False)
    _import_desktop_modules()
    interval = _heartbeat_interval()

    def send(message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            sock.send(json.dumps(message).encode())

    def reap(signum: int, frame: object) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            send({"type": "exited", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})

    gc.collect()
    gc.freeze()  # keep the shared heap out of the children's collections: fewer copied pages
    signal.signal(signal.SIGCHLD, reap)
    send({"type": "ready", "pid": os.getpid()})
    while True:
        try:
            data, fds, _flags, _address = socket.recv_fds(sock, 65536, 3)
        except OSError:
            break
        if not data:
            break  # the supervisor went away
        request = json.loads(data)
        if _compile_models(registry, request.get("warm") or ()):
            gc.freeze()  # with the rest of the shared heap, out of the children's collections
        sys.stderr.flush()  # or the child would write our buffered log lines again
        try:
            pid = os.fork()
        except OSError as exc:  # out of processes or memory: the supervisor retries
            send({"type": "failed", "id": request["id"], "error": str(exc)})
            pid = -1
        if pid == 0:
            _forked_worker(sock, fds, registry, interval)
        for received in fds:
            os.close(received)
        if pid > 0:
            send({"type": "spawned", "id": request["id"], "pid": pid})
    os._exit(0)


def _compile_models(registry: BlockRegistry, block_ids: Iterable[str]) -> int:
    """Compile these blocks' models now: in the fork server, once for every later child; in a
    worker started as its own process, before its hello (``WARM_BLOCKS``).

    A model that fails to compile is left as it is: the worker that uses it
    compiles it again and reports the error with its run.  Returns how many it compiled.
    """
    compiled = 0
    for block_id in block_ids:
        block = registry.get(block_id)
        if block is None:
            continue
        for model in (block.Input, block.Output):
            if model.__pydantic_complete__:
                continue
            try:
                model.model_rebuild()
            except Exception as exc:
                logger.warning("could not compile the models of block %s: %s", block_id, exc)
            else:
                compiled += 1
    return compiled


def _import_desktop_modules() -> None:
    """Fork server: import every desktop block module once, for every later child.

    An image search imports most of its stages inside functions, so that the
    registry the supervisor loads stays light; without this each forked worker
    paid for them on its first search (26 modules, about 35 ms CPU).  None of
    them imports numpy or OpenCV at load time (``test_desktop_imports``), so the
    server stays single-threaded.  A module that fails to import is left to the
    worker that uses it, which reports the error with its run.
    """
    import importlib
    import pkgutil

    import automation.blocks.desktop as desktop

    for module in pkgutil.iter_modules(desktop.__path__):
        try:
            importlib.import_module(f"{desktop.__name__}.{module.name}")
        except Exception as exc:
            logger.warning("could not import %s.%s: %s", desktop.__name__, module.name, exc)


def _forked_worker(sock: Any, fds: list[int], registry: BlockRegistry, interval: float) -> None:
    """The child side of a fork: become a worker on the passed pipes; never returns."""
    code = 70
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _continue_when_orphaned()
        sock.close()
        os.setsid()  # its own session and process group: the supervisor kills the whole tree
        stdin_fd, stdout_fd, log_fd = fds
        os.dup2(stdin_fd, 0)
        os.dup2(log_fd, 2)
        os.dup2(log_fd, 1)  # anything printed lands in the worker's log, not the protocol
        os.close(stdin_fd)
        os.close(log_fd)
        os.set_inheritable(stdout_fd, False)  # commands the worker starts must not hold it
        _redact_stderr()
        _arm_faulthandler()
        protocol_out = os.fdopen(stdout_fd, "wb", buffering=0)
        code = serve(sys.stdin.buffer, protocol_out, heartbeat_interval=interval, registry=registry)
        protocol_out.close()
    except BaseException:
        import traceback

        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        os._exit(code)


if __name__ == "__main__":
    main()
