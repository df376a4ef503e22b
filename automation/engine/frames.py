"""The frames on a run's work stack: what the engine does next, as typed values.

A run is a loop over a stack of frames.  An ``Activation`` runs one node with
the values that arrived on its pins; a ``StreamFrame`` is a loop block (a
generator) waiting to be asked for its next emission once everything its
last emission fed has run.  Following emissions depth first is what makes
step numbers deterministic, and so lets a resumed run replay its checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from automation.blocks.context import BlockContext
from automation.engine.plan import NodePlan

#: The loop turns a value was made in: one tag per enclosing loop emission.
Context = tuple[int, ...]

#: What ``next(generator, END)`` returns when a loop block has no more emissions.
END: Final = object()


@dataclass(slots=True)
class Activation:
    """Run ``node_id`` once, with the values on its pins, in the loop turn ``ctx``.

    Not frozen, though nothing changes one: a run makes one per step, and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) cost about 1.3 µs more
    each, a twentieth of a no-op step.
    """

    node_id: str
    pins: dict[str, Any]
    ctx: Context = ()


@dataclass(slots=True)
class StreamFrame:
    """A loop block between two emissions (or, on resume, its recorded emissions replayed)."""

    plan: NodePlan
    step: int
    attempt: int
    generator: Iterator[Any]
    #: The block's context; None when the emissions are replayed from a checkpoint.
    ctx: BlockContext | None
    started: float
    emissions: list[dict[str, Any]] = field(default_factory=list)
    replay: bool = False
    #: The context the loop block itself ran in; each emission adds a tag to it.
    turn: Context = ()


Frame = Activation | StreamFrame


def stop_clocks(frames: list[Frame], waited: float) -> None:
    """Move the deadlines of the steps under way on ``frames`` (loops) back by ``waited``.

    For time that is not the workflow's: a breakpoint pause, a locked screen's
    hold.  The run's own deadline moves too (the caller moves it).
    """
    for frame in frames:
        ctx = frame.ctx if isinstance(frame, StreamFrame) else None
        if ctx is not None and ctx.deadline is not None:
            ctx.deadline += waited
