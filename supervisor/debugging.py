"""The supervisor's part of the step debugger: what a run is started with, and its pause.

A run submitted with breakpoints carries ``DebugOptions``; its worker's
``start`` message gets the breakpoints and the pause timeout, and the worker
builds the engine's ``Breakpoints`` over its pipe (``supervisor.worker``).
When the engine pauses, its ``node_paused`` event reaches the supervisor like
any other event: the supervisor keeps it as the run's ``Pause`` (what the API
shows), stops counting the run's time limit, and forwards commands
(``debug``: continue, step or abort with edits; ``breakpoints``: a new set)
to the worker.  ``node_resumed`` ends the pause.  Heartbeats go on while a
run is paused, so a paused worker is never taken for a hung one.

"Run from here" is a re-run that replays, from an earlier run's history, every
step before the chosen node's first step (``cut_checkpoint``), the way a
re-run from the failed node replays the steps that succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.engine.debugger import DEFAULT_PAUSE_TIMEOUT
from automation.engine.events import NodePaused

__all__ = [
    "DEFAULT_PAUSE_TIMEOUT",
    "DebugOptions",
    "Pause",
    "cut_checkpoint",
    "start_fields",
]


@dataclass(frozen=True, kw_only=True)
class DebugOptions:
    """How a run is debugged: where it pauses, for how long at most, where it starts."""

    breakpoints: tuple[str, ...] = ()
    #: Seconds a pause waits for a command; None: the supervisor's setting.
    pause_timeout: float | None = None
    #: Re-run from this node: the steps before its first step are replayed from history.
    run_from: str | None = None

    def __post_init__(self) -> None:
        if self.pause_timeout is not None and self.pause_timeout <= 0:
            raise ValueError(f"the pause timeout must be positive, got {self.pause_timeout:g} s")


@dataclass
class Pause:
    """A paused run as the supervisor sees it."""

    event: NodePaused
    #: Monotonic time the pause began (the supervisor's clock).
    since: float
    breakpoints: tuple[str, ...] = field(default_factory=tuple)


def start_fields(options: DebugOptions, default_timeout: float) -> dict[str, Any]:
    """The debugger's part of a worker's ``start`` message."""
    timeout = options.pause_timeout if options.pause_timeout is not None else default_timeout
    return {"breakpoints": list(options.breakpoints), "pause_timeout": timeout}


def cut_checkpoint(
    checkpoint: Mapping[str, dict[str, Any]], node_id: str
) -> dict[str, dict[str, Any]]:
    """The steps of ``checkpoint`` before ``node_id``'s first step: what "run from here" reuses.

    Step numbers are deterministic for a graph and its outputs, so the steps
    before the node's first one are what led to it; it and everything after
    run again.  A node the earlier run never reached keeps every recorded
    step (the run replays what it can and goes on from there).
    """
    steps = sorted(checkpoint, key=int)
    first = next((int(s) for s in steps if checkpoint[s].get("node_id") == node_id), None)
    if first is None:
        return dict(checkpoint)
    return {s: checkpoint[s] for s in steps if int(s) < first}
