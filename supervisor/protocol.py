"""The pipe protocol between the supervisor and its workers: newline-delimited JSON.

Supervisor to worker (the worker's stdin)::

    {"type": "start", "run_id": ..., "workflow_path": ..., "workflow_text": ...,
     "inputs": {...}, "checkpoint": {"3": {"node_id": ..., "emissions": [...], "vars_set": {...}}},
     "attempts_used": {"4": 1}, "seq_after": 12,
     "interrupted": {"step": 4, "node_id": ..., "attempt": 1},   # the step left in flight, or null
     "retry_waits": {"5": 12.5},   # steps left waiting out a retry's backoff: seconds left
     "trigger": "manual", "artifacts_dir": ..., "deadline_seconds": 3600,
     "breakpoints": ["node", ...], "pause_timeout": 600}
    {"type": "cancel", "reason": "cancelled"}
    {"type": "debug", "action": "continue" | "step" | "abort",
     "inputs": {...}, "vars": {...}}     # answers the run's pause (edits optional)
    {"type": "breakpoints", "nodes": [...]}   # the run's new set of breakpoints
    {"type": "drain"}         # shutting down: finish the running step, start no other
    {"type": "hold", "reason": ..., "since": "2026-...Z"}   # the screen locked: desktop input waits
    {"type": "release"}       # the session is usable again: held desktop steps go on

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

Both ends speak in the typed messages below, never in loose dicts: each has
``to_dict`` (its wire form above) and ``from_dict``, which refuses a message
missing a field with a ``ProtocolError``.  ``to_worker`` and ``from_worker``
read a decoded line into the right one, so what the worker reads is, by
construction, what the supervisor sends.

The messages are frozen, keyword-only value classes declared like dataclasses
(``Message``), but they share one ``__init__``, ``__eq__`` and ``__repr__``
instead of each generating and compiling its own: the supervisor and every
worker import this module, and fourteen ``@dataclass(frozen=True)`` classes
cost them about 0.1 MiB each for methods nothing needs per class.  The type
checker sees them as dataclasses (``dataclass_transform``), so both ends of
the pipe are held to the same fields as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, FrozenInstanceError, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar, dataclass_transform

from automation.engine.events import Event, event_from_dict

PROTOCOL_VERSION = 1

#: Environment of a worker started as its own process: the block ids (comma-separated) whose
#: models it compiles before its hello, so that a run handed to it does not wait for them.
WARM_BLOCKS = "DESKPILOT_WARM_BLOCKS"

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
    """A line from the other end that is not a protocol message, or lacks a field."""


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, default=str, separators=(",", ":")) + "\n").encode()


def event_message(event: Event) -> dict[str, Any]:
    return EngineEvent(event=event).to_dict()


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


R = TypeVar("R")


def _field(message: Mapping[str, Any], key: str, convert: Callable[[Any], R]) -> R:
    """``message[key]`` converted, or a ``ProtocolError`` naming the message and the field."""
    try:
        return convert(message[key])
    except KeyError:
        raise ProtocolError(f"a {message.get('type')!r} message without {key!r}") from None
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"bad {key!r} in a {message.get('type')!r} message: {exc}") from exc


def _optional(convert: Callable[[Any], R]) -> Callable[[Any], R | None]:
    return lambda value: None if value is None else convert(value)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Message:
    """A frozen, keyword-only value: the fields are the class's annotations (not ``ClassVar``).

    A default is the class attribute, or ``field(default_factory=...)``.  Two
    messages are equal when they are of the same class with equal fields.
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    #: Field -> (default, factory): exactly one of them is ``MISSING`` when the field is optional.
    _defaults: ClassVar[dict[str, tuple[Any, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict.fromkeys(getattr(cls, "_fields", ()))
        defaults = dict(cls._defaults)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            fields[name] = None
            value = cls.__dict__.get(name, MISSING)
            if isinstance(value, Field):
                defaults[name] = (value.default, value.default_factory)
                delattr(cls, name)
            elif value is not MISSING:
                defaults[name] = (value, MISSING)
        cls._fields = tuple(fields)
        cls._defaults = defaults

    def __init__(self, **values: Any) -> None:
        for name in self._fields:
            if name in values:
                value = values.pop(name)
            elif name in self._defaults:
                default, factory = self._defaults[name]
                value = default if factory is MISSING else factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing keyword argument {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {values}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


# -- supervisor to worker ------------------------------------------------------------------


class DoneStep(Message):
    """A step an earlier attempt finished: the resumed run replays its outputs."""

    node_id: str
    emissions: list[Any] = field(default_factory=list)
    vars_set: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "emissions": self.emissions, "vars_set": self.vars_set}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DoneStep:
        return cls(
            node_id=_field(data, "node_id", str),
            emissions=_field(data, "emissions", list),
            vars_set=_field(data, "vars_set", dict),
        )


class StepInFlight(Message):
    """The step an earlier attempt left running: its ``expect:`` decides if it took effect."""

    step: int
    node_id: str
    attempt: int

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "node_id": self.node_id, "attempt": self.attempt}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepInFlight:
        return cls(
            step=_field(data, "step", int),
            node_id=_field(data, "node_id", str),
            attempt=_field(data, "attempt", int),
        )


class Start(Message):
    """Run this run: the workflow snapshot, its inputs, and what it resumes from."""

    type: ClassVar[str] = "start"
    run_id: str
    workflow_text: str
    #: Gives relative paths in the workflow their meaning; None for a workflow from text.
    workflow_path: str | None
    inputs: dict[str, Any]
    #: The supervisor coerced the inputs against the workflow when the run was submitted.
    inputs_validated: bool = True
    #: Steps finished by earlier attempts, by step number.
    checkpoint: dict[int, DoneStep] = field(default_factory=dict)
    #: Attempts earlier attempts of the run used on steps they did not finish.
    attempts_used: dict[int, int] = field(default_factory=dict)
    #: Of those, the ones that count against the step's retries (not cut by a locked screen).
    attempts_spent: dict[int, int] = field(default_factory=dict)
    interrupted: StepInFlight | None = None
    #: The last event number earlier attempts used: this one numbers on from it.
    seq_after: int = 0
    #: Steps an earlier attempt left waiting out a retry's backoff: step -> seconds still to wait.
    retry_waits: dict[int, float] = field(default_factory=dict)
    trigger: str = "manual"
    artifacts_dir: str | None = None
    #: What is left of the run's time limit (a resumed run does not get it afresh).
    deadline_seconds: float | None = None
    breakpoints: tuple[str, ...] = ()
    pause_timeout: float = 600.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "run_id": self.run_id,
            "workflow_path": self.workflow_path,
            "workflow_text": self.workflow_text,
            "inputs": self.inputs,
            "inputs_validated": self.inputs_validated,
            "checkpoint": {str(step): done.to_dict() for step, done in self.checkpoint.items()},
            "attempts_used": {str(step): used for step, used in self.attempts_used.items()},
            "attempts_spent": {str(step): used for step, used in self.attempts_spent.items()},
            "interrupted": None if self.interrupted is None else self.interrupted.to_dict(),
            "seq_after": self.seq_after,
            "retry_waits": {str(step): left for step, left in self.retry_waits.items()},
            "trigger": self.trigger,
            "artifacts_dir": self.artifacts_dir,
            "deadline_seconds": self.deadline_seconds,
            "breakpoints": list(self.breakpoints),
            "pause_timeout": self.pause_timeout,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Start:
        return cls(
            run_id=_field(data, "run_id", str),
            workflow_text=_field(data, "workflow_text", str),
            workflow_path=_field(data, "workflow_path", _optional(str)),
            inputs=_field(data, "inputs", dict),
            inputs_validated=_field(data, "inputs_validated", bool),
            checkpoint=_field(
                data,
                "checkpoint",
                lambda raw: {int(step): DoneStep.from_dict(done) for step, done in raw.items()},
            ),
            attempts_used=_field(
                data, "attempts_used", lambda raw: {int(k): int(v) for k, v in raw.items()}
            ),
            attempts_spent=_field(
                {"attempts_spent": {}, **data},
                "attempts_spent",
                lambda raw: {int(k): int(v) for k, v in raw.items()},
            ),
            interrupted=_field(data, "interrupted", _optional(StepInFlight.from_dict)),
            seq_after=_field(data, "seq_after", int),
            retry_waits=_field(
                {"retry_waits": {}, **data},
                "retry_waits",
                lambda raw: {int(k): float(v) for k, v in raw.items()},
            ),
            trigger=_field(data, "trigger", str),
            artifacts_dir=_field(data, "artifacts_dir", _optional(str)),
            deadline_seconds=_field(data, "deadline_seconds", _optional(float)),
            breakpoints=_field(data, "breakpoints", lambda raw: tuple(str(n) for n in raw)),
            pause_timeout=_field(data, "pause_timeout", float),
        )


class Cancel(Message):
    """Stop the run: the engine stops at the next point it checks."""

    type: ClassVar[str] = "cancel"
    reason: str = "cancelled"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cancel:
        return cls(reason=str(data.get("reason") or "cancelled"))


class Debug(Message):
    """Answers the run's pause: continue, step or abort, with optional edits."""

    type: ClassVar[str] = "debug"
    action: str = "continue"
    inputs: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "action": self.action, "inputs": self.inputs, "vars": self.vars}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Debug:
        return cls(
            action=_field(data, "action", str),
            inputs=_field(data, "inputs", dict),
            vars=_field(data, "vars", dict),
        )


class SetBreakpoints(Message):
    """The run's new set of breakpoints."""

    type: ClassVar[str] = "breakpoints"
    nodes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "nodes": list(self.nodes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SetBreakpoints:
        return cls(nodes=_field(data, "nodes", lambda raw: tuple(str(n) for n in raw)))


class Drain(Message):
    """The supervisor is shutting down: finish the running step, start no other."""

    type: ClassVar[str] = "drain"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Drain:
        return cls()


def _aware(value: Any) -> datetime:
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return when


class Hold(Message):
    """The session cannot take input (a locked screen, sleep): desktop steps wait.

    Sent only to a worker whose run needs the desktop; ``since`` is when the
    session became unusable, for the run's history.
    """

    type: ClassVar[str] = "hold"
    reason: str
    since: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "reason": self.reason, "since": self.since.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hold:
        return cls(reason=_field(data, "reason", str), since=_field(data, "since", _aware))


class Release(Message):
    """The session is usable again: held desktop steps go on."""

    type: ClassVar[str] = "release"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        return cls()


ToWorker = Start | Cancel | Debug | SetBreakpoints | Drain | Hold | Release
_TO_WORKER: dict[str, Callable[[Mapping[str, Any]], ToWorker]] = {
    kind.type: kind.from_dict
    for kind in (Start, Cancel, Debug, SetBreakpoints, Drain, Hold, Release)
}


def to_worker(message: Mapping[str, Any]) -> ToWorker:
    """A decoded line from the supervisor as its message; ``ProtocolError`` if it is none."""
    reader = _TO_WORKER.get(str(message.get("type")))
    if reader is None:
        raise ProtocolError(f"not a message to a worker: {message.get('type')!r}")
    return reader(message)


# -- worker to supervisor ------------------------------------------------------------------


class Hello(Message):
    """Imports done, blocks registered: a warm spare, ready for its ``start``."""

    type: ClassVar[str] = "hello"
    pid: int
    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "pid": self.pid, "protocol": self.protocol}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hello:
        return cls(pid=_field(data, "pid", int), protocol=_field(data, "protocol", int))


class Heartbeat(Message):
    """Still alive (from its own thread): renews a busy worker's lease."""

    type: ClassVar[str] = "heartbeat"
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "seq": self.seq}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Heartbeat:
        return cls(seq=_field(data, "seq", int))


class EngineEvent(Message):
    """An engine event of the run, already redacted."""

    event: Event

    @property
    def type(self) -> str:
        return MESSAGE_FOR_EVENT[self.event.kind]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "event": self.event.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineEvent:
        return cls(event=message_event(dict(data)))


class Fatal(Message):
    """The worker could not run its run at all (a workflow it cannot load, no display)."""

    type: ClassVar[str] = "fatal"
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fatal:
        return cls(message=str(data.get("message") or "the worker gave no reason"))


class Drained(Message):
    """After ``drain``: between steps now, waiting to be stopped."""

    type: ClassVar[str] = "drained"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Drained:
        return cls()


FromWorker = Hello | Heartbeat | EngineEvent | Fatal | Drained
_FROM_WORKER: dict[str, Callable[[Mapping[str, Any]], FromWorker]] = {
    **{kind.type: kind.from_dict for kind in (Hello, Heartbeat, Fatal, Drained)},
    **{message: EngineEvent.from_dict for message in EVENT_MESSAGES},
}


def from_worker(message: Mapping[str, Any]) -> FromWorker:
    """A decoded line from a worker as its message; ``ProtocolError`` if it is none."""
    reader = _FROM_WORKER.get(str(message.get("type")))
    if reader is None:
        raise ProtocolError(f"not a message from a worker: {message.get('type')!r}")
    return reader(message)
