"""Recorded step outputs that are not the values the step produced, and what a reused run does.

History stores what a step emitted and the variables it set, masked of
secrets (``automation.redaction``): a password read from a page is stored as
``***``.  Resuming a run, and "run from here", reuse those records instead of
running the steps again.  Reusing a masked record would hand the literal
``***`` downstream, and the run could go on to a wrong success.  The same is
true of a value JSON cannot hold (bytes, an object), which history stores as
its ``str()``.

So when a step finishes, its stored emissions (and vars) that differ from
what it produced carry a marker, ``$not_replayable``: {pin or var: why}.  It
names what was altered, never the value.  A run that reaches a recorded step
with the marker does not replay it:

* a block that is safe to repeat (``Block.idempotent``, no desktop input)
  runs again, and gets the real value;
* a block that is not, whose outputs nothing uses, is replayed (the masked
  values reach no one);
* otherwise its postcondition (``Block.check_resumed``) may give the outputs
  afresh, as for a step a dead worker left in flight (``resume``);
* and when it cannot, the run fails, naming the node and why, instead of
  going on with ``***``.  A block without any postcondition is known to fail
  before any step runs (``check_up_front``).

Each decision goes into the run's history as a log line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from automation.blocks.base import Block
from automation.blocks.invoke import emission_pins, validate_inputs
from automation.engine.events import LogEmitted
from automation.engine.failures import RunCancelled, RunFailed, error_message
from automation.engine.frames import Frame
from automation.engine.hold import DESKTOP
from automation.engine.options import StepCheckpoint
from automation.engine.plan import NodePlan
from automation.engine.resume import outputs_used
from automation.engine.run_state import RUN_STATE
from automation.errors import StepCancelled, StepTimeout
from automation.redaction import Redactor

if TYPE_CHECKING:
    from automation.engine.execution import Execution

#: The key, in a stored emission or vars_set, that names what was stored altered.
#: Pin and variable names are identifiers, so it cannot clash with one.
NOT_REPLAYABLE = "$not_replayable"
SECRET = "held a secret (stored masked)"
AS_TEXT = "is not JSON (stored as text)"


#: Types ``_faithful`` always keeps: what most steps emit, told apart without a call
#: (``stored`` runs on every finished step).
PLAIN = frozenset({str, bool, int, type(None)})


def stored(values: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """``values`` (one emission, or a step's vars_set) as history stores them: masked and marked."""
    masking = bool(redactor)
    shown: dict[str, Any] = redactor.value(dict(values)) if masking else dict(values)
    why: dict[str, str] = {}
    for name, value in values.items():
        if masking and _masked(value, redactor):
            why[name] = SECRET
        elif type(value) not in PLAIN and not _faithful(value):
            why[name] = AS_TEXT
    if why:
        shown[NOT_REPLAYABLE] = why
    return shown


def altered(recorded: StepCheckpoint) -> dict[str, str]:
    """What of a recorded step was stored altered: {pin or var: why}; empty when it replays."""
    found: dict[str, str] = {}
    for values in (*recorded.emissions, recorded.vars_set):
        marker = values.get(NOT_REPLAYABLE) if isinstance(values, Mapping) else None
        if isinstance(marker, Mapping):
            found.update({str(k): str(v) for k, v in marker.items()})
        elif marker is not None:
            found[NOT_REPLAYABLE] = str(marker)
    return found


def without_marker(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the keys history adds (the marker, a step's run-state changes)."""
    return {k: v for k, v in values.items() if k not in (NOT_REPLAYABLE, RUN_STATE)}


def describe(found: Mapping[str, str]) -> str:
    return ", ".join(f"'{name}' {why}" for name, why in sorted(found.items()))


def safe_to_repeat(block: type[Block[Any]]) -> bool:
    """Whether running the block again is harmless: idempotent and no mouse or keyboard."""
    return block.idempotent and DESKTOP not in block.resources


def _has_postcondition(block: type[Block[Any]]) -> bool:
    return block.check_resumed is not Block.check_resumed


def check_up_front(run: Execution) -> None:
    """Fail before any step runs when a reused step can be neither replayed nor run again."""
    for step, recorded in sorted(run.checkpoint.items()):
        found = altered(recorded)
        if not found or recorded.node_id not in run.workflow.nodes:
            continue
        plan = run.plan_of(recorded.node_id)
        if safe_to_repeat(plan.block) or _has_postcondition(plan.block):
            continue
        if _vars_altered(recorded) or outputs_used(run.workflow, plan):
            raise RunFailed(_cannot(plan, step, found, "it has no postcondition"), plan.node_id)


def settle_altered(
    run: Execution,
    plan: NodePlan,
    step: int,
    recorded: StepCheckpoint,
    values: dict[str, Any],
    stack: list[Frame],
) -> bool:
    """Reach a recorded step whose outputs were stored altered; True when it is settled.

    False: the step runs again now, as a new step (the caller runs it).
    """
    found = altered(recorded)
    what = describe(found)
    if safe_to_repeat(plan.block):
        _note(run, plan, step, "run_again", f"its recorded outputs {what}: run again", found)
        return False
    if not _vars_altered(recorded) and not outputs_used(run.workflow, plan):
        _note(
            run,
            plan,
            step,
            "replayed_unused",
            f"its recorded outputs {what}, but nothing uses them: reused, not run again",
            found,
        )
        run.replay_step(plan, step, recorded, stack)
        return True
    pins: dict[str, Any] | str = "it set variables that held a secret"
    if not _vars_altered(recorded):
        pins = _postcondition_outputs(run, plan, step, values)
    if isinstance(pins, str):
        raise RunFailed(_cannot(plan, step, found, pins), plan.node_id)
    _note(
        run,
        plan,
        step,
        "postcondition_outputs",
        f"its recorded outputs {what}; its postcondition holds and gave them afresh",
        found,
    )
    run.replay_step(plan, step, StepCheckpoint(node_id=plan.node_id, emissions=[pins]), stack)
    return True


def _postcondition_outputs(
    run: Execution, plan: NodePlan, step: int, values: dict[str, Any]
) -> dict[str, Any] | str:
    """The outputs the block's postcondition gives now, or why there are none."""
    from automation.blocks.context import CancelToken

    token = run.current_token = CancelToken()
    ctx = run.context(plan, step, 1, token)
    try:
        model = validate_inputs(plan.block, values, plan.node_id)
        check = run.call(plan, ctx, lambda: plan.get_instance().check_resumed(model, ctx))
    except StepCancelled:
        raise RunCancelled() from None
    except (Exception, StepTimeout) as exc:
        return f"its postcondition could not be checked ({run.redactor.text(error_message(exc))})"
    if check is None:
        return "it has no postcondition"
    if not check.held:
        return f"its postcondition does not hold ({check.detail})"
    if check.output is None:
        return f"its postcondition holds ({check.detail}) but does not give the outputs"
    return emission_pins(plan.block, check.output, plan.node_id)


def _cannot(plan: NodePlan, step: int, found: Mapping[str, str], why: str) -> str:
    return (
        f"node '{plan.node_id}' ({plan.block.id}), step {step}: its recorded outputs "
        f"{describe(found)}, so they cannot be reused as values, and it cannot be run "
        f"again safely ({plan.block.id} is not safe to repeat and {why}); "
        "run the workflow from the start, or from this node"
    )


def _vars_altered(recorded: StepCheckpoint) -> bool:
    return NOT_REPLAYABLE in recorded.vars_set


def _note(
    run: Execution,
    plan: NodePlan,
    step: int,
    decision: str,
    message: str,
    found: Mapping[str, str],
) -> None:
    run.emit(
        LogEmitted,
        node_id=plan.node_id,
        level="warning",
        message=f"step {step} was not reused: {message}",
        data={"replay_check": decision, "altered": dict(found)},
        step=step,
    )


def _masked(value: Any, redactor: Redactor) -> bool:
    """Whether masking changes ``value`` anywhere (compared part by part, never as a whole)."""
    if isinstance(value, str):
        return redactor.text(value) != value
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        return redactor.text(text) != text
    if isinstance(value, Mapping):
        return any(_masked(k, redactor) or _masked(v, redactor) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_masked(item, redactor) for item in value)
    return False


def _faithful(value: Any, depth: int = 0) -> bool:
    """Whether history's JSON keeps ``value`` as a value a replay can hand on as it is."""
    if depth > 50:
        return False
    if value is None or isinstance(value, str | bool | int | PurePath):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _faithful(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_faithful(item, depth + 1) for item in value)
    return False
