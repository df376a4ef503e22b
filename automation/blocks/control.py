"""Control flow: branching, loops, delays, subflows, and ending a run on purpose.

Branches are emissions on different pins (``if`` emits on ``yes`` or ``no``);
loops are blocks that emit many times (``for_each`` once per item), and
what each emission feeds runs to the end before the next item.  Nothing here
needs special support from the engine beyond emissions, except ``while``'s
condition, which the engine hands over unrendered so it can be re-evaluated
on each turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from automation.blocks.base import Block, BlockInput, BlockOutput, Emit, resolve_path
from automation.blocks.context import BlockContext
from automation.durations import Duration
from automation.errors import BlockError, WorkflowFailed

SWITCH_CASES = 8


class ValueInput(BlockInput):
    value: Any = Field(None, description="passed through unchanged")


class ValueOutput(BlockOutput):
    value: Any = Field(None, description="the value that came in")


class Pass(Block[ValueInput]):
    """Do nothing and pass the value on.

    Useful to join branches, to give a value a name, or as a placeholder.
    """

    id = "control.pass"
    title = "Pass"
    category = "control"
    Input = ValueInput
    Output = ValueOutput

    def run(self, inputs: ValueInput, ctx: BlockContext) -> ValueOutput:
        return ValueOutput(value=inputs.value)


class IfInput(BlockInput):
    condition: Any = Field(
        description="true-ish (true, non-zero, non-empty) goes to 'yes', else to 'no'; "
        "usually a template like '{{ nodes.fetch.status == 200 }}'"
    )
    value: Any = Field(None, description="what to emit on the chosen pin")


class IfOutput(BlockOutput):
    yes: Any = Field(None, description="emitted when the condition holds")
    no: Any = Field(None, description="emitted when it does not")


class If(Block[IfInput]):
    """Branch on a condition: emit on 'yes' or on 'no'."""

    id = "control.if"
    title = "If"
    category = "control"
    Input = IfInput
    Output = IfOutput

    def run(self, inputs: IfInput, ctx: BlockContext) -> Emit:
        condition = inputs.condition
        if isinstance(condition, str) and condition.strip().lower() in {"false", "no", "0", ""}:
            condition = False
        return Emit(yes=inputs.value) if condition else Emit(no=inputs.value)


class SwitchInput(BlockInput):
    value: Any = Field(description="the value to compare with each case")
    cases: list[Any] = Field(
        max_length=SWITCH_CASES,
        description=f"up to {SWITCH_CASES} values; the first equal to 'value' picks its pin",
    )


class SwitchOutput(BlockOutput):
    case_1: Any = Field(None, description="value equals cases[0]")
    case_2: Any = Field(None, description="value equals cases[1]")
    case_3: Any = Field(None, description="value equals cases[2]")
    case_4: Any = Field(None, description="value equals cases[3]")
    case_5: Any = Field(None, description="value equals cases[4]")
    case_6: Any = Field(None, description="value equals cases[5]")
    case_7: Any = Field(None, description="value equals cases[6]")
    case_8: Any = Field(None, description="value equals cases[7]")
    default: Any = Field(None, description="no case matched")


class Switch(Block[SwitchInput]):
    """Route a value to the pin of the first case it equals, or to 'default'."""

    id = "control.switch"
    title = "Switch"
    category = "control"
    Input = SwitchInput
    Output = SwitchOutput

    def run(self, inputs: SwitchInput, ctx: BlockContext) -> Emit:
        for index, case in enumerate(inputs.cases, start=1):
            if case == inputs.value:
                return Emit({f"case_{index}": inputs.value})
        return Emit(default=inputs.value)


class ForEachInput(BlockInput):
    items: list[Any] = Field(description="the list to walk; a mapping walks its keys")


class ForEachOutput(BlockOutput):
    item: Any = Field(None, description="the current item")
    index: int = Field(0, description="0-based position of the item")
    count: int = Field(0, description="how many items there are")


class ForEach(Block[ForEachInput]):
    """Emit once per item; what the item feeds runs before the next one.

    After the last item, 'done' fires: link it to what should run after the loop.
    """

    id = "control.for_each"
    title = "For each"
    category = "control"
    loop = True
    Input = ForEachInput
    Output = ForEachOutput

    def run(self, inputs: ForEachInput, ctx: BlockContext) -> Iterator[ForEachOutput]:
        count = len(inputs.items)
        for index, item in enumerate(inputs.items):
            ctx.check_cancelled()
            yield ForEachOutput(item=item, index=index, count=count)


class WhileInput(BlockInput):
    condition: str = Field(
        description="checked before each turn, e.g. '{{ vars.page < 10 }}' (braces optional)"
    )
    limit: int = Field(
        ge=1, le=1_000_000, description="most turns allowed; required, so no loop runs away"
    )
    interval: Duration = Field(0.0, description="pause between turns")
    on_limit: Literal["fail", "stop"] = Field(
        "fail",
        description="at the limit with the condition still true: fail the node, or just stop",
    )


class WhileOutput(BlockOutput):
    iteration: int = Field(0, description="0-based turn number")


class While(Block[WhileInput]):
    """Repeat while a condition holds, up to a mandatory limit.

    The condition is re-read before every turn, so nodes in the loop body
    change it through variables (data.set_var).
    """

    id = "control.while"
    title = "While"
    category = "control"
    loop = True
    raw_inputs = frozenset({"condition"})
    Input = WhileInput
    Output = WhileOutput

    def run(self, inputs: WhileInput, ctx: BlockContext) -> Iterator[WhileOutput]:
        source = inputs.condition if "{{" in inputs.condition else "{{ " + inputs.condition + " }}"
        for iteration in range(inputs.limit):
            if not ctx.evaluate(source):
                return
            if iteration and inputs.interval:
                ctx.sleep(inputs.interval)
            yield WhileOutput(iteration=iteration)
        if ctx.evaluate(source) and inputs.on_limit == "fail":
            raise BlockError(
                f"while loop reached its limit of {inputs.limit} turns with the condition still true",
                retryable=False,
            )


class DelayInput(BlockInput):
    seconds: Duration = Field(description="how long to wait, e.g. '2s' or '5m'")
    value: Any = Field(None, description="passed through after the wait")


class Delay(Block[DelayInput]):
    """Wait, then pass the value on.  Cancelling the run ends the wait at once."""

    id = "control.delay"
    title = "Delay"
    category = "control"
    Input = DelayInput
    Output = ValueOutput

    def run(self, inputs: DelayInput, ctx: BlockContext) -> ValueOutput:
        ctx.sleep(inputs.seconds)
        return ValueOutput(value=inputs.value)


class SubflowInput(BlockInput):
    path: str = Field(description="workflow file to run, relative to this one")
    inputs: dict[str, Any] = Field(default_factory=dict, description="inputs of that workflow")


class SubflowOutput(BlockOutput):
    outputs: dict[str, Any] = Field(default_factory=dict, description="that workflow's outputs")


class Subflow(Block[SubflowInput]):
    """Run another workflow file as one step and return its outputs.

    The subflow is recorded as a run of its own, linked to this one.
    """

    id = "control.subflow"
    title = "Subflow"
    category = "control"
    idempotent = False
    composite = True
    Input = SubflowInput
    Output = SubflowOutput

    def run(self, inputs: SubflowInput, ctx: BlockContext) -> SubflowOutput:
        return SubflowOutput(outputs=ctx.run_subflow(resolve_path(ctx, inputs.path), inputs.inputs))


class FailInput(BlockInput):
    message: str = Field("failed on purpose", description="why: shown in the run's history")


class Fail(Block[FailInput]):
    """Fail the run (or, if its error pin is linked, this branch) with a message."""

    id = "control.fail"
    title = "Fail"
    category = "control"
    Input = FailInput

    def run(self, inputs: FailInput, ctx: BlockContext) -> None:
        raise WorkflowFailed(inputs.message)


class StopInput(BlockInput):
    reason: str = Field("stopped", description="why: shown in the run's history")


class Stop(Block[StopInput]):
    """End the run now, successfully; nodes still waiting do not run."""

    id = "control.stop"
    title = "Stop"
    category = "control"
    Input = StopInput

    def run(self, inputs: StopInput, ctx: BlockContext) -> None:
        ctx.stop_run(inputs.reason)


BLOCKS = (Pass, If, Switch, ForEach, While, Delay, Subflow, Fail, Stop)
