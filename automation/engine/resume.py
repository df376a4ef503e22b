"""Resuming a run: does the step a dead worker left in flight run again?

A resumed run replays its finished steps from the checkpoint.  The step that
was in flight when the worker died is different: it may or may not have
taken effect (a click sent, a file written).  Its block's postcondition
(``Block.check_resumed``), checked against the world as it is now, decides.
If it holds, the step is recorded as succeeded without being run again; if
not, or the block cannot tell, it runs as a new attempt.  Either way the
decision goes into the run's history as a log line, with the evidence.

A step the dead worker left between two attempts, waiting out its retry's
backoff, waits out the rest of it (``wait_out_retry``) before its next attempt.

A resumed step does not get its retries afresh: the attempts its earlier
workers used count against its ``retry.max_attempts`` (``attempt_budget``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from automation.blocks.base import ResumeCheck
from automation.blocks.context import CancelToken, LogLevel
from automation.blocks.invoke import emission_pins, validate_inputs
from automation.engine.events import LogEmitted, NodeRetrying, NodeStarted
from automation.engine.failures import RunCancelled, error_message
from automation.engine.frames import Frame
from automation.engine.plan import NodePlan
from automation.errors import BlockError, StepCancelled, StepTimeout
from automation.model import DONE_PIN, ERROR_PIN, Workflow

if TYPE_CHECKING:
    from automation.engine.execution import Execution


def settle_interrupted(
    run: Execution,
    plan: NodePlan,
    step: int,
    attempt: int,
    values: dict[str, Any],
    stack: list[Frame],
    *,
    cause: str = "the worker stopped",
) -> bool:
    """Decide whether ``step``, left in flight, runs again; True if it does not.

    When it does not, the step is recorded as succeeded by ``attempt`` and what
    it emitted (the postcondition's output, if any) is delivered as if it had run.
    ``cause`` says what cut it short (a dead worker; a locked screen, ``hold``).
    """
    node_id = plan.node_id
    token = run.current_token = CancelToken()
    ctx = run.context(plan, step, attempt, token)
    started = run.clock.monotonic()
    check: ResumeCheck | None = None
    try:
        model = validate_inputs(plan.block, values, node_id)
        instance = plan.get_instance()
        check = run.call(plan, ctx, lambda: instance.check_resumed(model, ctx))
    except StepCancelled:
        raise RunCancelled() from None
    except (Exception, StepTimeout) as exc:
        _record(
            run,
            step,
            node_id,
            cause,
            "unchecked",
            f"could not be checked ({error_message(exc)}): repeated",
        )
        return False
    if check is None:
        _record(run, step, node_id, cause, "none", "no postcondition to check: repeated")
        return False
    if not check.held:
        _record(
            run,
            step,
            node_id,
            cause,
            "not_held",
            f"postcondition not held: repeated ({check.detail})",
        )
        return False
    pins: dict[str, Any] = {}
    if check.output is not None:
        pins = emission_pins(plan.block, check.output, node_id)
    elif plan.block.Output.model_fields and outputs_used(run.workflow, plan):
        _record(
            run,
            step,
            node_id,
            cause,
            "held_outputs_unknown",
            f"postcondition held ({check.detail}), but other nodes use this step's "
            "outputs, which only running it gives: repeated",
        )
        return False
    _record(run, step, node_id, cause, "held", f"postcondition held: not repeated ({check.detail})")
    run.emit(NodeStarted, node_id=node_id, block=plan.block.id, step=step, attempt=attempt)
    run.finish(
        plan, step, attempt, started, [pins] if pins else [], ctx.vars_set,
        state_before=run.state_before,
    )  # fmt: skip
    if pins:
        run.record_outputs(plan, pins)
    run.deliver(plan, {**pins, DONE_PIN: True}, stack)
    return True


def attempt_budget(max_attempts: int, spent: int, *, in_flight: bool) -> int:
    """How many attempts in all a resumed step may have counted, ``spent`` of them already.

    ``spent`` counts the attempts earlier workers used on the step, the one a
    worker's death cut short included: that attempt ran (its action may have
    taken effect, its time was spent), so it is one of the step's attempts,
    as a timed-out one is.  An attempt a locked screen cut short is not
    counted (``automation.engine.hold``): the step did not fail, the session
    went away.

    The budget is the step's ``max_attempts``, except for the step that was
    in flight when its worker died: a resumed run always finishes that step
    (its postcondition, or one more attempt, decides), so when the cut
    attempt was its last, it gets that one attempt and no retry after it.
    A step left between retries whose last attempt failed with no attempt
    left (its worker died before the run ended) is not run again: it fails.
    A pure function, so the accounting is tested with plain numbers.
    """
    if in_flight:
        return max(max_attempts, spent + 1)
    return max_attempts


def spent_error(plan: NodePlan, spent: int) -> BlockError:
    """The error of a resumed step whose attempts were all used before the resume."""
    return BlockError(
        f"node '{plan.node_id}' used all {spent} of its attempts before the run was resumed "
        "(see the earlier attempts' errors in the run's history); it is not run again",
        retryable=False,
    )


def wait_out_retry(run: Execution, plan: NodePlan, step: int, attempt: int) -> None:
    """Wait out what is left of the backoff an earlier worker began before ``step``'s retry.

    The wait is announced again as ``node_retrying`` with the time left, so
    the history keeps its end if this worker is cut short too.  The run's
    deadline caps it, as it caps any backoff.
    """
    until = run.retry_not_before.pop(step, None)
    if until is None:
        return
    delay = min(until, run.deadline) - run.clock.monotonic()
    if delay <= 0:
        return
    run.emit(NodeRetrying, node_id=plan.node_id, step=step, next_attempt=attempt + 1, delay=delay)
    if run.clock.sleep(delay, run.cancel.event):
        raise RunCancelled()


def outputs_used(workflow: Workflow, plan: NodePlan) -> bool:
    """Whether another node, or the workflow's outputs, use this node's outputs."""
    if any(pin not in (DONE_PIN, ERROR_PIN) for pin in plan.out):
        return True
    name = re.escape(plan.node_id)
    mention = re.compile(rf"nodes\s*(\.\s*{name}\b|\[\s*['\"]{name}['\"])")
    values: list[Any] = [node.with_ for node in workflow.nodes.values()]
    values.append(workflow.outputs)
    return any(mention.search(text) for text in _strings(values))


def _record(
    run: Execution, step: int, node_id: str, cause: str, decision: str, message: str
) -> None:
    level: LogLevel = "info" if decision == "held" else "warning"
    run.emit(
        LogEmitted,
        node_id=node_id,
        level=level,
        message=f"step {step} was in flight when {cause}; {message}",
        data={"resume_check": decision, "repeated": decision != "held"},
        step=step,
    )


def _strings(value: Any) -> Iterator[str]:
    """Every string inside nested lists and mappings (template text to search)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
