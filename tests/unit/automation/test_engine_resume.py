"""The step a dead worker left in flight: its block's postcondition decides if it runs again.

The engine is driven directly with ``RunOptions(interrupted=...)`` (what the supervisor's
``start`` message carries); the block here states its postcondition as "the
file exists", so the test needs no display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from automation.blocks.base import Block, BlockInput, BlockOutput, ResumeCheck, resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.registry import BlockRegistry
from automation.engine.engine import Engine
from automation.engine.events import Event, LogEmitted, NodeFailed, NodeFinished, NodeStarted
from automation.engine.options import InterruptedStep, RunOptions, StepCheckpoint
from automation.engine.result import RunResult
from automation.errors import BlockError
from automation.loader import parse_workflow


class TouchInput(BlockInput):
    path: str = Field(description="file to create")


class TouchOutput(BlockOutput):
    path: str = Field(description="the file")


class Touch(Block[TouchInput]):
    """Create a file; its postcondition is that the file exists."""

    id = "resumetest.touch"
    Input = TouchInput
    Output = TouchOutput
    runs: list[int] = []
    outputs_known = True

    def run(self, inputs: TouchInput, ctx: BlockContext) -> TouchOutput:
        Touch.runs.append(ctx.attempt)
        resolve_path(ctx, inputs.path).touch()
        return TouchOutput(path=inputs.path)

    def check_resumed(self, inputs: TouchInput, ctx: BlockContext) -> ResumeCheck | None:
        there = resolve_path(ctx, inputs.path).exists()
        output = TouchOutput(path=inputs.path) if Touch.outputs_known else None
        return ResumeCheck(held=there, detail=f"file {inputs.path} exists: {there}", output=output)


FIRST = """\
deskpilot: 1
name: {name}
nodes:
  first:
    block: file.append
    with: {{path: log.txt, content: "first\\n"}}
"""


def resumed_flow(name: str, rest: str) -> str:
    """A workflow whose step 1, ``first``, the resumed runs here have finished; then ``rest``."""
    return FIRST.format(name=name) + rest


FLOW = resumed_flow(
    "resume",
    """\
  touch:
    block: resumetest.touch
    with: {path: "{{ inputs.name }}"}
  after:
    block: file.append
    with: {path: log.txt, content: "after {{ nodes.touch.path }}\\n"}
inputs:
  name: {type: string}
links:
  - first -> touch
  - touch.path -> after.content
""",
)


@pytest.fixture
def engine_events(tmp_path: Path) -> tuple[Engine, list[Event]]:
    Touch.runs = []
    Touch.outputs_known = True
    registry = BlockRegistry.with_builtins(plugins=False)
    registry.register(Touch)
    events: list[Event] = []
    return Engine(registry, sink=events.append, artifacts_dir=tmp_path / "artifacts"), events


def _resume(
    engine: Engine,
    tmp_path: Path,
    flow: str = FLOW,
    inputs: dict[str, object] | None = None,
    **options: Any,
) -> RunResult:
    """Run ``flow`` as resumed after step 1; ``options`` say what earlier workers left (by
    default: attempt 1 of ``touch``, step 2, was cut short)."""
    options.setdefault("attempts_used", {2: 1})
    options.setdefault("interrupted", InterruptedStep(step=2, node_id="touch", attempt=1))
    return engine.run(
        parse_workflow(flow, path=tmp_path / "flow.yaml"),
        {"name": "made.txt"} if inputs is None else inputs,
        RunOptions(checkpoint={1: StepCheckpoint(node_id="first", emissions=[{}])}, **options),
    )


def _decisions(events: list[Event]) -> list[tuple[str, bool]]:
    return [
        (e.data["resume_check"], e.data["repeated"])
        for e in events
        if isinstance(e, LogEmitted) and "resume_check" in e.data
    ]


def test_held_postcondition_is_not_run_again_and_its_outputs_flow_on(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path
) -> None:
    engine, events = engine_events
    (tmp_path / "made.txt").touch()  # the interrupted step had taken effect
    result = _resume(engine, tmp_path)
    assert result.ok, result.error
    assert Touch.runs == []
    assert _decisions(events) == [("held", False)]
    finished = [e for e in events if isinstance(e, NodeFinished) and e.node_id == "touch"]
    assert [(e.step, e.attempt, e.emissions) for e in finished] == [(2, 2, [{"path": "made.txt"}])]
    started = [e for e in events if isinstance(e, NodeStarted) and e.node_id == "touch"]
    assert [(e.step, e.attempt) for e in started] == [(2, 2)]
    assert (tmp_path / "log.txt").read_text() == "made.txt"


def test_postcondition_not_held_runs_the_step_again(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path
) -> None:
    engine, events = engine_events
    result = _resume(engine, tmp_path)
    assert result.ok, result.error
    assert Touch.runs == [2]  # attempt numbers carry on after the interrupted one
    assert _decisions(events) == [("not_held", True)]
    message = next(e.message for e in events if isinstance(e, LogEmitted) and e.data)
    assert "postcondition not held: repeated" in message


def test_held_but_outputs_unknown_and_used_runs_again(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path
) -> None:
    engine, events = engine_events
    Touch.outputs_known = False
    (tmp_path / "made.txt").touch()
    result = _resume(engine, tmp_path)
    assert result.ok, result.error
    assert Touch.runs == [2]
    assert _decisions(events) == [("held_outputs_unknown", True)]


def test_a_block_without_postcondition_runs_again_and_says_so(tmp_path: Path) -> None:
    registry = BlockRegistry.with_builtins(plugins=False)
    events: list[Event] = []
    engine = Engine(registry, sink=events.append, artifacts_dir=tmp_path / "a")
    loaded = parse_workflow(
        "deskpilot: 1\nname: plain\nnodes:\n  a:\n    block: file.append\n"
        "    with: {path: log.txt, content: x}\n",
        path=tmp_path / "flow.yaml",
    )
    options = RunOptions(attempts_used={1: 1}, interrupted=InterruptedStep(1, "a", 1))
    result = engine.run(loaded, {}, options)
    assert result.ok
    assert _decisions(events) == [("none", True)]
    assert (tmp_path / "log.txt").read_text() == "x"


def test_a_stale_interrupted_step_for_another_node_is_ignored(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path
) -> None:
    engine, events = engine_events
    loaded = parse_workflow(FLOW, path=tmp_path / "flow.yaml")
    result = engine.run(
        loaded,
        {"name": "made.txt"},
        RunOptions(interrupted=InterruptedStep(step=2, node_id="other", attempt=1)),
    )
    assert result.ok
    assert Touch.runs == [1]
    assert _decisions(events) == []


def test_outputs_used_by_a_template_elsewhere_count_as_used(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path
) -> None:
    engine, events = engine_events
    Touch.outputs_known = False
    (tmp_path / "made.txt").touch()
    flow = FLOW.replace("  - touch.path -> after.content\n", "  - touch -> after\n").replace(
        'content: "after {{ nodes.touch.path }}\\n"', "content: \"{{ nodes['touch'].path }}\""
    )
    result = _resume(engine, tmp_path, flow)
    assert result.ok, result.error
    assert Touch.runs == [2]
    assert _decisions(events) == [("held_outputs_unknown", True)]


# -- the retry budget of a resumed step ------------------------------------------------


def test_the_attempt_budget_counts_what_earlier_workers_spent() -> None:
    from automation.engine.resume import attempt_budget

    assert attempt_budget(3, 2, in_flight=True) == 3  # 2 of 3 used: one left
    assert attempt_budget(3, 3, in_flight=True) == 4  # its last attempt was cut: finished once
    assert attempt_budget(1, 1, in_flight=True) == 2  # no retries: the cut step runs once more
    assert attempt_budget(3, 1, in_flight=False) == 3  # between retries: two left
    assert attempt_budget(3, 3, in_flight=False) == 3  # all used: none left


class Flaky(Block[BlockInput]):
    """Fail every time, with an error worth retrying."""

    id = "resumetest.flaky"
    Input = BlockInput
    Output = BlockOutput

    def run(self, inputs: BlockInput, ctx: BlockContext) -> BlockOutput:
        raise BlockError("still broken", retryable=True)


RETRIED = resumed_flow(
    "retried",
    """\
  flaky:
    block: resumetest.flaky
    retry: {max_attempts: 3, delay: 0s}
links:
  - first -> flaky
""",
)


def _resume_flaky(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path, **options: Any
) -> list[NodeFailed]:
    """Resume ``RETRIED`` at its flaky step 2; the failures of the attempts it was given."""
    engine, events = engine_events
    engine.registry.register(Flaky)
    result = _resume(engine, tmp_path, RETRIED, {}, **options)
    assert not result.ok
    return [e for e in events if isinstance(e, NodeFailed)]


@pytest.mark.parametrize(
    ("used", "in_flight", "attempts"),
    [
        (2, True, [3]),  # attempt 1 failed, 2 was cut by the crash: one left
        (3, True, [4]),  # the crash cut its last attempt: it runs once more, no retry
        (1, False, [2, 3]),  # it died waiting out the backoff after attempt 1: two left
        (3, False, [4]),  # all three failed before the worker died: it fails, not run again
    ],
)
def test_a_resumed_step_gets_only_the_attempts_it_has_left(
    engine_events: tuple[Engine, list[Event]],
    tmp_path: Path,
    used: int,
    in_flight: bool,
    attempts: list[int],
) -> None:
    failed = _resume_flaky(
        engine_events,
        tmp_path,
        attempts_used={2: used},
        attempts_spent={2: used},
        interrupted=InterruptedStep(step=2, node_id="flaky", attempt=used) if in_flight else None,
    )
    assert [e.attempt for e in failed] == attempts
    assert [e.will_retry for e in failed] == [True] * (len(attempts) - 1) + [False]
    if used == 3 and not in_flight:
        assert "used all 3 of its attempts before the run was resumed" in failed[0].message


def test_an_attempt_a_locked_screen_cut_short_is_not_spent(
    engine_events: tuple[Engine, list[Event]], tmp_path: Path
) -> None:
    """Attempt 2 was cut by a lock (recorded, not spent): attempts 3 and 4 remain after 1."""
    failed = _resume_flaky(
        engine_events, tmp_path, attempts_used={2: 2}, attempts_spent={2: 1}, interrupted=None
    )
    assert [e.attempt for e in failed] == [3, 4]
