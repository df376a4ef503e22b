"""The engine's side of a breakpoint: pause before a node, then run it with the edits.

The debugger (``automation.engine.debugger``) decides whether to stop and
waits for the answer; this is the part that belongs to the run: the
snapshot it shows, the ``node_paused``/``node_resumed`` events, the edits,
and the time paused, which is added to the run's deadline: however the pause
ends (continue, step, an edit, its own timeout), it is not the workflow's
time.  Step deadlines start later, when the attempt does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automation.engine.debugger import DebugAction, PauseSnapshot, apply_edits, keep_secrets
from automation.engine.events import NodePaused, NodeResumed
from automation.engine.pause_values import shown_values
from automation.engine.plan import NodePlan
from automation.model import TRIGGER_PIN

if TYPE_CHECKING:
    from automation.engine.execution import Execution


def pause_before(
    run: Execution,
    plan: NodePlan,
    step: int,
    pins: dict[str, Any],
    values: dict[str, Any],
) -> None:
    """Pause before ``plan``'s node if the debugger asks to; apply the edits it returns.

    The time paused is added to the run's deadline, and to the deadlines of
    the steps still under way around the node (a ``for_each`` feeding it):
    a pause is not the workflow's time (``Execution.stop_clock``).  The
    node's own step deadline starts later, when its attempt does.
    """
    assert run.debugger is not None
    reason = run.debugger.wants_pause(plan.node_id)
    if reason is None:
        return
    given = {k: v for k, v in pins.items() if k != TRIGGER_PIN}
    snapshot = PauseSnapshot(
        run_id=run.run_id,
        node_id=plan.node_id,
        block=plan.block.id,
        step=step,
        reason=reason,
        pins=run.safe(given),
        inputs=run.safe(values),
        vars=run.safe(run.vars),
        nodes=run.safe(run.node_outputs),
    )
    timeout = run.debugger.timeout
    # the event (sent, streamed and stored) gets bounded copies: see pause_values
    shown = shown_values({"pins": snapshot.pins, "inputs": snapshot.inputs, "vars": snapshot.vars})
    run.emit(
        NodePaused,
        node_id=plan.node_id,
        step=step,
        reason=str(reason),
        pins=shown["pins"],
        inputs=shown["inputs"],
        vars=shown["vars"],
        timeout=timeout,
    )
    paused = run.clock.monotonic()
    answer = run.debugger.pause(snapshot)
    waited = run.clock.monotonic() - paused
    run.stop_clock(waited)
    answer, notes = keep_secrets(values, run.vars, answer, run.safe, shown)
    for note in notes:  # a masked value sent back is not the value: see keep_secrets
        run.log(plan.node_id, "warning", f"edit at the pause: {note}", {"step": step})
    edited = apply_edits(values, run.vars, answer)
    run.emit(
        NodeResumed,
        node_id=plan.node_id,
        step=step,
        action=str(answer.action),
        waited=waited,
        timed_out=answer.timed_out,
        edited=edited,
    )
    if answer.action is DebugAction.ABORT:
        run.cancel.set("cancelled")
    if run.drain is not None and run.drain.is_set():
        run._hold_for_shutdown()
    run._check_limits()
