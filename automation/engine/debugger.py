"""The step debugger's side of the engine: a small hook called before each node runs.

The engine knows nothing of terminals, pipes or windows.  Before a node runs
it asks its ``Debugger`` whether to stop there (``wants_pause``); if so it
hands over a ``PauseSnapshot`` (the node, the values on its input pins, its
rendered inputs, the run's variables) and waits for a ``Resume``: continue,
step (run this node and stop before the next one) or abort, plus any edited
inputs and variables, which the node then runs with.

``Breakpoints`` is the debugger every front end uses: it keeps the breakpoint
set and the stepping state, and delegates the waiting to a ``CommandSource``
(the terminal prompt of ``deskpilot run --break``, the worker's pipe).  A
pause that nobody answers within ``timeout`` seconds ends as ``continue``,
with every breakpoint dropped for the rest of the run: a forgotten breakpoint
never holds the desktop, and the run does what it would have done without
one.  The engine records each pause and its end in the run's events
(``NodePaused``, ``NodeResumed``) and does not count the pause against step
timeouts or the run's time limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

#: How long a pause waits for a command before the run continues on its own.
DEFAULT_PAUSE_TIMEOUT = 600.0


class DebugAction(StrEnum):
    CONTINUE = "continue"  # run on to the next breakpoint
    STEP = "step"  # run this node, pause before the next one
    ABORT = "abort"  # cancel the run here


class PauseReason(StrEnum):
    BREAKPOINT = "breakpoint"
    STEP = "step"


@dataclass(frozen=True, kw_only=True)
class PauseSnapshot:
    """What a paused node is about to run with; values are already masked of secrets."""

    run_id: str
    node_id: str
    block: str
    step: int
    reason: PauseReason
    #: Values that arrived on the node's linked input pins.
    pins: dict[str, Any] = field(default_factory=dict)
    #: The inputs the block will receive: literals, rendered templates and pin values.
    inputs: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    #: Outputs of the nodes that already ran (``nodes.X.pin`` in templates).
    nodes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Resume:
    """The answer to a pause: what to do, and values to run the node with instead."""

    action: DebugAction = DebugAction.CONTINUE
    inputs: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    #: True when nobody answered and the pause ran out of time.
    timed_out: bool = False


class Debugger(Protocol):
    """What the engine calls; one per run, called from the run's thread."""

    #: Seconds a pause waits for a command (recorded with the pause).
    timeout: float

    def wants_pause(self, node_id: str) -> PauseReason | None: ...

    def pause(self, snapshot: PauseSnapshot) -> Resume: ...


class CommandSource(Protocol):
    """Where a paused run's commands come from; returns None when ``timeout`` passed first."""

    def next_command(self, snapshot: PauseSnapshot, timeout: float) -> Resume | None: ...


class Breakpoints:
    """Breakpoints and stepping, with a time limit on every pause.

    The breakpoint set may change while the run goes on (the GUI toggles a
    node on a running run), so it is guarded by a lock.
    """

    def __init__(
        self,
        nodes: Iterable[str],
        source: CommandSource,
        *,
        timeout: float = DEFAULT_PAUSE_TIMEOUT,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"the pause timeout must be positive, got {timeout:g} s")
        self._nodes = set(nodes)
        self._lock = threading.Lock()
        self.source = source
        self.timeout = timeout
        self.stepping = False

    @property
    def nodes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._nodes)

    def set_nodes(self, nodes: Iterable[str]) -> None:
        with self._lock:
            self._nodes = set(nodes)

    def wants_pause(self, node_id: str) -> PauseReason | None:
        if self.stepping:
            return PauseReason.STEP
        with self._lock:
            return PauseReason.BREAKPOINT if node_id in self._nodes else None

    def pause(self, snapshot: PauseSnapshot) -> Resume:
        answer = self.source.next_command(snapshot, self.timeout)
        if answer is None:
            # nobody is there: drop the breakpoints so the run is not held again
            self.set_nodes(())
            self.stepping = False
            return Resume(action=DebugAction.CONTINUE, timed_out=True)
        self.stepping = answer.action is DebugAction.STEP
        return answer


def parse_assignment(text: str, snapshot: PauseSnapshot) -> tuple[str, str, Any]:
    """``NAME=VALUE`` typed at a pause: (``"inputs"`` or ``"vars"``, name, value).

    ``vars.NAME=...`` sets a run variable; ``NAME=...`` (or ``inputs.NAME``)
    an input of the paused node.  VALUE is read as a YAML scalar, so ``3``,
    ``true`` and ``[1, 2]`` arrive typed; quote it to keep it a string.
    """
    import yaml

    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"'{text}' is not NAME=VALUE (e.g. set url=https://example.org)")
    scope = "inputs"
    if name.startswith("vars."):
        scope, name = "vars", name[len("vars.") :]
    elif name.startswith("inputs."):
        name = name[len("inputs.") :]
    if not name:
        raise ValueError(f"'{text}' names no input or variable")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ValueError(f"cannot read the value {raw.strip()!r}: {exc}") from None
    return scope, name, value


def apply_edits(values: dict[str, Any], variables: dict[str, Any], resume: Resume) -> list[str]:
    """Write a resume's edits into the node's inputs and the run's variables; names changed."""
    changed: list[str] = []
    for name, value in resume.inputs.items():
        values[name] = value
        changed.append(f"inputs.{name}")
    for name, value in resume.vars.items():
        variables[name] = value
        changed.append(f"vars.{name}")
    return changed


def _mask() -> str:
    # imported when an edit is checked: the CLI's ``run --help`` loads this module, and
    # the redaction patterns are not cheap to import
    from automation.redaction import MASK

    return MASK


def keep_secrets(
    values: Mapping[str, Any],
    variables: Mapping[str, Any],
    resume: Resume,
    safe: Callable[[Any], Any],
    shown: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Resume, list[str]]:
    """``resume`` without edits that would turn a masked ``***`` into the literal value.

    A pause shows values masked of secrets.  A front end that sends back a
    value as it was shown (a whole object, one field of it edited) would
    replace the secret with the text ``***``, and the node would run with it.
    So an edit of a value that held a secret is dropped when it is what was
    shown (nothing was edited: the real value stays), or when it still holds
    ``***`` (the secret cannot be put back from its mask): the real value
    stays, and the note returned says so, for the run's history.  Typing a
    whole new value is applied as usual.

    The same goes for a value the pause event showed cut for size
    (``pause_values``; ``shown`` holds those copies by section): sent back as
    shown, it would replace the whole value with its first 2 KB and a note.
    """
    notes: list[str] = []

    def kept(scope: str, current: Mapping[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        copies = (shown or {}).get(scope, {})
        for name, value in edits.items():
            if name in current and name in copies:
                copy = copies[name]
                if _same(value, copy) and not _same(copy, safe(current[name])):
                    notes.append(f"{scope}.{name} came back as shown (cut): the real value kept")
                    continue
            if name in current and _held_secret(current[name], safe):
                if _same(value, safe(current[name])):
                    notes.append(f"{scope}.{name} came back as shown (masked): the real value kept")
                    continue
                if _mentions_mask(value):
                    notes.append(
                        f"{scope}.{name} was not changed: the edit still holds {_mask()}, where the "
                        "value held a secret; give the whole value to change it"
                    )
                    continue
            out[name] = value
        return out

    filtered = Resume(
        action=resume.action,
        inputs=kept("inputs", values, resume.inputs),
        vars=kept("vars", variables, resume.vars),
        timed_out=resume.timed_out,
    )
    return filtered, notes


def _held_secret(value: Any, safe: Callable[[Any], Any]) -> bool:
    return _mentions_mask(safe(value)) and not _mentions_mask(value)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # an object whose == raises or is ambiguous (an array)
        return False


def _mentions_mask(value: Any) -> bool:
    if isinstance(value, str):
        return _mask() in value
    if isinstance(value, Mapping):
        return any(_mentions_mask(k) or _mentions_mask(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_mentions_mask(item) for item in value)
    return False


def resume_from(data: Mapping[str, Any]) -> Resume:
    """A ``Resume`` from its wire form (the worker pipe, the API)."""
    try:
        action = DebugAction(str(data.get("action") or "continue"))
    except ValueError:
        raise ValueError(
            f"unknown debug action {data.get('action')!r}; use continue, step or abort"
        ) from None
    inputs = data.get("inputs") or {}
    variables = data.get("vars") or {}
    if not isinstance(inputs, dict) or not isinstance(variables, dict):
        raise ValueError("'inputs' and 'vars' must be objects of name: value")
    return Resume(action=action, inputs=dict(inputs), vars=dict(variables))


__all__ = [
    "DEFAULT_PAUSE_TIMEOUT",
    "Breakpoints",
    "CommandSource",
    "DebugAction",
    "Debugger",
    "PauseReason",
    "PauseSnapshot",
    "Resume",
    "apply_edits",
    "keep_secrets",
    "parse_assignment",
    "resume_from",
]
