"""RunOptions is validated where it is made; the dataflow pairs values by loop turn."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from automation.engine.dataflow import Dataflow, ready
from automation.engine.frames import Activation
from automation.engine.options import RunOptions


def test_plain_options_describe_a_new_manual_run() -> None:
    options = RunOptions()
    assert options.run_id is None
    assert options.trigger == "manual"
    assert dict(options.checkpoint) == {} and options.seq_after == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.trigger = "schedule"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"run_id": ""}, "run_id must not be empty"),
        ({"seq_after": -1}, "seq_after must be at least 0, got -1"),
        ({"depth": -2}, "depth must be at least 0, got -2"),
        ({"attempts_used": {3: -1}}, "attempts used by step 3 must be at least 0, got -1"),
        ({"on_drained": lambda: None}, "give drain too"),
    ],
)
def test_bad_options_fail_where_they_are_made(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunOptions(**values)  # type: ignore[arg-type]


def test_options_with_drain_and_its_callback_are_accepted() -> None:
    options = RunOptions(drain=threading.Event(), on_drained=lambda: None)
    assert options.drain is not None


def test_values_from_one_chain_of_turns_are_ready_together() -> None:
    linked = frozenset({"a", "b"})
    # a setting made before the loop pairs with any turn inside it
    assert ready({"a": (1, ()), "b": (2, (4,))}, linked) == (4,)
    # two different turns of one loop never pair
    assert ready({"a": (1, (3,)), "b": (2, (4,))}, linked) is None
    assert ready({"a": (1, ())}, linked) is None


def test_an_early_arrival_waits_for_its_partner_then_runs_in_arrival_order() -> None:
    flow = Dataflow(lambda node: frozenset({"x", "y"}))
    out = {"value": [("join", "x")]}
    assert flow.deliver(out, {"value": 1}, (1,)) == []
    assert flow.deliver(out, {"value": 2}, (2,)) == []
    ready_now = flow.deliver({"other": [("join", "y")]}, {"other": "s"}, ())
    assert ready_now == [
        Activation("join", {"x": 1, "y": "s"}, (1,)),
        Activation("join", {"x": 2, "y": "s"}, (2,)),
    ]
