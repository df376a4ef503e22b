"""Small blocks and a harness for testing the model, validation and the engine.

The engine tests use these instead of the real block families so that they
depend only on the engine's contract: each block does one thing a test needs
(fail N times, sleep through ``ctx.sleep``, ignore its deadline, set a
variable) and records every call in a ``Journal``.  Blocks are made per
journal by ``kit_blocks`` so no test shares state with another.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from automation.blocks import control
from automation.blocks.base import Block, BlockInput, BlockOutput, NoOutput
from automation.blocks.context import BlockContext, CancelToken
from automation.blocks.registry import BlockRegistry
from automation.clock import Clock, FakeClock
from automation.engine.engine import Engine
from automation.engine.events import Event, NodeFinished
from automation.engine.options import RunOptions, StepCheckpoint
from automation.engine.result import RunResult
from automation.errors import BlockError
from automation.loader import LoadedWorkflow, read_workflow_file


@dataclass(frozen=True)
class Call:
    node_id: str
    block: str
    step: int
    attempt: int
    inputs: dict[str, Any]


class Journal:
    """Every block call of a test, in order; safe to read from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        #: Set when a block that wants to be observed from outside has started.
        self.started = threading.Event()
        self._notes: list[tuple[str, str]] = []

    def note(self, node_id: str, text: str) -> None:
        with self._lock:
            self._notes.append((node_id, text))

    @property
    def notes(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._notes)

    def record(self, ctx: BlockContext, block: str, inputs: BlockInput) -> None:
        with self._lock:
            self._calls.append(Call(ctx.node_id, block, ctx.step, ctx.attempt, inputs.model_dump()))

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def of(self, node_id: str) -> list[Call]:
        return [call for call in self.calls if call.node_id == node_id]

    def count(self, node_id: str) -> int:
        return len(self.of(node_id))

    def order(self) -> list[str]:
        return [call.node_id for call in self.calls]

    def values(self, node_id: str, name: str = "value") -> list[Any]:
        return [call.inputs[name] for call in self.of(node_id)]


# -- block models ------------------------------------------------------------------------


class ValueIn(BlockInput):
    value: Any = Field(None, description="anything")


class ValueOut(BlockOutput):
    value: Any = Field(None, description="the value that came in")


class IntIn(BlockInput):
    value: int = Field(1, description="a whole number")


class IntOut(BlockOutput):
    number: int = Field(description="the number")


class TextIn(BlockInput):
    text: str = Field(description="required text")


class TextOut(BlockOutput):
    text: str = Field(description="the text")


class NumberIn(BlockInput):
    amount: float = Field(description="required number")


class NumberOut(BlockOutput):
    amount: float = Field(description="the number")


class JoinIn(BlockInput):
    a: Any = Field(description="first value")
    b: Any = Field(description="second value")


class JoinOut(BlockOutput):
    pair: list[Any] = Field(description="[a, b]")


class FlakyIn(BlockInput):
    failures: int = Field(1, description="attempts of each step that fail before one succeeds")
    retryable: bool = Field(True, description="whether the failures are retryable")
    value: Any = Field(None, description="emitted on success")


class SleepIn(BlockInput):
    seconds: float = Field(description="how long to sleep with ctx.sleep")


class SleepOut(BlockOutput):
    slept: float = Field(description="seconds slept")


class BusyIn(BlockInput):
    seconds: float = Field(5.0, description="real seconds to spin for, ignoring the deadline")
    swallow: bool = Field(False, description="catch every Exception inside the loop")


class BusyOut(BlockOutput):
    spins: int = Field(description="loop iterations")


class SetVarIn(BlockInput):
    name: str = Field(description="variable name")
    value: Any = Field(None, description="variable value")


class BoomIn(BlockInput):
    message: str = Field("boom", description="the error message")
    kind: Literal["block", "value"] = Field("block", description="BlockError or ValueError")
    retryable: bool = Field(False, description="for BlockError: whether it is retryable")


class LogIn(BlockInput):
    message: str = Field(description="what to log")


class CountIn(BlockInput):
    count: int = Field(3, description="how many emissions")


class CountOut(BlockOutput):
    n: int = Field(0, description="0-based emission number")


def kit_blocks(journal: Journal) -> tuple[type[Block[Any]], ...]:
    """Fresh block classes that record into ``journal``."""

    class EmitValue(Block[ValueIn]):
        """Pass a value on and record the call."""

        id = "kit.emit"
        Input = ValueIn
        Output = ValueOut

        def run(self, inputs: ValueIn, ctx: BlockContext) -> ValueOut:
            journal.record(ctx, self.id, inputs)
            return ValueOut(value=inputs.value)

    class IntSource(Block[IntIn]):
        """Emit a whole number on an integer pin."""

        id = "kit.int_source"
        Input = IntIn
        Output = IntOut

        def run(self, inputs: IntIn, ctx: BlockContext) -> IntOut:
            journal.record(ctx, self.id, inputs)
            return IntOut(number=inputs.value)

    class TextSink(Block[TextIn]):
        """Take required text."""

        id = "kit.text"
        Input = TextIn
        Output = TextOut

        def run(self, inputs: TextIn, ctx: BlockContext) -> TextOut:
            journal.record(ctx, self.id, inputs)
            return TextOut(text=inputs.text)

    class NumberSink(Block[NumberIn]):
        """Take a required number."""

        id = "kit.number"
        Input = NumberIn
        Output = NumberOut

        def run(self, inputs: NumberIn, ctx: BlockContext) -> NumberOut:
            journal.record(ctx, self.id, inputs)
            return NumberOut(amount=inputs.amount)

    class Join(Block[JoinIn]):
        """Wait for two values."""

        id = "kit.join"
        Input = JoinIn
        Output = JoinOut

        def run(self, inputs: JoinIn, ctx: BlockContext) -> JoinOut:
            journal.record(ctx, self.id, inputs)
            return JoinOut(pair=[inputs.a, inputs.b])

    class Flaky(Block[FlakyIn]):
        """Fail the first ``failures`` attempts of each step, then succeed."""

        id = "kit.flaky"
        Input = FlakyIn
        Output = ValueOut

        def run(self, inputs: FlakyIn, ctx: BlockContext) -> ValueOut:
            journal.record(ctx, self.id, inputs)
            if ctx.attempt <= inputs.failures:
                raise BlockError(f"flaky failure {ctx.attempt}", retryable=inputs.retryable)
            return ValueOut(value=inputs.value)

    class Sleep(Block[SleepIn]):
        """Sleep the cooperative way, through the context."""

        id = "kit.sleep"
        Input = SleepIn
        Output = SleepOut

        def run(self, inputs: SleepIn, ctx: BlockContext) -> SleepOut:
            journal.record(ctx, self.id, inputs)
            journal.started.set()
            ctx.sleep(inputs.seconds)
            return SleepOut(slept=inputs.seconds)

    class Busy(Block[BusyIn]):
        """Spin in pure Python, never looking at the deadline."""

        id = "kit.busy"
        Input = BusyIn
        Output = BusyOut

        def run(self, inputs: BusyIn, ctx: BlockContext) -> BusyOut:
            journal.record(ctx, self.id, inputs)
            journal.started.set()
            end = time.monotonic() + inputs.seconds
            spins = 0
            if not inputs.swallow:
                while time.monotonic() < end:
                    spins += 1
                return BusyOut(spins=spins)
            # the inner loop is where the time goes, so an interruption lands inside the try
            while time.monotonic() < end:
                try:
                    while time.monotonic() < end:
                        spins += 1
                except Exception as exc:
                    journal.note(ctx.node_id, f"swallowed {type(exc).__name__}")
            return BusyOut(spins=spins)

    class SetVar(Block[SetVarIn]):
        """Set a run variable."""

        id = "kit.set_var"
        Input = SetVarIn
        Output = ValueOut

        def run(self, inputs: SetVarIn, ctx: BlockContext) -> ValueOut:
            journal.record(ctx, self.id, inputs)
            ctx.set_var(inputs.name, inputs.value)
            return ValueOut(value=inputs.value)

    class Boom(Block[BoomIn]):
        """Always fail."""

        id = "kit.boom"
        Input = BoomIn
        Output = ValueOut

        def run(self, inputs: BoomIn, ctx: BlockContext) -> ValueOut:
            journal.record(ctx, self.id, inputs)
            if inputs.kind == "value":
                raise ValueError(inputs.message)
            raise BlockError(inputs.message, retryable=inputs.retryable)

    class Log(Block[LogIn]):
        """Log a message through the context."""

        id = "kit.log"
        Input = LogIn
        Output = NoOutput

        def run(self, inputs: LogIn, ctx: BlockContext) -> None:
            journal.record(ctx, self.id, inputs)
            ctx.log(inputs.message, detail=inputs.message)

    class Count(Block[CountIn]):
        """A streaming block that is not a loop block: emit 0..count-1."""

        id = "kit.count"
        Input = CountIn
        Output = CountOut

        def run(self, inputs: CountIn, ctx: BlockContext) -> Iterator[CountOut]:
            journal.record(ctx, self.id, inputs)
            for n in range(inputs.count):
                yield CountOut(n=n)

    return (
        EmitValue,
        IntSource,
        TextSink,
        NumberSink,
        Join,
        Flaky,
        Sleep,
        Busy,
        SetVar,
        Boom,
        Log,
        Count,
    )


def kit_registry(journal: Journal) -> BlockRegistry:
    """The control blocks plus the kit, and nothing else."""
    registry = BlockRegistry()
    registry.register_module(control)
    registry.register_all(kit_blocks(journal))
    return registry


# -- running -------------------------------------------------------------------------


class MemorySecrets:
    """A secret source: anything with ``get(name)``."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = dict(values)

    def get(self, name: str) -> str | None:
        return self.values.get(name)


@dataclass
class Harness:
    """Workflow files in a temporary folder, a journal, a registry and an event list."""

    tmp_path: Path
    clock: Clock = field(default_factory=FakeClock)
    journal: Journal = field(default_factory=Journal)
    events: list[Event] = field(default_factory=list)
    registry: BlockRegistry = field(init=False)
    _engines: list[Engine] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry = kit_registry(self.journal)

    def write(self, text: str, name: str = "flow.yaml") -> Path:
        path = self.tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def load(self, text: str, name: str = "flow.yaml") -> LoadedWorkflow:
        return read_workflow_file(self.write(text, name))

    def engine(self, **options: Any) -> Engine:
        options.setdefault("clock", self.clock)
        options.setdefault("sink", self.events.append)
        options.setdefault("seed", 7)
        options.setdefault("environ", {})
        engine = Engine(self.registry, **options)
        self._engines.append(engine)
        return engine

    def run(
        self,
        text: str,
        inputs: dict[str, Any] | None = None,
        *,
        engine: Engine | None = None,
        checkpoint: dict[int, StepCheckpoint] | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        loaded = self.load(text)
        options = RunOptions(checkpoint=checkpoint or {}, cancel=cancel)
        return (engine or self.engine()).run(loaded, inputs, options)

    def close(self) -> None:
        for engine in self._engines:
            engine.close()

    # -- looking at events --------------------------------------------------------------
    def of_run(self, run_id: str) -> list[Event]:
        return [event for event in self.events if event.run_id == run_id]

    def kinds(self, run_id: str) -> list[str]:
        return [event.kind for event in self.of_run(run_id)]

    def finished(self, run_id: str) -> list[NodeFinished]:
        return [e for e in self.of_run(run_id) if isinstance(e, NodeFinished)]

    def typed(self, cls: type[Any], run_id: str | None = None) -> list[Any]:
        events = self.events if run_id is None else self.of_run(run_id)
        return [event for event in events if isinstance(event, cls)]

    def serialised(self) -> str:
        """Every event as the worker pipe would send it."""
        return "\n".join(json.dumps(event.to_dict(), default=str) for event in self.events)


def checkpoint_of(events: list[NodeFinished], upto: int) -> dict[int, StepCheckpoint]:
    """The checkpoint a supervisor would build from the steps recorded up to ``upto``."""
    return {
        event.step: StepCheckpoint(event.node_id, list(event.emissions), dict(event.vars_set))
        for event in events
        if event.step <= upto
    }
