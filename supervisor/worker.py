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

import faulthandler
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any

from automation.blocks.context import CancelToken
from automation.blocks.registry import BlockRegistry
from automation.engine.engine import Engine, StepCheckpoint
from automation.engine.events import Event
from automation.errors import DeskpilotError
from automation.loader import parse_workflow
from supervisor.logs import json_handler
from supervisor.protocol import PROTOCOL_VERSION, decode, encode, event_message

logger = logging.getLogger(__name__)


class _Channel:
    """Serialised writes to the protocol pipe from the run and heartbeat threads."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
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
        self.send(event_message(event))


def _heartbeats(channel: _Channel, interval: float, stop: threading.Event) -> None:
    seq = 0
    while not stop.wait(interval):
        seq += 1
        channel.send({"type": "heartbeat", "seq": seq})


def _listen(
    stdin: IO[bytes], token: CancelToken, started: threading.Event, box: dict[str, Any]
) -> None:
    """Read supervisor messages: the first ``start``, then ``cancel`` at any time."""
    for raw in stdin:
        try:
            message = decode(raw)
        except ValueError:
            continue
        if message["type"] == "start" and not started.is_set():
            box["start"] = message
            started.set()
        elif message["type"] == "cancel":
            token.set(str(message.get("reason") or "cancelled"))
    # stdin closed: the supervisor went away; stop the run rather than orphan it
    token.set("cancelled")
    started.set()


def _checkpoint(raw: dict[str, Any] | None) -> dict[int, StepCheckpoint]:
    return {
        int(step): StepCheckpoint(
            node_id=item["node_id"],
            emissions=list(item.get("emissions") or []),
            vars_set=dict(item.get("vars_set") or {}),
        )
        for step, item in (raw or {}).items()
    }


def serve(stdin: IO[bytes], stdout: IO[bytes], *, heartbeat_interval: float = 0.5) -> int:
    channel = _Channel(stdout)
    token = CancelToken()
    started = threading.Event()
    box: dict[str, Any] = {}
    stop_beats = threading.Event()
    registry = BlockRegistry.with_builtins()
    beats = threading.Thread(
        target=_heartbeats,
        args=(channel, heartbeat_interval, stop_beats),
        daemon=True,
        name="heartbeat",
    )
    beats.start()
    listener = threading.Thread(
        target=_listen, args=(stdin, token, started, box), daemon=True, name="listen"
    )
    listener.start()
    channel.send({"type": "hello", "pid": os.getpid(), "protocol": PROTOCOL_VERSION})
    started.wait()
    start = box.get("start")
    if start is None:
        return 0
    try:
        path = Path(start["workflow_path"]) if start.get("workflow_path") else None
        loaded = parse_workflow(start["workflow_text"], path=path)
        from automation.secrets import secret_store_from_env

        engine = Engine(
            registry,
            sink=channel.sink,
            secrets=secret_store_from_env(),
            artifacts_dir=Path(start["artifacts_dir"]) if start.get("artifacts_dir") else None,
        )
        deadline = start.get("deadline_seconds")
        result = engine.run(
            loaded,
            start.get("inputs") or {},
            run_id=start["run_id"],
            trigger=start.get("trigger", "manual"),
            cancel=token,
            checkpoint=_checkpoint(start.get("checkpoint")),
            attempts_used={int(k): int(v) for k, v in (start.get("attempts_used") or {}).items()},
            deadline=engine.clock.monotonic() + float(deadline) if deadline else None,
            validated_inputs=bool(start.get("inputs_validated", True)),
        )
        engine.close()
    except DeskpilotError as exc:
        channel.send({"type": "fatal", "message": str(exc)})
        return 3
    finally:
        stop_beats.set()
    return 0 if result.ok else 1


def main() -> None:
    root = logging.getLogger()
    root.addHandler(json_handler(None))
    root.setLevel(logging.INFO)
    faulthandler.enable(file=sys.stderr)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything printed now lands in the worker's log, not the protocol
    sys.stdout = sys.stderr
    interval = float(os.environ.get("DESKPILOT_HEARTBEAT_INTERVAL", "0.5"))
    code = serve(sys.stdin.buffer, protocol_out, heartbeat_interval=interval)
    protocol_out.close()
    os._exit(code)  # daemon threads may be blocked on stdin; do not wait for them


if __name__ == "__main__":
    main()
