"""The pipe protocol between the supervisor and its workers: newline-delimited JSON.

Supervisor to worker (the worker's stdin)::

    {"type": "start", "run_id": ..., "workflow_path": ..., "workflow_text": ...,
     "inputs": {...}, "checkpoint": {"3": {"node_id": ..., "emissions": [...], "vars_set": {...}}},
     "attempts_used": {"4": 1}, "seq_after": 12,
     "interrupted": {"step": 4, "node_id": ..., "attempt": 1},   # the step left in flight, or null
     "trigger": "manual", "artifacts_dir": ..., "deadline_seconds": 3600,
     "breakpoints": ["node", ...], "pause_timeout": 600}
    {"type": "cancel", "reason": "cancelled"}
    {"type": "debug", "action": "continue" | "step" | "abort",
     "inputs": {...}, "vars": {...}}     # answers the run's pause (edits optional)
    {"type": "breakpoints", "nodes": [...]}   # the run's new set of breakpoints
    {"type": "drain"}         # shutting down: finish the running step, start no other

Worker to supervisor (the worker's stdout, which nothing else may write)::

    {"type": "hello", "pid": 1234, "protocol": 1}
    {"type": "heartbeat", "seq": 17}
    {"type": "run_started" | "step_started" | "step_finished" | "step_failed" |
             "step_retrying" | "step_replayed" | "step_paused" | "step_resumed" |
             "log" | "artifact" | "run_finished",
     "event": {...}}          # an engine event, already redacted
    {"type": "fatal", "message": ...}   # the worker could not start the run
    {"type": "drained"}       # after "drain": between steps now, waiting to be stopped

Every line is one JSON object.  A worker that stops sending heartbeats is
presumed hung; a closed pipe means it exited.
"""

from __future__ import annotations

import json
from typing import Any

from automation.engine.events import Event, event_from_dict

PROTOCOL_VERSION = 1

#: Engine event kind -> message type on the wire.
MESSAGE_FOR_EVENT = {
    "run_started": "run_started",
    "node_started": "step_started",
    "node_finished": "step_finished",
    "node_failed": "step_failed",
    "node_retrying": "step_retrying",
    "node_replayed": "step_replayed",
    "node_paused": "step_paused",
    "node_resumed": "step_resumed",
    "log": "log",
    "artifact": "artifact",
    "run_finished": "run_finished",
}
EVENT_MESSAGES = frozenset(MESSAGE_FOR_EVENT.values())


class ProtocolError(ValueError):
    """A line from a worker that is not a protocol message."""


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, default=str, separators=(",", ":")) + "\n").encode()


def event_message(event: Event) -> dict[str, Any]:
    return {"type": MESSAGE_FOR_EVENT[event.kind], "event": event.to_dict()}


def decode(line: bytes | str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {line[:200]!r}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(f"not a protocol message: {line[:200]!r}")
    return message


def message_event(message: dict[str, Any]) -> Event:
    try:
        return event_from_dict(message["event"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"bad event in {message.get('type')}: {exc}") from exc
