"""The engine: runs one workflow graph in the calling thread.

Execution is dataflow.  Nodes without incoming links start the run.  A node
runs when every input pin that has a link has received a value; pins keep
their last value, so a node fed once by a setting and many times by a loop
runs once per loop item.  Emissions are followed depth first: what one
emission feeds runs to completion before the emitting block (a ``for_each``)
is resumed, which gives loops their natural order and keeps step numbers
deterministic.  Deterministic step numbers are what let an interrupted run
resume: given a checkpoint of finished steps, the engine walks the same graph
and replays each recorded step's outputs instead of running it again.

Each attempt of each step is wrapped in the retry policy and a deadline (the
node's timeout, capped by the run's time limit).  The implicit ``error`` pin,
when linked, catches a node's final failure; otherwise the run fails.
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from automation.blocks.base import Block, BlockInput, ResumeCheck
from automation.blocks.context import BlockContext, CancelToken, LogLevel, RunHooks
from automation.blocks.invoke import emission_pins, is_generator, validate_inputs
from automation.blocks.registry import BlockRegistry
from automation.clock import SYSTEM_CLOCK, Clock
from automation.engine.debugger import DebugAction, Debugger, PauseSnapshot, apply_edits
from automation.engine.events import (
    ArtifactSaved,
    Event,
    EventSink,
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodePaused,
    NodeReplayed,
    NodeResumed,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
)
from automation.engine.watchdog import StepWatchdog
from automation.errors import (
    BlockError,
    DeskpilotError,
    RunError,
    SecretError,
    StepCancelled,
    StepTimeout,
    TemplateError,
    WorkflowError,
    WorkflowInvalid,
    is_retryable,
)
from automation.graph import WorkflowGraph
from automation.inputs import coerce_inputs
from automation.loader import LoadedWorkflow
from automation.model import DONE_PIN, ERROR_PIN, TRIGGER_PIN, RetryPolicy, Workflow
from automation.redaction import Redactor, process_redactor
from automation.templates import contains_template, render_value

logger = logging.getLogger(__name__)

MAX_SUBFLOW_DEPTH = 16


class SecretSource(Protocol):
    def get(self, name: str) -> str | None: ...


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


@dataclass
class NodeSummary:
    status: str = "pending"  # pending | succeeded | failed | replayed
    executions: int = 0
    attempts: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    workflow: str
    status: RunStatus
    duration: float
    steps: int
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    failed_node: str | None = None
    stopped_reason: str | None = None
    nodes: dict[str, NodeSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED


@dataclass
class _NodePlan:
    node_id: str
    block: type[Block[Any]]
    literal: dict[str, Any]
    templated: dict[str, Any]
    raw: dict[str, Any]
    linked: frozenset[str]
    out: dict[str, list[tuple[str, str]]]
    retry: RetryPolicy
    timeout: float | None
    streams: bool
    instance: Block[Any] | None = None

    def get_instance(self) -> Block[Any]:
        if self.instance is None:
            self.instance = self.block()
        return self.instance


class _RunFailed(Exception):
    def __init__(self, message: str, node: str | None) -> None:
        super().__init__(message)
        self.node = node


class _RunCancelled(Exception):
    pass


class _Secrets:
    """``secrets.NAME`` in templates: looked up on first use, then redacted everywhere."""

    def __init__(self, lookup: Callable[[str], str]) -> None:
        self._lookup = lookup

    def __getitem__(self, name: str) -> str:
        return self._lookup(name)


@dataclass
class _StreamFrame:
    plan: _NodePlan
    step: int
    attempt: int
    generator: Iterator[Any]
    ctx: BlockContext | None
    started: float
    emissions: list[dict[str, Any]]
    replay: bool = False
    #: The context the loop block itself ran in; each emission adds a tag to it.
    turn: tuple[int, ...] = ()


class Engine:
    """Runs workflows.  One engine may run many workflows, one at a time per thread."""

    def __init__(
        self,
        registry: BlockRegistry,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sink: EventSink | None = None,
        secrets: SecretSource | None = None,
        artifacts_dir: Path | None = None,
        seed: int | None = None,
        environ: Mapping[str, str] | None = None,
        kill_grace: float = 2.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.sink = sink
        self.secrets = secrets
        self.artifacts_dir = artifacts_dir
        self.seed = seed
        self.environ = dict(os.environ if environ is None else environ)
        self.kill_grace = kill_grace

    def close(self) -> None:
        """Nothing to release today; kept so callers need not change when there is."""

    def run(
        self,
        loaded: LoadedWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        trigger: str = "manual",
        cancel: CancelToken | None = None,
        checkpoint: Mapping[int, StepCheckpoint] | None = None,
        attempts_used: Mapping[int, int] | None = None,
        seq_after: int = 0,
        parent_run_id: str | None = None,
        deadline: float | None = None,
        redactor: Redactor | None = None,
        depth: int = 0,
        validated_inputs: bool = False,
        drain: threading.Event | None = None,
        on_drained: Callable[[], None] | None = None,
        interrupted: InterruptedStep | None = None,
        debugger: Debugger | None = None,
    ) -> RunResult:
        """Run ``loaded`` to the end and return its result; events go to the sink.

        Bad inputs raise ``WorkflowError`` before the run starts; everything
        after that ends as a ``RunResult`` (failed, cancelled...), never as an
        exception.  A resumed run passes the ``checkpoint`` of its finished
        steps and ``attempts_used`` by steps that were cut short, so their
        attempt numbers carry on instead of repeating; and ``seq_after``, the
        last event number its earlier attempts used, so that its events
        number on after theirs: a run's history is one sequence, ordered and
        paged by that number.

        ``drain``, once set, makes the run start no new step: it calls
        ``on_drained`` and waits at that step boundary until it is cancelled
        (or its process is stopped), so a shutdown interrupts it between steps
        and the next start resumes it there, instead of cutting a step short.

        ``interrupted`` names the step that was in flight when the last worker
        died: its postcondition, where the block has one, decides whether it
        runs again (``_settle_interrupted``).

        ``debugger``, when given, is asked before each node whether to pause
        there (``automation.engine.debugger``); subflows run without it.
        """
        values = (
            dict(inputs or {}) if validated_inputs else coerce_inputs(loaded.workflow, inputs or {})
        )
        run = _Run(
            self,
            loaded,
            values,
            run_id=run_id or uuid.uuid4().hex,
            trigger=trigger,
            cancel=cancel or CancelToken(),
            checkpoint=dict(checkpoint or {}),
            parent_run_id=parent_run_id,
            deadline=deadline,
            redactor=redactor if redactor is not None else Redactor(parent=process_redactor()),
            depth=depth,
        )
        run.attempts_used = dict(attempts_used or {})
        run.seq = max(0, seq_after)
        run.drain, run.on_drained = drain, on_drained
        run.interrupted = interrupted
        run.debugger = debugger
        return run.execute()


class _Run(RunHooks):
    def __init__(
        self,
        engine: Engine,
        loaded: LoadedWorkflow,
        inputs: dict[str, Any],
        *,
        run_id: str,
        trigger: str,
        cancel: CancelToken,
        checkpoint: dict[int, StepCheckpoint],
        parent_run_id: str | None,
        deadline: float | None,
        redactor: Redactor,
        depth: int,
    ) -> None:
        self.engine = engine
        self.clock = engine.clock
        self.loaded = loaded
        self.workflow = loaded.workflow
        self.inputs = inputs
        self.run_id = run_id
        self.trigger = trigger
        self.cancel = cancel
        self.checkpoint = checkpoint
        self.parent_run_id = parent_run_id
        self.redactor = redactor
        self.depth = depth
        self.drain: threading.Event | None = None
        self.on_drained: Callable[[], None] | None = None
        self.interrupted: InterruptedStep | None = None
        self.debugger: Debugger | None = None
        self.random = random.Random(engine.seed)
        # One watchdog per run: runs in other threads on the same engine keep their own.
        self.watchdog = StepWatchdog(grace=engine.kill_grace)
        self.current_token: CancelToken | None = None
        self.seq = 0
        self.step = 0
        self.started = self.clock.monotonic()
        limit = self.started + self.workflow.limits.max_duration
        self.deadline = limit if deadline is None else min(limit, deadline)
        #: True when the deadline came from outside (a subflow node's timeout), not our limit.
        self.deadline_given = deadline is not None and deadline < limit
        self.vars: dict[str, Any] = dict(self.workflow.vars)
        self.node_outputs: dict[str, dict[str, Any]] = {}
        self.summaries: dict[str, NodeSummary] = {nid: NodeSummary() for nid in self.workflow.nodes}
        self.pending: dict[str, dict[str, tuple[Any, Context]]] = {}
        self.backlog: dict[str, list[tuple[dict[str, Any], Context]]] = {}
        #: Context of the activation being run; what it emits carries it.
        self.ctx: Context = ()
        self.tags = 0
        self.stopped_reason: str | None = None
        self.attempts_used: dict[int, int] = {}
        self.current_node: str | None = None
        self.current_step = 0
        self.artifacts_dir = (
            engine.artifacts_dir or loaded.directory / ".deskpilot-artifacts"
        ) / run_id
        self.graph = WorkflowGraph(self.workflow)
        # planned on first use: a 10,000-node workflow should not wait for all of it
        self.plans: dict[str, _NodePlan] = {}
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
    def _plan_of(self, node_id: str) -> _NodePlan:
        plan = self.plans.get(node_id)
        if plan is None:
            plan = self.plans[node_id] = self._plan(node_id)
        return plan

    def _plan(self, node_id: str) -> _NodePlan:
        node = self.workflow.nodes[node_id]
        block = self.engine.registry.get(node.block)
        if block is None:
            raise WorkflowInvalid([])  # validated before; defensive
        literal: dict[str, Any] = {}
        templated: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        for name, value in node.with_.items():
            if name in block.raw_inputs:
                raw[name] = value
            elif contains_template(value):
                templated[name] = value
            else:
                literal[name] = value
        return _NodePlan(
            node_id=node_id,
            block=block,
            literal=literal,
            templated=templated,
            raw=raw,
            linked=self.graph.linked_pins(node_id),
            out={
                pin: list(targets) for pin, targets in self.graph.outgoing.get(node_id, {}).items()
            },
            retry=self.workflow.node_retry(node_id),
            timeout=step_timeout(self.workflow, node_id, block),
            streams=inspect.isgeneratorfunction(block.run),
        )

    # -- events ------------------------------------------------------------------
    def emit(self, cls: type[Event], **values: Any) -> None:
        self.seq += 1
        event = cls(run_id=self.run_id, seq=self.seq, at=self.clock.now(), **values)
        if self.engine.sink is not None:
            self.engine.sink(event)

    def _safe(self, value: Any) -> Any:
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

    def subflow(self, path: Path, inputs: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        from automation.validation import load_valid

        if self.depth + 1 >= MAX_SUBFLOW_DEPTH:
            raise BlockError(
                f"subflows nest deeper than {MAX_SUBFLOW_DEPTH} levels; does '{path}' call itself?",
                retryable=False,
            )
        try:
            child = load_valid(path, self.engine.registry)
            values = coerce_inputs(child.workflow, inputs)
        except WorkflowError as exc:
            raise BlockError(f"subflow {path}: {exc}", retryable=False) from None
        token = CancelToken()
        parent_token = self.current_token or self.cancel
        parent_token.add_listener(token.set)
        try:
            result = _Run(
                self.engine,
                child,
                values,
                run_id=uuid.uuid4().hex,
                trigger=f"subflow:{self.run_id}",
                cancel=token,
                checkpoint={},
                parent_run_id=self.run_id,
                deadline=deadline if deadline is not None else self.deadline,
                redactor=self.redactor,
                depth=self.depth + 1,
            ).execute()
        finally:
            parent_token.remove_listener(token.set)
        if result.status is RunStatus.CANCELLED:
            raise StepCancelled(f"subflow {child.workflow.name} was cancelled")
        if (
            not result.ok
            and deadline is not None
            and self.clock.monotonic() >= deadline
            and (self.current_token is None or self.current_token.reason != "cancelled")
        ):
            raise StepTimeout(f"subflow {child.workflow.name} ran past this node's deadline")
        if not result.ok:
            where = f" at node '{result.failed_node}'" if result.failed_node else ""
            raise BlockError(
                f"subflow {child.workflow.name} failed{where}: {result.error}", retryable=False
            )
        return result.outputs

    # -- the run -------------------------------------------------------------------
    def execute(self) -> RunResult:
        self.emit(
            RunStarted,
            workflow=self.workflow.name,
            version_hash=self.loaded.content_hash,
            inputs=self._safe(self.inputs),
            trigger=self.trigger,
            parent_run_id=self.parent_run_id,
            resumed=bool(self.checkpoint),
        )
        stack: list[Any] = [("act", nid, {}, ()) for nid in reversed(self.graph.sources)]
        self.cancel.add_listener(self._forward_cancel)
        status = RunStatus.SUCCEEDED
        error: str | None = None
        failed_node: str | None = None
        outputs: dict[str, Any] = {}
        try:
            while stack and self.stopped_reason is None:
                frame = stack.pop()
                if isinstance(frame, _StreamFrame):
                    self._resume(frame, stack)
                else:
                    self.ctx = frame[3]
                    self._activate(frame[1], frame[2], stack)
            if self.cancel.is_set() and self.cancel.reason != "timeout":
                raise _RunCancelled()
            outputs = self._render_outputs()
        except _RunFailed as exc:
            status, error, failed_node = RunStatus.FAILED, str(exc), exc.node
        except _RunCancelled:
            status, error = RunStatus.CANCELLED, "the run was cancelled"
            failed_node = self.current_node
        except RunError as exc:
            status, error, failed_node = RunStatus.FAILED, str(exc), self.current_node
        finally:
            self.cancel.remove_listener(self._forward_cancel)
            self.watchdog.close()
            for frame in stack:
                if isinstance(frame, _StreamFrame) and hasattr(frame.generator, "close"):
                    frame.generator.close()
        duration = self.clock.monotonic() - self.started
        error = self.redactor.text(error) if error else error
        self.emit(
            RunFinished,
            status=status,
            duration=duration,
            error=error,
            failed_node=failed_node,
            outputs=self._safe(outputs),
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
            raise _RunFailed(f"workflow outputs: {exc}", None) from None

    def _hold_for_shutdown(self) -> None:
        """Start no new step: say so once, then wait until cancelled or stopped from outside."""
        if self.on_drained is not None:
            on_drained, self.on_drained = self.on_drained, None
            on_drained()
        while not self.cancel.event.wait(1.0):
            pass

    def _check_limits(self) -> None:
        if self.cancel.is_set():
            if self.cancel.reason == "timeout":
                raise RunError(self._time_limit_message())
            raise _RunCancelled()
        if self.step >= self.workflow.limits.max_steps:
            raise RunError(
                f"the run reached its limit of {self.workflow.limits.max_steps} steps; "
                "raise limits.max_steps if this is expected, or check for a runaway loop"
            )
        if self.clock.monotonic() >= self.deadline:
            raise RunError(self._time_limit_message())

    def _time_limit_message(self) -> str:
        if self.deadline_given:
            return "the run reached the deadline its caller gave it"
        return (
            f"the run exceeded its time limit ({self.workflow.limits.max_duration:g}s); "
            "raise limits.max_duration if this is expected"
        )

    # -- delivering emissions ---------------------------------------------------------
    def _deliver(
        self, plan: _NodePlan, pins: Mapping[str, Any], stack: list[Any], ctx: Context | None = None
    ) -> None:
        """Hand one emission to the nodes linked to it and activate those now ready.

        Every value carries the loop turns it was made in (its context: one
        tag per enclosing emission of a loop block).  A node runs when each
        linked pin holds a value and those values come from the same turn, or
        from outside it: a setting made before a loop is reused by every
        turn, while two branches inside one turn are paired with each other,
        never with the previous turn's.  Arrivals at a node that is not ready
        yet wait in a backlog and run once it is, in arrival order, so the
        result does not depend on which feeder happened to run first.
        """
        ctx = self.ctx if ctx is None else ctx
        updates: dict[str, dict[str, Any]] = {}
        for pin, value in pins.items():
            targets = plan.out.get(pin)
            if not targets:
                continue
            for target, target_pin in targets:
                update = updates.get(target)
                if update is None:
                    update = updates[target] = {}
                update[target_pin] = value
        activations: list[tuple[str, str, dict[str, Any], Context]] = []
        for target, update in updates.items():
            slot = self.pending.get(target)
            if slot is None:
                slot = self.pending[target] = {}
            for pin, value in update.items():
                slot[pin] = (value, ctx)
            linked = self._plan_of(target).linked
            if _ready(slot, linked) is None:
                self.backlog.setdefault(target, []).append((update, ctx))
                continue
            waiting = self.backlog.pop(target, None)
            if not waiting:
                activations.append(_activation(target, slot, linked))
                continue
            for early, early_ctx in waiting:
                candidate = {**slot, **{pin: (value, early_ctx) for pin, value in early.items()}}
                if _ready(candidate, linked) is not None:
                    activations.append(_activation(target, candidate, linked))
            # what did not fit belongs to a loop turn that has ended: turns run depth first
        stack.extend(reversed(activations))

    def _record_outputs(self, plan: _NodePlan, pins: dict[str, Any]) -> None:
        merged = self.node_outputs.get(plan.node_id)
        if merged is None:
            self.node_outputs[plan.node_id] = dict(pins)
        else:
            merged.update(pins)

    # -- one activation --------------------------------------------------------------
    def _activate(self, node_id: str, pins: dict[str, Any], stack: list[Any]) -> None:
        if self.drain is not None and self.drain.is_set():
            self._hold_for_shutdown()
        self._check_limits()
        self.step += 1
        step = self.step
        plan = self._plan_of(node_id)
        summary = self.summaries[node_id]
        summary.executions += 1
        self.current_node, self.current_step = node_id, step

        recorded = self.checkpoint.get(step)
        if recorded is not None and recorded.node_id == node_id:
            self._replay(plan, step, recorded, stack)
            return

        try:
            values = self._resolve_inputs(plan, pins)
        except (TemplateError, SecretError) as render_error:
            self.emit(NodeStarted, node_id=node_id, block=plan.block.id, step=step, attempt=1)
            self._fail(plan, step, 1, 0.0, render_error, stack)
            return

        attempt = self.attempts_used.get(step, 0)
        interrupted = self.interrupted
        if interrupted is not None and (interrupted.step, interrupted.node_id) == (step, node_id):
            self.interrupted = None
            attempt = max(attempt, interrupted.attempt)
            if self._settle_interrupted(plan, step, attempt + 1, values, stack):
                return
        if self.debugger is not None:
            self._debug_pause(plan, step, pins, values)
        first = attempt + 1
        while True:
            attempt += 1
            summary.attempts += 1
            outcome = self._attempt(plan, step, attempt, values, stack)
            if outcome is None:
                return
            exc, duration = outcome
            retry = plan.retry
            will_retry = (
                is_retryable(exc)
                and attempt - first + 1 < retry.max_attempts
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
                raise _RunCancelled()

    def _debug_pause(
        self, plan: _NodePlan, step: int, pins: dict[str, Any], values: dict[str, Any]
    ) -> None:
        """Pause before ``plan``'s node if the debugger asks to; apply the edits it returns.

        The time paused is added to the run's deadline: a pause is not the
        workflow's time.  Step deadlines start later, when the attempt does.
        """
        assert self.debugger is not None
        reason = self.debugger.wants_pause(plan.node_id)
        if reason is None:
            return
        given = {k: v for k, v in pins.items() if k != TRIGGER_PIN}
        snapshot = PauseSnapshot(
            run_id=self.run_id,
            node_id=plan.node_id,
            block=plan.block.id,
            step=step,
            reason=reason,
            pins=self._safe(given),
            inputs=self._safe(values),
            vars=self._safe(self.vars),
            nodes=self._safe(self.node_outputs),
        )
        timeout = self.debugger.timeout
        self.emit(
            NodePaused,
            node_id=plan.node_id,
            step=step,
            reason=str(reason),
            pins=snapshot.pins,
            inputs=snapshot.inputs,
            vars=snapshot.vars,
            timeout=timeout,
        )
        paused = self.clock.monotonic()
        answer = self.debugger.pause(snapshot)
        waited = self.clock.monotonic() - paused
        self.deadline += waited
        edited = apply_edits(values, self.vars, answer)
        self.emit(
            NodeResumed,
            node_id=plan.node_id,
            step=step,
            action=str(answer.action),
            waited=waited,
            timed_out=answer.timed_out,
            edited=edited,
        )
        if answer.action is DebugAction.ABORT:
            self.cancel.set("cancelled")
        if self.drain is not None and self.drain.is_set():
            self._hold_for_shutdown()
        self._check_limits()

    def _settle_interrupted(
        self, plan: _NodePlan, step: int, attempt: int, values: dict[str, Any], stack: list[Any]
    ) -> bool:
        """Decide whether the step a dead worker left in flight runs again; True if it does not.

        The block checks its postcondition against the world as it is now.  If
        it holds, the step is recorded as succeeded by ``attempt`` without being
        run again; if not (or the block cannot tell), it runs as a new attempt.
        Either way the decision goes into the run's history as a log line.
        """
        node_id = plan.node_id
        token = self.current_token = CancelToken()
        ctx = self._context(plan, step, attempt, token)
        started = self.clock.monotonic()
        check: ResumeCheck | None = None
        try:
            model = validate_inputs(plan.block, values, node_id)
            instance = plan.get_instance()
            check = self._call(plan, ctx, lambda: instance.check_resumed(model, ctx))
        except StepCancelled:
            raise _RunCancelled() from None
        except (Exception, StepTimeout) as exc:
            self._record_resume(
                step, node_id, "unchecked", f"could not be checked ({_message(exc)}): repeated"
            )
            return False
        if check is None:
            self._record_resume(step, node_id, "none", "no postcondition to check: repeated")
            return False
        if not check.held:
            self._record_resume(
                step, node_id, "not_held", f"postcondition not held: repeated ({check.detail})"
            )
            return False
        pins: dict[str, Any] = {}
        if check.output is not None:
            pins = emission_pins(plan.block, check.output, node_id)
        elif plan.block.Output.model_fields and self._outputs_used(plan):
            self._record_resume(
                step,
                node_id,
                "held_outputs_unknown",
                f"postcondition held ({check.detail}), but other nodes use this step's "
                "outputs, which only running it gives: repeated",
            )
            return False
        self._record_resume(
            step, node_id, "held", f"postcondition held: not repeated ({check.detail})"
        )
        self.emit(NodeStarted, node_id=node_id, block=plan.block.id, step=step, attempt=attempt)
        self._finish(plan, step, attempt, started, [pins] if pins else [], ctx.vars_set)
        if pins:
            self._record_outputs(plan, pins)
        self._deliver(plan, {**pins, DONE_PIN: True}, stack)
        return True

    def _outputs_used(self, plan: _NodePlan) -> bool:
        """Whether another node, or the workflow's outputs, use this node's outputs."""
        if any(pin not in (DONE_PIN, ERROR_PIN) for pin in plan.out):
            return True
        name = re.escape(plan.node_id)
        mention = re.compile(rf"nodes\s*(\.\s*{name}\b|\[\s*['\"]{name}['\"])")
        values = [node.with_ for node in self.workflow.nodes.values()]
        values.append(self.workflow.outputs)
        return any(mention.search(text) for text in _strings(values))

    def _record_resume(self, step: int, node_id: str, decision: str, message: str) -> None:
        level: LogLevel = "info" if decision == "held" else "warning"
        self.emit(
            LogEmitted,
            node_id=node_id,
            level=level,
            message=f"step {step} was in flight when the worker stopped; {message}",
            data={"resume_check": decision, "repeated": decision != "held"},
            step=step,
        )

    def _resolve_inputs(self, plan: _NodePlan, pins: dict[str, Any]) -> dict[str, Any]:
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

    def _context(
        self, plan: _NodePlan, step: int, attempt: int, token: CancelToken
    ) -> BlockContext:
        deadline = self.deadline
        if plan.timeout is not None:
            deadline = min(deadline, self.clock.monotonic() + plan.timeout)
        return BlockContext(
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
        )

    def _call(self, plan: _NodePlan, ctx: BlockContext, fn: Callable[[], Any]) -> Any:
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
        self, plan: _NodePlan, step: int, attempt: int, values: dict[str, Any], stack: list[Any]
    ) -> tuple[BaseException, float] | None:
        """One attempt; None when it succeeded (or started streaming), else (error, duration)."""
        # Steps share one token until one is set (a timeout); a loop block keeps its
        # own, because it lives on while the steps it feeds run.
        token = self.current_token
        if token is None or token.is_set() or plan.streams:
            token = self.current_token = CancelToken()
        ctx = self._context(plan, step, attempt, token)
        self.emit(
            NodeStarted, node_id=plan.node_id, block=plan.block.id, step=step, attempt=attempt
        )
        started = self.clock.monotonic()
        try:
            model: BlockInput = validate_inputs(plan.block, values, plan.node_id)
            instance = plan.get_instance()
            result = self._call(plan, ctx, lambda: instance.run(model, ctx))
            if is_generator(result):
                frame = _StreamFrame(plan, step, attempt, result, ctx, started, [], turn=self.ctx)
                # the first item is part of the attempt: a failure before any
                # emission is retried like any other
                first = self._call(plan, ctx, lambda: next(result, _END))
                self.current_token = None
                self._stream_item(frame, first, stack)
                return None
            pins = emission_pins(plan.block, result, plan.node_id) if result is not None else {}
        except (Exception, StepTimeout) as exc:
            return exc, self.clock.monotonic() - started
        self._finish(
            plan, step, attempt, started, [pins] if result is not None else [], ctx.vars_set
        )
        if result is not None:
            self._record_outputs(plan, pins)
            self._deliver(plan, {**pins, DONE_PIN: True}, stack)
        else:
            self._deliver(plan, {DONE_PIN: True}, stack)
        return None

    def _finish(
        self,
        plan: _NodePlan,
        step: int,
        attempt: int,
        started: float,
        emissions: list[dict[str, Any]],
        vars_set: dict[str, Any],
    ) -> None:
        summary = self.summaries[plan.node_id]
        summary.status = "succeeded"
        summary.error = None
        if emissions:
            summary.outputs = emissions[-1]
        self.emit(
            NodeFinished,
            node_id=plan.node_id,
            step=step,
            attempt=attempt,
            duration=self.clock.monotonic() - started,
            emissions=self._safe(emissions),
            vars_set=self._safe(vars_set),
        )

    # -- streaming blocks ----------------------------------------------------------
    def _stream_item(self, frame: _StreamFrame, item: Any, stack: list[Any]) -> None:
        if item is _END:
            if not frame.replay:
                assert frame.ctx is not None
                self._finish(
                    frame.plan,
                    frame.step,
                    frame.attempt,
                    frame.started,
                    frame.emissions,
                    frame.ctx.vars_set,
                )
            self._deliver(frame.plan, {DONE_PIN: True}, stack, frame.turn)
            return
        pins = item if frame.replay else emission_pins(frame.plan.block, item, frame.plan.node_id)
        frame.emissions.append(pins)
        self._record_outputs(frame.plan, pins)
        stack.append(frame)
        self.tags += 1
        self._deliver(frame.plan, pins, stack, (*frame.turn, self.tags))

    def _resume(self, frame: _StreamFrame, stack: list[Any]) -> None:
        if frame.replay:
            self._stream_item(frame, next(frame.generator, _END), stack)
            return
        assert frame.ctx is not None
        self.ctx = frame.turn
        self.current_node, self.current_step = frame.plan.node_id, frame.step
        self.current_token = frame.ctx.cancel
        try:
            item = self._call(frame.plan, frame.ctx, lambda: next(frame.generator, _END))
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

    def _replay(
        self, plan: _NodePlan, step: int, recorded: StepCheckpoint, stack: list[Any]
    ) -> None:
        self.vars.update(recorded.vars_set)
        summary = self.summaries[plan.node_id]
        summary.status = "replayed"
        self.emit(NodeReplayed, node_id=plan.node_id, step=step)
        if plan.streams:
            frame = _StreamFrame(
                plan, step, 0, iter(recorded.emissions), None, 0.0, [], replay=True, turn=self.ctx
            )
            self._stream_item(frame, next(frame.generator, _END), stack)
            return
        pins = recorded.emissions[-1] if recorded.emissions else {}
        if pins:
            summary.outputs = pins
            self._record_outputs(plan, pins)
        self._deliver(plan, {**pins, DONE_PIN: True}, stack)

    # -- failure ----------------------------------------------------------------------
    def _emit_failed(
        self,
        plan: _NodePlan,
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
            message=self.redactor.text(_message(exc)),
            failure=_failure_kind(exc),
            will_retry=will_retry,
            handled=handled,
        )

    def _fail(
        self,
        plan: _NodePlan,
        step: int,
        attempt: int,
        duration: float,
        exc: BaseException,
        stack: list[Any],
    ) -> None:
        cancelled = self.cancel.is_set() and self.cancel.reason != "timeout"
        run_timed_out = self.clock.monotonic() >= self.deadline or (
            self.cancel.is_set() and self.cancel.reason == "timeout"
        )
        handled = bool(plan.out.get(ERROR_PIN)) and not cancelled and not run_timed_out
        self._emit_failed(plan, step, attempt, duration, exc, will_retry=False, handled=handled)
        summary = self.summaries[plan.node_id]
        summary.status = "failed"
        message = self.redactor.text(_message(exc))
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
            raise _RunCancelled()
        if run_timed_out:
            raise RunError(self._time_limit_message())
        if handled:
            payload = {
                "message": message,
                "type": type(exc).__name__,
                "node": plan.node_id,
                "attempts": attempt,
                "failure": _failure_kind(exc),
            }
            self.node_outputs.setdefault(plan.node_id, {})[ERROR_PIN] = payload
            self._deliver(plan, {ERROR_PIN: payload}, stack)
            return
        raise _RunFailed(f"node '{plan.node_id}' ({plan.block.id}) failed: {message}", plan.node_id)


_END = object()

#: The loop turns a value was made in: one tag per enclosing loop emission.
Context = tuple[int, ...]


def step_timeout(workflow: Workflow, node_id: str, block: type[Block[Any]] | None) -> float | None:
    """A node's timeout: its own, else the workflow's default, else the block's default.

    The supervisor uses the same answer for its backstop deadline, so a desktop
    step stuck where the engine cannot stop it (inside a helper program, or C
    code) is killed with its children, with evidence, like a hung one.
    """
    timeout = workflow.node_timeout(node_id)
    if timeout is None and block is not None:
        timeout = block.timeout_for(workflow.nodes[node_id].with_)
    return timeout


def _ready(slot: Mapping[str, tuple[Any, Context]], linked: frozenset[str]) -> Context | None:
    """The context to run in if every linked pin holds a value from one chain of turns."""
    longest: Context = ()
    for pin in linked:
        entry = slot.get(pin)
        if entry is None:
            return None
        if len(entry[1]) > len(longest):
            longest = entry[1]
    for pin in linked:
        turn = slot[pin][1]
        if turn != longest[: len(turn)]:
            return None
    return longest


def _activation(
    target: str, slot: Mapping[str, tuple[Any, Context]], linked: frozenset[str]
) -> tuple[str, str, dict[str, Any], Context]:
    ctx = _ready(slot, linked)
    assert ctx is not None
    return ("act", target, {pin: entry[0] for pin, entry in slot.items()}, ctx)


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


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, StepTimeout):
        return "timeout"
    if isinstance(exc, StepCancelled):
        return "cancelled"
    return "error"


__all__ = [
    "Engine",
    "NodeSummary",
    "RunResult",
    "InterruptedStep",
    "StepCheckpoint",
    "coerce_inputs",
]
