"""What steps leave for the next (``BlockContext.run_state``) survives a resume.

The first run is recorded (its ``node_finished`` events are what history
keeps); a second run resumes from a checkpoint cut after each step, as after
a worker killed there, and each resumed step must see what it saw the first
time.  The focus check's memory is one such value: its JSON form round-trips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automation.blocks.base import Block
from automation.blocks.context import BlockContext
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.focus import Expected, Win
from automation.clock import FakeClock
from automation.engine.run_state import RUN_STATE, replay_changes, state_changes
from automation.redaction import Redactor
from tests.unit.automation.blockkit import Harness, ValueIn, ValueOut, checkpoint_of


class Remember(Block[ValueIn]):
    """Return what the previous step left, and leave this step's value (None: forget)."""

    id = "statetest.remember"
    Input = ValueIn
    Output = ValueOut

    def run(self, inputs: ValueIn, ctx: BlockContext) -> ValueOut:
        before = ctx.run_state.get("last")
        if inputs.value is None:
            ctx.run_state.pop("last", None)
        else:
            ctx.run_state["last"] = {"value": inputs.value}
        return ValueOut(value=before)


FLOW = """\
name: parent
nodes:
  a: {block: statetest.remember, with: {value: one}}
  b: {block: kit.emit, with: {value: untouched}}
  sub: {block: control.subflow, with: {path: child.yaml}}
  gone: {block: statetest.remember}
  last: {block: statetest.remember, with: {value: end}}
links: [a -> b, b -> sub, sub -> gone, gone -> last]
outputs:
  saw: ["{{ nodes.a.value }}", "{{ nodes.sub.outputs.saw }}", "{{ nodes.gone.value }}",
        "{{ nodes.last.value }}"]
"""
CHILD = (
    "name: child\nnodes:\n  mid: {block: statetest.remember, with: {value: child}}\n"
    "outputs: {saw: '{{ nodes.mid.value }}'}\n"
)


def test_changes_replayed_in_order_give_the_state_back() -> None:
    states: list[dict[str, Any]] = [{}, {"w": {"id": 1}}, {"w": {"id": 1}, "x": 2}, {"x": 3}]
    recorded = [state_changes(a, b) for a, b in zip(states, states[1:], strict=False)]
    assert recorded == [{"w": {"id": 1}}, {"x": 2}, {"x": 3, "w": None}]
    state: dict[str, Any] = {}
    for changes in recorded:
        replay_changes(state, {"some_var": 1, RUN_STATE: changes})
    assert state == states[-1]
    replay_changes(state, {"some_var": 1})  # a step that changed nothing
    assert state == states[-1]


def test_a_secret_in_the_state_is_masked_where_history_keeps_it() -> None:
    from automation.engine.run_state import record_changes

    redactor = Redactor()
    redactor.add("hunter2-secret")
    kept = record_changes({"v": 1}, {"w": {"title": "login hunter2-secret"}}, redactor)
    assert "hunter2-secret" not in repr(kept)
    assert kept["v"] == 1 and kept[RUN_STATE]["w"]["title"] != "login hunter2-secret"


@pytest.mark.parametrize("upto", [0, 1, 2, 3, 4])
def test_a_resumed_step_sees_what_the_finished_steps_left(tmp_path: Path, upto: int) -> None:
    first = Harness(tmp_path / "first", clock=FakeClock())
    (tmp_path / "first").mkdir()
    try:
        first.registry.register(Remember)
        first.write(CHILD, "child.yaml")
        result = first.run(FLOW)
        assert result.ok, result.error
        finished = first.finished(result.run_id)
    finally:
        first.close()
    assert result.outputs == {"saw": [None, {"value": "one"}, {"value": "child"}, None]}
    # the steps that changed the state recorded it; the one that did not, nothing
    by_node = {e.node_id: e.vars_set for e in finished}
    assert by_node["b"] == {}
    assert by_node["sub"] == {RUN_STATE: {"last": {"value": "child"}}}
    assert by_node["gone"] == {RUN_STATE: {"last": None}}

    h = Harness(tmp_path, clock=FakeClock())
    try:
        h.registry.register(Remember)
        h.write(CHILD, "child.yaml")
        resumed = h.run(FLOW, checkpoint=checkpoint_of(finished, upto))
        assert resumed.ok, resumed.error
        assert resumed.outputs == result.outputs
    finally:
        h.close()


def test_the_focus_memory_round_trips_through_its_recorded_form() -> None:
    win = Win(42, "letter.txt - Mousepad", (7,), False, Box(1, 2, 300, 200), ("mousepad",), 99)
    for expected in (Expected("focus", win), Expected("launch", pid=500)):
        assert Expected.from_json(expected.to_json()) == expected
    assert Expected.from_json({"node": "x"}) is None
    assert Expected.from_json({"node": "x", "pid": None, "win": None}) is None
