"""What one run of a workflow is asked to do: ``RunOptions`` and the resume records it carries.

``Engine.run(loaded, inputs, RunOptions(...))`` takes one frozen value instead
of a long list of keyword arguments, so the worker, ``deskpilot run``, subflows
and tests all describe a run the same way, and a bad value fails where the
options are made, not halfway through a run.  Everything has a default: a
plain ``RunOptions()`` is a fresh manual run with a new id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.blocks.context import CancelToken
from automation.engine.debugger import Debugger
from automation.engine.hold import SessionHold
from automation.redaction import Redactor


@dataclass(frozen=True)
class StepCheckpoint:
    """What a resumed run needs of a finished step: who ran and what came out."""

    node_id: str
    emissions: list[dict[str, Any]]
    vars_set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InterruptedStep:
    """The step a dead worker left in flight: which step, node and attempt it was.

    A resumed run reaching that step asks its block (``Block.check_resumed``)
    whether the step already took effect before running it again, and
    records the answer in the run's history.
    """

    step: int
    node_id: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run one workflow: identity, resume state, limits, and the hooks around it.

    Resuming: ``checkpoint`` holds the finished steps (replayed, not run
    again); ``attempts_used`` the attempts spent by steps that were cut short,
    so attempt numbers carry on instead of repeating; ``seq_after`` the last
    event number the earlier attempts used, so this run's events number on
    after theirs (a run's history is one sequence, ordered and paged by that
    number); ``interrupted`` the step that was in flight when the last worker
    died, whose postcondition, where its block has one, decides whether it
    runs again; ``retry_not_before`` the steps it left waiting out a retry's
    backoff, with the ``clock.monotonic()`` value their next attempt waits for.

    ``drain``, once set, makes the run start no new step: it calls
    ``on_drained`` and waits at that step boundary until it is cancelled (or
    its process is stopped), so a shutdown interrupts it between steps and the
    next start resumes it there, instead of cutting a step short.

    ``hold``, when given, is set while the session cannot take input (a locked
    screen): steps that drive the desktop wait on it (``automation.engine.hold``).

    ``debugger``, when given, is asked before each node whether to pause there
    (``automation.engine.debugger``); subflows run without it.
    """

    #: The run's id; a new one is made when None.
    run_id: str | None = None
    #: What started the run, as history shows it ("manual", "schedule:...", "subflow:<id>").
    trigger: str = "manual"
    #: Set it to cancel the run; the run makes its own when None.
    cancel: CancelToken | None = None
    checkpoint: Mapping[int, StepCheckpoint] = field(default_factory=dict)
    attempts_used: Mapping[int, int] = field(default_factory=dict)
    #: Of those, the attempts that count against each step's retries (``attempt_budget``):
    #: all but those a locked screen cut short.  A step missing here counts them all.
    attempts_spent: Mapping[int, int] = field(default_factory=dict)
    seq_after: int = 0
    interrupted: InterruptedStep | None = None
    retry_not_before: Mapping[int, float] = field(default_factory=dict)
    #: The run that called this one as a subflow.
    parent_run_id: str | None = None
    #: A ``clock.monotonic()`` value the run must end by (a subflow node's timeout, the
    #: supervisor's time limit); the workflow's own ``limits.max_duration`` applies too.
    deadline: float | None = None
    #: Masks secret values in events; a run shares its parent's, or gets its own.
    redactor: Redactor | None = None
    #: How many subflows deep this run is (0 for a top-level run).
    depth: int = 0
    #: True when the caller already coerced ``inputs`` to the workflow's declared types.
    inputs_validated: bool = False
    drain: threading.Event | None = None
    on_drained: Callable[[], None] | None = None
    debugger: Debugger | None = None
    hold: SessionHold | None = None

    def __post_init__(self) -> None:
        if self.run_id is not None and not self.run_id:
            raise ValueError("run_id must not be empty; leave it out to get a new id")
        if self.seq_after < 0:
            raise ValueError(f"seq_after must be at least 0, got {self.seq_after}")
        if self.depth < 0:
            raise ValueError(f"depth must be at least 0, got {self.depth}")
        for step, used in (*self.attempts_used.items(), *self.attempts_spent.items()):
            if used < 0:
                raise ValueError(f"attempts used by step {step} must be at least 0, got {used}")
        if self.on_drained is not None and self.drain is None:
            raise ValueError("on_drained is called when drain is set; give drain too")
