"""One run of a workflow graph, in the calling thread: ``Execution``.

Execution is dataflow.  Nodes without incoming links start the run.  A node
runs when every input pin that has a link has received a value; pins keep
their last value, so a node fed once by a setting and many times by a loop
runs once per loop item (``dataflow``).  Emissions are followed depth first
(``frames``): what one emission feeds runs to completion before the emitting
block (a ``for_each``) is resumed, which gives loops their natural order and
keeps step numbers deterministic.  Deterministic step numbers are what let an
interrupted run resume: given a checkpoint of finished steps, the run walks
the same graph and replays each recorded step's outputs instead of running it
again (``resume`` settles the step that was in flight).

Each attempt of each step is wrapped in the retry policy and a deadline (the
node's timeout, capped by the run's time limit).  The implicit ``error`` pin,
when linked, catches a node's final failure; otherwise the run fails.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automation.blocks.base import BlockInput
from automation.blocks.context import BlockContext, CancelToken, LogLevel, RunHooks
from automation.blocks.invoke import emission_pins, is_generator, validate_inputs
from automation.engine.dataflow import Dataflow
from automation.engine.events import (
    ArtifactSaved,
    Event,
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodeReplayed,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
)
from automation.engine.failures import RunCancelled, RunFailed, error_message, failure_kind
from automation.engine.frames import END, Activation, Context, Frame, StreamFrame, stop_clocks
from automation.engine.hold import DESKTOP, Held, hold_before, hold_inside, lock_cut
from automation.engine.options import RunOptions, StepCheckpoint
from automation.engine.pausing import pause_before
from automation.engine.plan import NodePlan, plan_node
from automation.engine.replayable import (
    altered,
    check_up_front,
    settle_altered,
    stored,
    without_marker,
)
from automation.engine.result import NodeSummary, RunResult
from automation.engine.resume import (
    attempt_budget,
    settle_interrupted,
    spent_error,
    wait_out_retry,
)
from automation.engine.run_state import record_changes, replay_changes, state_changes
from automation.engine.subflow import run_subflow
from automation.engine.watchdog import StepWatchdog
from automation.errors import (
    DeskpilotError,
    RunError,
    SecretError,
    SessionInterrupted,
    StepTimeout,
    TemplateError,
    is_retryable,
)
from automation.graph import WorkflowGraph
from automation.loader import LoadedWorkflow
from automation.model import DONE_PIN, ERROR_PIN, TRIGGER_PIN
from automation.redaction import Redactor, process_redactor
from automation.templates import render_value

if TYPE_CHECKING:
    from automation.engine.engine import Engine

logger = logging.getLogger(__name__)


class _Secrets:
    """``secrets.NAME`` in templates: looked up on first use, then redacted everywhere."""

    def __init__(self, lookup: Callable[[str], str]) -> None:
        self._lookup = lookup

    def __getitem__(self, name: str) -> str:
        return self._lookup(name)


class Execution(RunHooks):
    """One run of one workflow: its state, its work stack, and the hooks its blocks call.

    Made by ``Engine.run`` (and by a subflow node, for the child run) and
    used once: ``execute()`` runs it to the end.
    """

    def __init__(
        self, engine: Engine, loaded: LoadedWorkflow, inputs: dict[str, Any], options: RunOptions
    ) -> None:
        run_id = options.run_id or uuid.uuid4().hex
        trigger = options.trigger
        deadline = options.deadline
        self.engine = engine
        self.clock = engine.clock
        self.loaded = loaded
        self.workflow = loaded.workflow
        self.inputs = inputs
        self.run_id = run_id
        self.trigger = trigger
        self.cancel = options.cancel or CancelToken()
        self.checkpoint: dict[int, StepCheckpoint] = dict(options.checkpoint)
        self.attempts_used: dict[int, int] = dict(options.attempts_used)
        self.attempts_spent: dict[int, int] = dict(options.attempts_spent)
        self.parent_run_id = options.parent_run_id
        self.redactor = (
            options.redactor
            if options.redactor is not None
            else Redactor(parent=process_redactor())
        )
        self.depth = options.depth
        self.drain = options.drain
        self.on_drained = options.on_drained
        #: The step a dead worker left in flight, until this run reaches it.
        self.interrupted = options.interrupted
        #: Steps an earlier worker left between retries: step -> monotonic time to go on at.
        self.retry_not_before: dict[int, float] = dict(options.retry_not_before)
        self.debugger = options.debugger
        #: Set while a locked screen holds desktop steps (``automation.engine.hold``).
        self.hold = options.hold
        #: The hold generation the running desktop step has seen (started in, or waited out).
        self.lock_seen = 0
        #: The hold the run was still in when its time ran out: its error names it.
        self.held_at_deadline: Held | None = None
        self.thread = threading.get_ident()
        self.random = random.Random(engine.seed)
        # One watchdog per run: runs in other threads on the same engine keep their own.
        self.watchdog = StepWatchdog(grace=engine.kill_grace)
        self.current_token: CancelToken | None = None
        self.seq = options.seq_after
        self.step = 0
        self.started = self.clock.monotonic()
        limit = self.started + self.workflow.limits.max_duration
        self.deadline = limit if deadline is None else min(limit, deadline)
        #: True when the deadline came from outside (a subflow node's timeout), not our limit.
        self.deadline_given = deadline is not None and deadline < limit
        self.vars: dict[str, Any] = dict(self.workflow.vars)
        #: BlockContext.run_state: what one step leaves for the next; recorded (``run_state``)
        self.block_state: dict[str, Any] = {}
        #: The run's work stack (``frames``), while it runs.
        self.stack: list[Frame] = []
        #: The run whose subflow node runs this one (``subflow``), for ``stop_clock``.
        self.parent: Execution | None = None
        #: The run state before the current step: its finish records what changed since.
        self.state_before: dict[str, Any] = {}
        self.node_outputs: dict[str, dict[str, Any]] = {}
        self.summaries: dict[str, NodeSummary] = {nid: NodeSummary() for nid in self.workflow.nodes}
        self.graph = WorkflowGraph(self.workflow)
        # planned on first use: a 10,000-node workflow should not wait for all of it
        self.plans: dict[str, NodePlan] = {}
        self.dataflow = Dataflow(self.linked_pins)
        #: Context of the activation being run; what it emits carries it.
        self.ctx: Context = ()
        self.tags = 0
        self.stopped_reason: str | None = None
        self.current_node: str | None = None
        self.current_step = 0
        self.artifacts_dir = (
            engine.artifacts_dir or loaded.directory / ".deskpilot-artifacts"
        ) / run_id
        self.workflow_dir = loaded.directory  # fixed for the run, even if the cwd changes
        self.scope = {
            "inputs": self.inputs,
            "vars": self.vars,
            "env": engine.environ,
            "secrets": _Secrets(self.secret),
            "nodes": self.node_outputs,
            "run": {"id": run_id, "workflow": self.workflow.name, "trigger": trigger},
        }

    # -- planning ----------------------------------------------------------------
    def plan_of(self, node_id: str) -> NodePlan:
        plan = self.plans.get(node_id)
        if plan is None:
            plan = self.plans[node_id] = plan_node(
                self.workflow, self.graph, self.engine.registry, node_id
            )
        return plan

    def linked_pins(self, node_id: str) -> frozenset[str]:
        """The pins ``node_id`` waits for: ``Dataflow`` asks on every arrival, so a planned
        node costs one call, not two."""
        plan = self.plans.get(node_id)
        return (plan if plan is not None else self.plan_of(node_id)).linked

    # -- events ------------------------------------------------------------------
    def emit(self, cls: type[Event], **values: Any) -> None:
        self.seq += 1
        event = cls(run_id=self.run_id, seq=self.seq, at=self.clock.now(), **values)
        if self.engine.sink is not None:
            self.engine.sink(event)

    def safe(self, value: Any) -> Any:
        return self.redactor.value(value) if self.redactor else value

    # -- RunHooks (what block contexts call) ------------------------------------------
    def log(self, node_id: str | None, level: LogLevel, message: str, data: dict[str, Any]) -> None:
        self.emit(
            LogEmitted,
            node_id=node_id,
            level=level,
            message=message,
            data=data,
            step=self.current_step or None,
        )

    def artifact(self, node_id: str, path: Path, kind: str, description: str) -> None:
        self.emit(
            ArtifactSaved,
            node_id=node_id,
            step=self.current_step,
            path=str(path),
            artifact_kind=kind,
            description=description,
        )

    def evaluate(self, source: str) -> Any:
        return render_value(source, self.scope)

    def secret(self, name: str) -> str:
        if self.engine.secrets is None:
            raise SecretError(f"secret '{name}' was asked for, but no secret store is configured")
        value = self.engine.secrets.get(name)
        if value is None:
            raise SecretError(
                f"secret '{name}' is not in the keyring; add it with: deskpilot secrets set {name}"
            )
        # before the value can reach any output: this run's events, and the log
        # handlers of the process (a library's own log line may carry it too)
        self.redactor.add(value)
        process_redactor().add(value)
        return value

    def stop(self, reason: str) -> None:
        self.stopped_reason = reason

    def stop_clock(self, waited: float) -> None:
        """``waited`` seconds were not the workflow's time (a pause, a locked screen's hold):
        move back this run's deadline, its loops' and, for a subflow, its callers'."""
        self.deadline += waited
        stop_clocks(self.stack, waited)
        if self.parent is not None:
            self.parent.stop_clock(waited)

    def subflow(self, path: Path, inputs: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        return run_subflow(self, path, inputs, deadline)

    # -- the run -------------------------------------------------------------------
    def execute(self) -> RunResult:
        self.thread = threading.get_ident()
        self.emit(
            RunStarted,
            workflow=self.workflow.name,
            version_hash=self.loaded.content_hash,
            inputs=self.safe(self.inputs),
            trigger=self.trigger,
            parent_run_id=self.parent_run_id,
            resumed=bool(self.checkpoint),
        )
        stack = self.stack = [Activation(nid, {}) for nid in reversed(self.graph.sources)]
        self.cancel.add_listener(self._forward_cancel)
        status = RunStatus.SUCCEEDED
        error: str | None = None
        failed_node: str | None = None
        outputs: dict[str, Any] = {}
        try:
            check_up_front(self)
            while stack and self.stopped_reason is None:
                frame = stack.pop()
                if isinstance(frame, Activation):
                    self.ctx = frame.ctx
                    self._activate(frame.node_id, frame.pins, stack)
                else:
                    self._resume(frame, stack)
            if self.cancel.is_set() and self.cancel.reason != "timeout":
                raise RunCancelled()
            outputs = self._render_outputs()
        except RunFailed as exc:
            status, error, failed_node = RunStatus.FAILED, str(exc), exc.node
        except RunCancelled:
            status, error = RunStatus.CANCELLED, "the run was cancelled"
            failed_node = self.current_node
        except RunError as exc:
            status, error, failed_node = RunStatus.FAILED, str(exc), self.current_node
        finally:
            self.cancel.remove_listener(self._forward_cancel)
            self.watchdog.close()
            for frame in stack:
                if isinstance(frame, StreamFrame) and hasattr(frame.generator, "close"):
                    frame.generator.close()
        duration = self.clock.monotonic() - self.started
        error = self.redactor.text(error) if error else error
        self.emit(
            RunFinished,
            status=status,
            duration=duration,
            error=error,
            failed_node=failed_node,
            outputs=self.safe(outputs),
            steps=self.step,
            stopped_reason=self.stopped_reason,
        )
        return RunResult(
            run_id=self.run_id,
            workflow=self.workflow.name,
            status=status,
            duration=duration,
            steps=self.step,
            outputs=outputs,
            error=error,
            failed_node=failed_node,
            stopped_reason=self.stopped_reason,
            nodes=self.summaries,
        )

    def _forward_cancel(self, reason: str) -> None:
        """Cancelling the run cancels the step that is running."""
        token = self.current_token
        if token is not None:
            token.set(reason)

    def _render_outputs(self) -> dict[str, Any]:
        try:
            return {name: render_value(v, self.scope) for name, v in self.workflow.outputs.items()}
        except (TemplateError, SecretError) as exc:
            raise RunFailed(f"workflow outputs: {exc}", None) from None

    def _hold_for_shutdown(self) -> None:
        """Start no new step: say so once, then wait until cancelled or stopped from outside."""
        if self.on_drained is not None:
            on_drained, self.on_drained = self.on_drained, None
            on_drained()
        while not self.cancel.event.wait(1.0):
            pass

    def _check_limits(self) -> None:
        # what _check_time checks, tested here first: this runs on every step
        if self.cancel.is_set() or self.clock.monotonic() >= self.deadline:
            self._check_time()
        if self.step >= self.workflow.limits.max_steps:
            raise RunError(
                f"the run reached its limit of {self.workflow.limits.max_steps} steps; "
                "raise limits.max_steps if this is expected, or check for a runaway loop"
            )

    def _check_time(self) -> None:
        if self.cancel.is_set():
            if self.cancel.reason == "timeout":
                raise RunError(self._time_limit_message())
            raise RunCancelled()
        if self.clock.monotonic() >= self.deadline:
            raise RunError(self._time_limit_message())

    def _time_limit_message(self) -> str:
        if self.deadline_given:
            text = "the run reached the deadline its caller gave it"
        else:
            text = (
                f"the run exceeded its time limit ({self.workflow.limits.max_duration:g}s); "
                "raise limits.max_duration if this is expected"
            )
        held = self.held_at_deadline
        if held is not None:
            text = f"{text}; it was held, waiting for the desktop, because {held.describe()}"
        return text

    def _hold_before(self, plan: NodePlan, step: int) -> None:
        """Before an attempt of a desktop step: wait while the screen is locked."""
        self.lock_seen = hold_before(self, plan.node_id, step)
        if self.drain is not None and self.drain.is_set():
            self._hold_for_shutdown()
        self._check_time()

    def _hold_point(self, ctx: BlockContext) -> None:
        hold_inside(self, ctx)

    # -- delivering emissions ---------------------------------------------------------
    def deliver(
        self,
        plan: NodePlan,
        pins: Mapping[str, Any],
        stack: list[Frame],
        ctx: Context | None = None,
    ) -> None:
        """Hand one emission to the nodes linked to it and stack those now ready (``dataflow``)."""
        ready = self.dataflow.deliver(plan.out, pins, self.ctx if ctx is None else ctx)
        stack.extend(reversed(ready))

    def record_outputs(self, plan: NodePlan, pins: dict[str, Any]) -> None:
        merged = self.node_outputs.get(plan.node_id)
        if merged is None:
            self.node_outputs[plan.node_id] = dict(pins)
        else:
            merged.update(pins)

    # -- one activation --------------------------------------------------------------
    def _activate(self, node_id: str, pins: dict[str, Any], stack: list[Frame]) -> None:
        if self.drain is not None and self.drain.is_set():
            self._hold_for_shutdown()
        self._check_limits()
        self.step += 1
        step = self.step
        plan = self.plan_of(node_id)
        summary = self.summaries[node_id]
        summary.executions += 1
        self.current_node, self.current_step = node_id, step

        recorded = self.checkpoint.get(step)
        if recorded is not None and recorded.node_id == node_id and not altered(recorded):
            self.replay_step(plan, step, recorded, stack)
            return

        self.state_before = dict(self.block_state) if self.block_state else {}
        try:
            values = self._resolve_inputs(plan, pins)
        except (TemplateError, SecretError) as render_error:
            self.emit(NodeStarted, node_id=node_id, block=plan.block.id, step=step, attempt=1)
            self._fail(plan, step, 1, 0.0, render_error, stack)
            return

        # a recorded step stored masked (a secret) or as text is not its value: ``replayable``
        if (
            recorded is not None
            and recorded.node_id == node_id
            and settle_altered(self, plan, step, recorded, values, stack)
        ):
            return
        attempt = self.attempts_used.get(step, 0)
        spent = self.attempts_spent.get(step, attempt)  # what counts against its retries
        interrupted = self.interrupted
        in_flight = interrupted is not None and (interrupted.step, interrupted.node_id) == (
            step,
            node_id,
        )
        if interrupted is not None and in_flight:
            self.interrupted = None
            attempt = max(attempt, interrupted.attempt)
            if settle_interrupted(self, plan, step, attempt + 1, values, stack):
                return
        if self.debugger is not None:
            pause_before(self, plan, step, pins, values)
        budget = (
            attempt_budget(plan.retry.max_attempts, spent, in_flight=True)
            if in_flight
            else plan.retry.max_attempts  # what ``attempt_budget`` says, without the call
        )
        if spent >= budget:
            self.emit(
                NodeStarted, node_id=node_id, block=plan.block.id, step=step, attempt=attempt + 1
            )
            self._fail(plan, step, attempt + 1, 0.0, spent_error(plan, spent), stack)
            return
        desktop = self.hold is not None and DESKTOP in plan.block.resources
        if self.retry_not_before:  # only a resumed run has any
            wait_out_retry(self, plan, step, attempt)
        while True:
            attempt += 1
            spent += 1
            summary.attempts += 1
            if desktop:
                self._hold_before(plan, step)
            outcome = self._attempt(plan, step, attempt, values, stack)
            if outcome is None:
                return
            exc, duration = outcome
            if isinstance(exc, SessionInterrupted):
                # the lock may have taken the input: after the unlock the postcondition
                # decides, and the cut attempt does not count against the retries
                self._emit_failed(
                    plan, step, attempt, duration, exc, will_retry=True, handled=False
                )
                spent -= 1
                self._hold_before(plan, step)
                cause = f"the session became unusable ({exc.reason})"
                if settle_interrupted(self, plan, step, attempt + 1, values, stack, cause=cause):
                    return
                continue
            retry = plan.retry
            will_retry = (
                is_retryable(exc)
                and spent < budget
                and not self.cancel.is_set()
                and self.clock.monotonic() < self.deadline
            )
            if not will_retry:
                self._fail(plan, step, attempt, duration, exc, stack)
                return
            self._emit_failed(plan, step, attempt, duration, exc, will_retry=True, handled=False)
            delay = retry.backoff(attempt, self.random.random())
            delay = min(delay, max(0.0, self.deadline - self.clock.monotonic()))
            self.emit(
                NodeRetrying, node_id=node_id, step=step, next_attempt=attempt + 1, delay=delay
            )
            if self.clock.sleep(delay, self.cancel.event):
                raise RunCancelled()

    def _resolve_inputs(self, plan: NodePlan, pins: dict[str, Any]) -> dict[str, Any]:
        values = dict(plan.literal)
        if plan.templated:
            for name, value in plan.templated.items():
                values[name] = render_value(value, self.scope)
        if plan.raw:
            values.update(plan.raw)
        if pins:
            for name, value in pins.items():
                if name != TRIGGER_PIN:
                    values[name] = value
        return values

    def context(self, plan: NodePlan, step: int, attempt: int, token: CancelToken) -> BlockContext:
        deadline = self.deadline
        if plan.timeout is not None:
            deadline = min(deadline, self.clock.monotonic() + plan.timeout)
        desktop = self.hold is not None and DESKTOP in plan.block.resources
        return BlockContext(
            hold=self._hold_point if desktop else None,
            run_id=self.run_id,
            node_id=plan.node_id,
            step=step,
            attempt=attempt,
            workflow_dir=self.workflow_dir,
            artifacts_dir=self.artifacts_dir,
            clock=self.clock,
            random=self.random,
            cancel=token,
            deadline=deadline,
            redactor=self.redactor,
            hooks=self,
            run_vars=self.vars,
            run_state=self.block_state,
        )

    def call(self, plan: NodePlan, ctx: BlockContext, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (the block) under the step's deadline."""
        watch = not plan.block.composite and ctx.deadline is not None
        if watch:
            assert ctx.deadline is not None
            self.watchdog.arm(ctx.deadline - self.clock.monotonic(), ctx.cancel)
        try:
            result = fn()
        except BaseException:
            if watch:
                self.watchdog.disarm()
            raise
        interrupted = self.watchdog.disarm() if watch else False
        if interrupted or ctx.cancel.reason == "timeout":
            # the block returned, but only after its deadline (or it swallowed the interrupt)
            raise StepTimeout(f"node '{plan.node_id}' ran past its deadline")
        return result

    def _attempt(
        self, plan: NodePlan, step: int, attempt: int, values: dict[str, Any], stack: list[Frame]
    ) -> tuple[BaseException, float] | None:
        """One attempt; None when it succeeded (or started streaming), else (error, duration)."""
        # Steps share one token until one is set (a timeout); a loop block keeps its
        # own, because it lives on while the steps it feeds run.
        token = self.current_token
        if token is None or token.is_set() or plan.streams:
            token = self.current_token = CancelToken()
        ctx = self.context(plan, step, attempt, token)
        self.emit(
            NodeStarted, node_id=plan.node_id, block=plan.block.id, step=step, attempt=attempt
        )
        started = self.clock.monotonic()
        try:
            model: BlockInput = validate_inputs(plan.block, values, plan.node_id)
            instance = plan.get_instance()
            result = self.call(plan, ctx, lambda: instance.run(model, ctx))
            if is_generator(result):
                frame = StreamFrame(plan, step, attempt, result, ctx, started, [], turn=self.ctx)
                # the first item is part of the attempt: a failure before any
                # emission is retried like any other
                first = self.call(plan, ctx, lambda: next(result, END))
                self.current_token = None
                self._stream_item(frame, first, stack)
                return None
            pins = emission_pins(plan.block, result, plan.node_id) if result is not None else {}
        except (Exception, StepTimeout) as exc:
            return lock_cut(self, plan, exc) or exc, self.clock.monotonic() - started
        cut = lock_cut(self, plan, None) if self.hold is not None else None
        if cut is not None:  # it finished, but a lock came while it acted: not trusted
            return cut, self.clock.monotonic() - started
        self.finish(
            plan, step, attempt, started, [pins] if result is not None else [], ctx.vars_set,
            state_before=self.state_before,
        )  # fmt: skip
        if result is not None:
            self.record_outputs(plan, pins)
            done = {**pins, DONE_PIN: True}
        else:
            done = {DONE_PIN: True}
        # ``deliver`` inline: this runs once per step
        stack.extend(reversed(self.dataflow.deliver(plan.out, done, self.ctx)))
        return None

    def finish(
        self,
        plan: NodePlan,
        step: int,
        attempt: int,
        started: float,
        emissions: list[dict[str, Any]],
        vars_set: dict[str, Any],
        *,
        state_before: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the step as succeeded; with ``state_before``, and its run-state changes."""
        summary = self.summaries[plan.node_id]
        summary.status = "succeeded"
        summary.error = None
        if emissions:
            summary.outputs = emissions[-1]
        recorded_vars = stored(vars_set, self.redactor) if vars_set else {}
        # most steps start and end with no run state: nothing to compare
        if state_before is not None and (state_before or self.block_state):
            changes = state_changes(state_before, self.block_state)
            recorded_vars = record_changes(recorded_vars, changes, self.redactor)
        self.emit(
            NodeFinished,
            node_id=plan.node_id,
            step=step,
            attempt=attempt,
            duration=self.clock.monotonic() - started,
            # masked, and marked where that (or JSON) altered a value: ``replayable``
            emissions=list(map(stored, emissions, repeat(self.redactor))),
            vars_set=recorded_vars,
        )

    # -- streaming blocks ----------------------------------------------------------
    def _stream_item(self, frame: StreamFrame, item: Any, stack: list[Frame]) -> None:
        if item is END:
            if not frame.replay:
                assert frame.ctx is not None
                self.finish(
                    frame.plan,
                    frame.step,
                    frame.attempt,
                    frame.started,
                    frame.emissions,
                    frame.ctx.vars_set,
                )
            self.deliver(frame.plan, {DONE_PIN: True}, stack, frame.turn)
            return
        pins = item if frame.replay else emission_pins(frame.plan.block, item, frame.plan.node_id)
        frame.emissions.append(pins)
        self.record_outputs(frame.plan, pins)
        stack.append(frame)
        self.tags += 1
        # ``deliver`` inline: this runs once per emission
        ready = self.dataflow.deliver(frame.plan.out, pins, (*frame.turn, self.tags))
        stack.extend(reversed(ready))

    def _resume(self, frame: StreamFrame, stack: list[Frame]) -> None:
        if frame.replay:
            self._stream_item(frame, next(frame.generator, END), stack)
            return
        assert frame.ctx is not None
        self.ctx = frame.turn
        self.current_node, self.current_step = frame.plan.node_id, frame.step
        self.current_token = frame.ctx.cancel
        try:
            item = self.call(frame.plan, frame.ctx, lambda: next(frame.generator, END))
            self.current_token = None
            self._stream_item(frame, item, stack)
        except (Exception, StepTimeout) as exc:
            # a block that has emitted is not retried: what it fed has already run
            self._fail(
                frame.plan,
                frame.step,
                frame.attempt,
                self.clock.monotonic() - frame.started,
                exc,
                stack,
            )

    def replay_step(
        self, plan: NodePlan, step: int, recorded: StepCheckpoint, stack: list[Frame]
    ) -> None:
        """Hand on what ``step`` recorded instead of running it (a resumed or re-run run)."""
        self.vars.update(without_marker(recorded.vars_set))
        replay_changes(self.block_state, recorded.vars_set)
        summary = self.summaries[plan.node_id]
        summary.status = "replayed"
        self.emit(NodeReplayed, node_id=plan.node_id, step=step)
        if plan.streams:
            emissions = iter([without_marker(pins) for pins in recorded.emissions])
            frame = StreamFrame(plan, step, 0, emissions, None, 0.0, [], replay=True, turn=self.ctx)
            self._stream_item(frame, next(frame.generator, END), stack)
            return
        pins = without_marker(recorded.emissions[-1]) if recorded.emissions else {}
        if pins:
            summary.outputs = pins
            self.record_outputs(plan, pins)
        self.deliver(plan, {**pins, DONE_PIN: True}, stack)

    # -- failure ----------------------------------------------------------------------
    def _emit_failed(
        self,
        plan: NodePlan,
        step: int,
        attempt: int,
        duration: float,
        exc: BaseException,
        *,
        will_retry: bool,
        handled: bool,
    ) -> None:
        self.emit(
            NodeFailed,
            node_id=plan.node_id,
            step=step,
            attempt=attempt,
            duration=duration,
            error_type=type(exc).__name__,
            message=self.redactor.text(error_message(exc)),
            failure=failure_kind(exc),
            will_retry=will_retry,
            handled=handled,
        )

    def _fail(
        self,
        plan: NodePlan,
        step: int,
        attempt: int,
        duration: float,
        exc: BaseException,
        stack: list[Frame],
    ) -> None:
        cancelled = self.cancel.is_set() and self.cancel.reason != "timeout"
        run_timed_out = self.clock.monotonic() >= self.deadline or (
            self.cancel.is_set() and self.cancel.reason == "timeout"
        )
        handled = bool(plan.out.get(ERROR_PIN)) and not cancelled and not run_timed_out
        self._emit_failed(plan, step, attempt, duration, exc, will_retry=False, handled=handled)
        summary = self.summaries[plan.node_id]
        summary.status = "failed"
        message = self.redactor.text(error_message(exc))
        summary.error = message
        if not isinstance(exc, DeskpilotError | OSError | ValueError | TypeError | KeyError):
            logger.warning(
                "node %s (%s) raised %s",
                plan.node_id,
                plan.block.id,
                type(exc).__name__,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
        if cancelled:
            raise RunCancelled()
        if run_timed_out:
            raise RunError(self._time_limit_message())
        if handled:
            payload = {
                "message": message,
                "type": type(exc).__name__,
                "node": plan.node_id,
                "attempts": attempt,
                "failure": failure_kind(exc),
            }
            self.node_outputs.setdefault(plan.node_id, {})[ERROR_PIN] = payload
            self.deliver(plan, {ERROR_PIN: payload}, stack)
            return
        raise RunFailed(f"node '{plan.node_id}' ({plan.block.id}) failed: {message}", plan.node_id)
