"""The engine: dataflow order, loops, branches, retries, failures, subflows, limits,
events, checkpoints, secrets and inputs.  Time is a FakeClock unless a test says otherwise.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.blocks.context import CancelToken
from automation.clock import SYSTEM_CLOCK, FakeClock
from automation.engine.events import (
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodeReplayed,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
    event_from_dict,
)
from automation.engine.options import RunOptions
from automation.errors import WorkflowError
from automation.inputs import coerce_inputs
from automation.loader import parse_workflow
from tests.helpers.common import eventually
from tests.unit.automation.blockkit import Harness, MemorySecrets, checkpoint_of


@pytest.fixture
def h(tmp_path: Path, fake_clock: FakeClock) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=fake_clock)
    yield harness
    harness.close()


# -- dataflow order ------------------------------------------------------------------


def test_linear_chain_runs_in_link_order_not_file_order(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  c: {block: kit.emit}\n  b: {block: kit.emit}\n  a: {block: kit.emit}\n"
        "links: [a -> b, b -> c]\n"
    )
    assert result.ok
    assert h.journal.order() == ["a", "b", "c"]
    assert result.steps == 3
    assert [c.step for c in h.journal.calls] == [1, 2, 3]


def test_values_pass_along_links_and_templates(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n"
        "  a: {block: kit.int_source, with: {value: 41}}\n"
        "  b: {block: kit.number}\n"
        "  c: {block: kit.emit, with: {value: '{{ nodes.a.number + 1 }}'}}\n"
        "links: [a.number -> b.amount, b -> c]\n"
        "outputs: {amount: '{{ nodes.b.amount }}', c: '{{ nodes.c.value }}', text: 'n={{ nodes.a.number }}'}\n"
    )
    assert result.ok
    assert h.journal.values("b", "amount") == [41.0]
    assert h.journal.values("c") == [42]
    assert result.outputs == {"amount": 41.0, "c": 42, "text": "n=41"}


def test_fan_out_feeds_every_target_once(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  a: {block: kit.emit, with: {value: x}}\n"
        "  b: {block: kit.emit}\n  c: {block: kit.emit}\n"
        "links: [a.value -> b.value, a.value -> c.value]\n"
    )
    assert result.ok
    assert h.journal.order() == ["a", "b", "c"]
    assert h.journal.values("b") == h.journal.values("c") == ["x"]


def test_join_waits_for_both_inputs(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  j: {block: kit.join}\n"
        "  left: {block: kit.emit, with: {value: L}}\n"
        "  middle: {block: kit.emit}\n"
        "  right: {block: kit.emit, with: {value: R}}\n"
        "links: [left.value -> j.a, left -> middle, right.value -> j.b]\n"
        "outputs: {pair: '{{ nodes.j.pair }}'}\n"
    )
    assert result.ok
    assert h.journal.order() == ["left", "middle", "right", "j"]
    assert h.journal.count("j") == 1
    assert result.outputs == {"pair": ["L", "R"]}


def test_node_fed_once_and_per_item_runs_once_per_item(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n"
        "  setting: {block: kit.emit, with: {value: s}}\n"
        "  loop: {block: control.for_each, with: {items: [1, 2, 3]}}\n"
        "  j: {block: kit.join}\n"
        "links: [setting.value -> j.a, loop.item -> j.b]\n"
    )
    assert result.ok
    assert [c.inputs for c in h.journal.of("j")] == [
        {"a": "s", "b": 1},
        {"a": "s", "b": 2},
        {"a": "s", "b": 3},
    ]


def test_sticky_input_does_not_depend_on_file_order(h: Harness) -> None:
    h.run(
        "name: w\nnodes:\n"
        "  loop: {block: control.for_each, with: {items: [1, 2, 3]}}\n"
        "  setting: {block: kit.emit, with: {value: s}}\n"
        "  j: {block: kit.join}\n"
        "links: [setting.value -> j.a, loop.item -> j.b]\n"
    )
    assert h.journal.values("j", "b") == [1, 2, 3]


def test_join_inside_a_loop_body_runs_once_per_item(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n"
        "  loop: {block: control.for_each, with: {items: [1, 2, 3]}}\n"
        "  left: {block: kit.emit, with: {value: 'L{{ nodes.loop.item }}'}}\n"
        "  right: {block: kit.emit, with: {value: 'R{{ nodes.loop.item }}'}}\n"
        "  j: {block: kit.join}\n"
        "links: [loop.item -> left, loop.item -> right, left.value -> j.a, right.value -> j.b]\n"
    )
    assert result.ok
    assert [c.inputs for c in h.journal.of("j")] == [
        {"a": "L1", "b": "R1"},
        {"a": "L2", "b": "R2"},
        {"a": "L3", "b": "R3"},
    ]


def test_for_each_fans_out_a_thousand_items(h: Harness) -> None:
    result = h.run(
        "name: w\ninputs: {n: 1000}\nnodes:\n"
        "  loop: {block: control.for_each, with: {items: '{{ range(inputs.n) | list }}'}}\n"
        "  body: {block: kit.emit}\n"
        "  after: {block: kit.emit}\n"
        "links: [loop.item -> body.value, loop.done -> after]\n"
    )
    assert result.ok
    assert h.journal.values("body") == list(range(1000))
    assert h.journal.count("after") == 1
    assert h.journal.order()[-1] == "after"
    assert result.steps == 1002
    assert result.nodes["body"].executions == 1000


def test_nested_for_each(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n"
        "  outer: {block: control.for_each, with: {items: [[1, 2], [3], [4, 5, 6]]}}\n"
        "  inner: {block: control.for_each}\n"
        "  leaf: {block: kit.emit}\n"
        "  done_inner: {block: kit.emit}\n"
        "links: [outer.item -> inner.items, inner.item -> leaf.value, inner.done -> done_inner]\n"
    )
    assert result.ok
    assert h.journal.values("leaf") == [1, 2, 3, 4, 5, 6]
    assert h.journal.count("done_inner") == 3
    order = [n for n in h.journal.order() if n in {"leaf", "done_inner"}]
    assert order == ["leaf", "leaf", "done_inner", "leaf", "done_inner"] + ["leaf"] * 3 + [
        "done_inner"
    ]


def test_streaming_block_that_is_not_a_loop(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  count: {block: kit.count, with: {count: 4}}\n  each: {block: kit.emit}\n"
        "links: [count.n -> each.value]\n"
    )
    assert result.ok
    assert h.journal.values("each") == [0, 1, 2, 3]


# -- branches and loops ----------------------------------------------------------------


IF_FLOW = """\
name: w
inputs: {n: 0}
nodes:
  check: {block: control.if, with: {condition: '{{ inputs.n > 3 }}', value: '{{ inputs.n }}'}}
  big: {block: kit.emit}
  small: {block: kit.emit}
  after: {block: kit.emit}
links: [check.yes -> big.value, check.no -> small.value, check -> after]
"""


@pytest.mark.parametrize(("n", "taken", "skipped"), [(5, "big", "small"), (1, "small", "big")])
def test_if_runs_only_the_chosen_branch(h: Harness, n: int, taken: str, skipped: str) -> None:
    result = h.run(IF_FLOW, {"n": n})
    assert result.ok
    assert h.journal.values(taken) == [n]
    assert h.journal.count(skipped) == 0
    assert h.journal.count("after") == 1
    assert result.nodes[skipped].status == "pending"


SWITCH_FLOW = """\
name: w
inputs: {v: a}
nodes:
  route: {block: control.switch, with: {value: '{{ inputs.v }}', cases: [a, b, c]}}
  on_a: {block: kit.emit}
  on_b: {block: kit.emit}
  other: {block: kit.emit}
links: [route.case_1 -> on_a.value, route.case_2 -> on_b.value, route.default -> other.value]
"""


@pytest.mark.parametrize(("value", "taken"), [("a", "on_a"), ("b", "on_b"), ("z", "other")])
def test_switch_routes_to_one_pin(h: Harness, value: str, taken: str) -> None:
    assert h.run(SWITCH_FLOW, {"v": value}).ok
    assert [c.node_id for c in h.journal.calls] == [taken]
    assert h.journal.values(taken) == [value]


WHILE_FLOW = """\
name: w
vars: {i: 0}
nodes:
  loop:
    block: control.while
    with: {condition: 'vars.i < 3', limit: TURNS, on_limit: WHEN_FULL}
  body: {block: kit.set_var, with: {name: i, value: '{{ vars.i + 1 }}'}}
  after: {block: kit.emit, with: {value: '{{ vars.i }}'}}
links: [loop.iteration -> body, loop.done -> after]
outputs: {i: '{{ vars.i }}'}
"""


def test_while_repeats_until_its_condition_is_false(h: Harness) -> None:
    result = h.run(WHILE_FLOW.replace("TURNS", "10").replace("WHEN_FULL", "fail"))
    assert result.ok, result.error
    assert h.journal.values("body") == [1, 2, 3]
    assert h.journal.values("after") == [3]
    assert result.outputs == {"i": 3}


def test_while_limit_fails_the_node(h: Harness) -> None:
    result = h.run(WHILE_FLOW.replace("TURNS", "2").replace("WHEN_FULL", "fail"))
    assert result.status is RunStatus.FAILED
    assert result.failed_node == "loop"
    assert result.error is not None and "reached its limit of 2 turns" in result.error
    assert h.journal.count("body") == 2
    assert h.journal.count("after") == 0


def test_while_limit_may_just_stop(h: Harness) -> None:
    result = h.run(WHILE_FLOW.replace("TURNS", "2").replace("WHEN_FULL", "stop"))
    assert result.ok
    assert result.outputs == {"i": 2}
    assert h.journal.values("after") == [2]


def test_while_waits_its_interval_between_turns(h: Harness, fake_clock: FakeClock) -> None:
    text = WHILE_FLOW.replace("TURNS", "10").replace("WHEN_FULL", "fail")
    text = text.replace("on_limit: fail}", "on_limit: fail, interval: 5s}")
    assert h.run(text).ok
    assert fake_clock.sleeps == [5.0, 5.0]


# -- retries ---------------------------------------------------------------------------


RETRY_FLOW = """\
name: w
nodes:
  flaky:
    block: kit.flaky
    with: {failures: FAILURES, retryable: RETRYABLE, value: ok}
    retry: {max_attempts: ATTEMPTS, delay: 1s, multiplier: 2, max_delay: MAXD, jitter: JITTER}
  after: {block: kit.emit}
links: [flaky.value -> after.value]
"""


def retry_flow(failures: int = 3, attempts: int = 5, *, retryable: bool = True,
               jitter: float = 0, max_delay: str = "1h") -> str:  # fmt: skip
    return (
        RETRY_FLOW.replace("FAILURES", str(failures))
        .replace("ATTEMPTS", str(attempts))
        .replace("RETRYABLE", "true" if retryable else "false")
        .replace("JITTER", str(jitter))
        .replace("MAXD", max_delay)
    )


def test_retries_back_off_exponentially(h: Harness, fake_clock: FakeClock) -> None:
    result = h.run(retry_flow(failures=3, attempts=5))
    assert result.ok
    assert fake_clock.sleeps == [1.0, 2.0, 4.0]
    assert [c.attempt for c in h.journal.of("flaky")] == [1, 2, 3, 4]
    retrying = h.typed(NodeRetrying)
    assert [(e.next_attempt, e.delay) for e in retrying] == [(2, 1.0), (3, 2.0), (4, 4.0)]
    assert {e.step for e in retrying} == {1}  # retries are attempts of one step
    assert h.journal.values("after") == ["ok"]
    assert result.nodes["flaky"].attempts == 4


def test_backoff_is_capped_by_max_delay(h: Harness, fake_clock: FakeClock) -> None:
    assert h.run(retry_flow(failures=4, attempts=5, max_delay="3s")).ok
    assert fake_clock.sleeps == [1.0, 2.0, 3.0, 3.0]


def test_jitter_comes_from_the_seeded_run_random(h: Harness, fake_clock: FakeClock) -> None:
    assert h.run(retry_flow(failures=3, attempts=4, jitter=0.5), engine=h.engine(seed=42)).ok
    rng = random.Random(42)
    expected = [base * (1 + 0.5 * (2 * rng.random() - 1)) for base in (1.0, 2.0, 4.0)]
    assert fake_clock.sleeps == pytest.approx(expected)
    assert fake_clock.sleeps != [1.0, 2.0, 4.0]
    first = list(fake_clock.sleeps)
    fake_clock.sleeps.clear()
    assert h.run(retry_flow(failures=3, attempts=4, jitter=0.5), engine=h.engine(seed=42)).ok
    assert fake_clock.sleeps == first


def test_retries_stop_at_max_attempts(h: Harness, fake_clock: FakeClock) -> None:
    result = h.run(retry_flow(failures=10, attempts=3))
    assert result.status is RunStatus.FAILED
    assert h.journal.count("flaky") == 3
    assert fake_clock.sleeps == [1.0, 2.0]
    assert result.failed_node == "flaky"
    assert result.error == "node 'flaky' (kit.flaky) failed: flaky failure 3"
    failed = h.typed(NodeFailed)
    assert [(e.attempt, e.will_retry) for e in failed] == [(1, True), (2, True), (3, False)]
    assert h.journal.count("after") == 0


def test_non_retryable_errors_are_not_retried(h: Harness, fake_clock: FakeClock) -> None:
    result = h.run(retry_flow(failures=10, attempts=5, retryable=False))
    assert result.status is RunStatus.FAILED
    assert h.journal.count("flaky") == 1
    assert fake_clock.sleeps == []
    assert [e.will_retry for e in h.typed(NodeFailed)] == [False]


def test_foreign_exceptions_are_retried(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  b: {block: kit.boom, with: {kind: value, message: bad value}, retry: 3}\n"
    )
    assert result.status is RunStatus.FAILED
    assert h.journal.count("b") == 3
    assert h.typed(NodeFailed)[-1].error_type == "ValueError"


def test_workflow_default_retry_applies(h: Harness) -> None:
    result = h.run(
        "name: w\ndefaults: {retry: {max_attempts: 2, delay: 0s}}\n"
        "nodes:\n  f: {block: kit.flaky, with: {failures: 1}}\n"
    )
    assert result.ok
    assert h.journal.count("f") == 2


# -- failures and the error pin --------------------------------------------------------


def test_linked_error_pin_catches_the_failure(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n"
        "  risky: {block: kit.boom, with: {message: it broke, retryable: true}, retry: {max_attempts: 2, delay: 0s}}\n"
        "  handler: {block: kit.emit}\n"
        "  next: {block: kit.emit}\n"
        "links: [risky.error -> handler.value, risky.value -> next.value]\n"
        "outputs: {err: '{{ nodes.risky.error.message }}'}\n"
    )
    assert result.ok
    assert result.failed_node is None
    (payload,) = h.journal.values("handler")
    assert payload == {
        "message": "it broke",
        "type": "BlockError",
        "node": "risky",
        "attempts": 2,
        "failure": "error",
    }
    assert h.journal.count("next") == 0
    assert result.outputs == {"err": "it broke"}
    assert result.nodes["risky"].status == "failed"
    assert h.typed(NodeFailed)[-1].handled is True


def test_unlinked_error_pin_fails_the_run(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  risky: {block: kit.boom, with: {message: it broke}}\n"
        "  next: {block: kit.emit}\nlinks: [risky -> next]\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.failed_node == "risky"
    assert result.error == "node 'risky' (kit.boom) failed: it broke"
    assert h.journal.count("next") == 0
    assert h.typed(NodeFailed)[-1].handled is False
    finished = h.typed(RunFinished)[-1]
    assert (finished.status, finished.failed_node) == (RunStatus.FAILED, "risky")


def test_step_timeout_with_ctx_sleep_is_retried(h: Harness, fake_clock: FakeClock) -> None:
    result = h.run(
        "name: w\nnodes:\n"
        "  slow: {block: kit.sleep, with: {seconds: 10}, timeout: 2s, "
        "retry: {max_attempts: 2, delay: 1s, jitter: 0}}\n"
    )
    assert result.status is RunStatus.FAILED
    assert h.journal.count("slow") == 2
    assert fake_clock.sleeps == [2.0, 1.0, 2.0]
    failed = h.typed(NodeFailed)
    assert [(e.error_type, e.failure, e.will_retry) for e in failed] == [
        ("StepTimeout", "timeout", True),
        ("StepTimeout", "timeout", False),
    ]
    assert result.error is not None and "ran past its deadline" in result.error


def test_step_that_sleeps_less_than_its_timeout_succeeds(h: Harness, fake_clock: FakeClock) -> None:
    result = h.run("name: w\nnodes:\n  s: {block: kit.sleep, with: {seconds: 1.5}, timeout: 2s}\n")
    assert result.ok
    assert fake_clock.sleeps == [1.5]


def test_timed_out_step_can_be_caught_by_the_error_pin(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  s: {block: kit.sleep, with: {seconds: 10}, timeout: 1s}\n"
        "  h: {block: kit.emit}\nlinks: [s.error -> h.value]\n"
    )
    assert result.ok
    assert h.journal.values("h")[0]["failure"] == "timeout"


def test_control_fail_fails_the_run_without_retrying(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  a: {block: kit.emit}\n"
        "  give_up: {block: control.fail, with: {message: nothing to do}, retry: 3}\n"
        "  after: {block: kit.emit}\nlinks: [a -> give_up, give_up -> after]\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.failed_node == "give_up"
    assert result.error == "node 'give_up' (control.fail) failed: nothing to do"
    assert [e.error_type for e in h.typed(NodeFailed)] == ["WorkflowFailed"]
    assert h.journal.count("after") == 0


def test_control_fail_with_error_pin_fails_only_the_branch(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  give_up: {block: control.fail, with: {message: why}}\n"
        "  h: {block: kit.emit}\nlinks: [give_up.error -> h.value]\n"
    )
    assert result.ok
    assert h.journal.values("h")[0]["message"] == "why"


def test_control_stop_ends_the_run_successfully(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  a: {block: kit.emit}\n  stop: {block: control.stop, with: {reason: enough}}\n"
        "  later: {block: kit.emit}\n  other: {block: kit.emit}\n"
        "links: [a -> stop, stop -> later, a -> other]\n"
        "outputs: {x: 1}\n"
    )
    assert result.ok
    assert result.stopped_reason == "enough"
    assert h.journal.order() == ["a"]
    assert result.outputs == {"x": 1}
    assert h.typed(RunFinished)[-1].stopped_reason == "enough"


def test_control_stop_inside_a_loop_ends_the_loop(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  loop: {block: control.for_each, with: {items: [1, 2, 3, 4]}}\n"
        "  body: {block: kit.emit}\n"
        "  check: {block: control.if, with: {condition: '{{ nodes.loop.item >= 2 }}'}}\n"
        "  stop: {block: control.stop}\n  after: {block: kit.emit}\n"
        "links: [loop.item -> body.value, body -> check, check.yes -> stop, loop.done -> after]\n"
    )
    assert result.ok
    assert h.journal.values("body") == [1, 2]
    assert h.journal.count("after") == 0


def test_template_errors_fail_the_node_and_name_the_variable(h: Harness) -> None:
    result = h.run("name: w\nnodes:\n  a: {block: kit.emit, with: {value: 'x={{ vars.nope }}'}}\n")
    assert result.status is RunStatus.FAILED
    assert result.failed_node == "a"
    assert result.error is not None and "nope" in result.error
    assert h.journal.count("a") == 0
    assert [type(e).__name__ for e in h.of_run(result.run_id)][1:3] == ["NodeStarted", "NodeFailed"]


def test_an_undefined_single_expression_fails_the_node(h: Harness) -> None:
    result = h.run("name: w\nnodes:\n  a: {block: kit.emit, with: {value: '{{ vars.nope }}'}}\n")
    assert result.status is RunStatus.FAILED
    assert h.journal.count("a") == 0


def test_a_disabled_node_does_not_start_what_only_it_feeds(h: Harness) -> None:
    h.run(
        "name: w\nnodes:\n  a: {block: kit.emit, disabled: true}\n  b: {block: kit.emit}\n"
        "  c: {block: kit.emit}\nlinks: [a -> b]\n"
    )
    assert h.journal.order() == ["c"]


def test_a_disabled_node_never_runs(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  a: {block: kit.emit, disabled: true}\n  c: {block: kit.emit}\n"
    )
    assert result.ok
    assert h.journal.order() == ["c"]


def test_a_caught_failure_inside_a_loop_lets_the_loop_go_on(h: Harness) -> None:
    result = h.run(
        "name: w\nnodes:\n  loop: {block: control.for_each, with: {items: [1, 2, 3]}}\n"
        "  body: {block: kit.flaky, with: {failures: '{{ 1 if nodes.loop.item == 2 else 0 }}', "
        "value: '{{ nodes.loop.item }}'}}\n"
        "  ok: {block: kit.emit}\n  caught: {block: kit.emit}\n  after: {block: kit.emit}\n"
        "links: [loop.item -> body, body.value -> ok.value, body.error -> caught.value, "
        "loop.done -> after]\n"
    )
    assert result.ok
    assert h.journal.values("ok") == [1, 3]
    assert [payload["message"] for payload in h.journal.values("caught")] == ["flaky failure 1"]
    assert h.journal.count("after") == 1


# -- subflows --------------------------------------------------------------------------


CHILD = """\
name: child
inputs: {n: {type: integer, required: true}}
nodes:
  echo: {block: kit.emit, with: {value: '{{ inputs.n }}'}}
outputs: {double: '{{ inputs.n * 2 }}', echoed: '{{ nodes.echo.value }}'}
"""


def test_subflow_takes_inputs_and_returns_outputs(h: Harness) -> None:
    h.write(CHILD, "flows/child.yaml")
    result = h.run(
        "name: parent\nnodes:\n"
        "  sub: {block: control.subflow, with: {path: flows/child.yaml, inputs: {n: 21}}}\n"
        "  use: {block: kit.emit, with: {value: '{{ nodes.sub.outputs.double }}'}}\n"
        "links: [sub -> use]\n"
        "outputs: {child: '{{ nodes.sub.outputs }}'}\n"
    )
    assert result.ok, result.error
    assert h.journal.values("use") == [42]
    assert result.outputs == {"child": {"double": 42, "echoed": 21}}
    starts = h.typed(RunStarted)
    assert [s.workflow for s in starts] == ["parent", "child"]
    assert starts[1].parent_run_id == result.run_id
    assert starts[1].trigger == f"subflow:{result.run_id}"


def test_a_run_and_its_subflows_share_what_steps_leave_for_the_next(h: Harness) -> None:
    """``BlockContext.run_state`` (the window the last desktop step acted on) is one per
    run, shared with its subflows, and not carried from one run to the next."""
    from automation.blocks.base import Block
    from automation.blocks.context import BlockContext
    from tests.unit.automation.blockkit import ValueIn, ValueOut

    class Remember(Block[ValueIn]):
        """Return what the previous step left, and leave this step's value."""

        id = "kit.remember"
        Input = ValueIn
        Output = ValueOut

        def run(self, inputs: ValueIn, ctx: BlockContext) -> ValueOut:
            before = ctx.run_state.get("last")
            ctx.run_state["last"] = inputs.value
            return ValueOut(value=before)

    h.registry.register(Remember)
    h.write(
        "name: child\nnodes:\n  mid: {block: kit.remember, with: {value: child}}\n"
        "outputs: {saw: '{{ nodes.mid.value }}'}\n",
        "flows/child.yaml",
    )
    flow = (
        "name: parent\nnodes:\n"
        "  first: {block: kit.remember, with: {value: parent}}\n"
        "  sub: {block: control.subflow, with: {path: flows/child.yaml}}\n"
        "  last: {block: kit.remember, with: {value: end}}\n"
        "links: [first -> sub, sub -> last]\n"
        "outputs: {first: '{{ nodes.first.value }}', child: '{{ nodes.sub.outputs.saw }}',"
        " last: '{{ nodes.last.value }}'}\n"
    )
    for _ in range(2):  # the second run starts empty again
        result = h.run(flow)
        assert result.ok, result.error
        assert result.outputs == {"first": None, "child": "parent", "last": "child"}


def test_failing_subflow_fails_its_node(h: Harness) -> None:
    h.write(
        "name: child\nnodes:\n  bad: {block: kit.boom, with: {message: deep trouble}}\n",
        "child.yaml",
    )
    result = h.run(
        "name: parent\nnodes:\n  sub: {block: control.subflow, with: {path: child.yaml}, retry: 3}\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.failed_node == "sub"
    assert result.error is not None
    assert "subflow child failed at node 'bad'" in result.error
    assert "deep trouble" in result.error
    assert h.journal.count("bad") == 1  # subflow failures are not retried


def test_subflow_with_bad_inputs_fails_clearly(h: Harness) -> None:
    h.write(CHILD, "child.yaml")
    result = h.run(
        "name: parent\nnodes:\n  sub: {block: control.subflow, with: {path: child.yaml}}\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "input 'n' is required" in result.error


def test_subflow_node_timeout_is_a_retryable_timeout(h: Harness, fake_clock: FakeClock) -> None:
    h.write("name: child\nnodes:\n  nap: {block: kit.sleep, with: {seconds: 10}}\n", "child.yaml")
    result = h.run(
        "name: parent\nnodes:\n  sub: {block: control.subflow, with: {path: child.yaml}, "
        "timeout: 2s, retry: {max_attempts: 2, delay: 1s, jitter: 0}}\n"
    )
    assert result.status is RunStatus.FAILED
    failures = [e for e in h.typed(NodeFailed) if e.node_id == "sub"]
    assert [(e.failure, e.will_retry) for e in failures] == [("timeout", True), ("timeout", False)]
    assert "21600" not in (result.error or "")


def test_cancel_reaches_a_running_subflow(tmp_path: Path) -> None:
    h = Harness(tmp_path, clock=SYSTEM_CLOCK)
    try:
        h.write(
            "name: child\nnodes:\n  nap: {block: kit.sleep, with: {seconds: 60}}\n", "child.yaml"
        )
        loaded = h.load(
            "name: parent\nnodes:\n  sub: {block: control.subflow, with: {path: child.yaml}}\n"
        )
        token = CancelToken()
        results: list[Any] = []
        worker = threading.Thread(
            target=lambda: results.append(h.engine().run(loaded, options=RunOptions(cancel=token)))
        )
        worker.start()
        assert h.journal.started.wait(10)
        token.set()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert results[0].status is RunStatus.CANCELLED
        child_finished = [e for e in h.typed(RunFinished) if e.run_id != results[0].run_id]
        assert [e.status for e in child_finished] == [RunStatus.CANCELLED]
    finally:
        h.close()


def test_subflow_recursion_is_stopped(h: Harness) -> None:
    text = "name: loop\nnodes:\n  again: {block: control.subflow, with: {path: flow.yaml}}\n"
    result = h.run(text)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "nest deeper than 16 levels" in result.error
    assert len(h.typed(RunStarted)) == 16


# -- cancellation and limits -----------------------------------------------------------


def test_cancel_from_another_thread_stops_a_sleeping_step(tmp_path: Path) -> None:
    h = Harness(tmp_path, clock=SYSTEM_CLOCK)
    try:
        loaded = h.load(
            "name: w\nnodes:\n  nap: {block: kit.sleep, with: {seconds: 60}}\n  after: {block: kit.emit}\n"
            "links: [nap -> after]\n"
        )
        token = CancelToken()
        results: list[Any] = []
        engine = h.engine()
        worker = threading.Thread(
            target=lambda: results.append(engine.run(loaded, options=RunOptions(cancel=token)))
        )
        worker.start()
        assert h.journal.started.wait(10)
        cancelled_at = time.monotonic()
        token.set()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert time.monotonic() - cancelled_at < 2.0
        (result,) = results
        assert result.status is RunStatus.CANCELLED
        assert result.failed_node == "nap"
        assert h.journal.count("after") == 0
        assert h.typed(NodeFailed)[-1].failure == "cancelled"
    finally:
        h.close()


def test_cancel_during_a_retry_wait(tmp_path: Path) -> None:
    h = Harness(tmp_path, clock=SYSTEM_CLOCK)
    try:
        loaded = h.load(
            "name: w\nnodes:\n  f: {block: kit.flaky, with: {failures: 5}, retry: {max_attempts: 5, delay: 60s}}\n"
        )
        token = CancelToken()
        results: list[Any] = []
        worker = threading.Thread(
            target=lambda: results.append(h.engine().run(loaded, options=RunOptions(cancel=token)))
        )
        worker.start()
        eventually(lambda: h.typed(NodeRetrying))
        token.set()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert results[0].status is RunStatus.CANCELLED
        assert h.journal.count("f") == 1
    finally:
        h.close()


def test_a_run_cancelled_before_it_starts_runs_nothing(h: Harness) -> None:
    token = CancelToken()
    token.set()
    result = h.run("name: w\nnodes: {a: {block: kit.emit}}\n", cancel=token)
    assert result.status is RunStatus.CANCELLED
    assert h.journal.calls == []


def test_max_steps_limits_a_run(h: Harness) -> None:
    result = h.run(
        "name: w\nlimits: {max_steps: 5}\nnodes:\n"
        "  loop: {block: control.for_each, with: {items: [1, 2, 3, 4, 5, 6, 7, 8]}}\n"
        "  body: {block: kit.emit}\nlinks: [loop.item -> body.value]\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "reached its limit of 5 steps" in result.error
    assert result.steps == 5
    assert h.journal.count("body") == 4


def test_run_time_limit(h: Harness, fake_clock: FakeClock) -> None:
    result = h.run(
        "name: w\nlimits: {max_duration: 10s}\nnodes:\n"
        "  a: {block: kit.sleep, with: {seconds: 4}}\n"
        "  b: {block: kit.sleep, with: {seconds: 4}, retry: 5}\n"
        "  c: {block: kit.sleep, with: {seconds: 4}, retry: 5}\n"
        "  handler: {block: kit.emit}\n"
        "links: [a -> b, b -> c, c.error -> handler]\n"
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "exceeded its time limit (10s)" in result.error
    assert fake_clock.sleeps == [4.0, 4.0, 2.0]  # c is cut at the limit and not retried
    assert h.journal.count("c") == 1
    assert h.journal.count("handler") == 0  # a time limit is not an error a branch can catch
    assert result.duration == pytest.approx(10.0)


# -- events ----------------------------------------------------------------------------


EVENT_FLOW = """\
name: w
nodes:
  start: {block: kit.emit, with: {value: 1}}
  flaky: {block: kit.flaky, with: {failures: 1}, retry: {max_attempts: 2, delay: 1s}}
  loop: {block: control.for_each, with: {items: [a, b]}}
  body: {block: kit.log, with: {message: 'item {{ nodes.loop.item }}'}}
  after: {block: kit.emit}
links: [start -> flaky, flaky -> loop, loop.item -> body, loop.done -> after]
"""


def test_event_stream_shape(h: Harness) -> None:
    result = h.run(EVENT_FLOW)
    assert result.ok
    events = h.of_run(result.run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, RunStarted | RunFinished) for e in events) == 2
    assert events[-1].steps == result.steps == 6
    # every start of an attempt ends exactly once, after it started
    open_attempts: dict[tuple[int, int], str] = {}
    ended: Counter[tuple[int, int]] = Counter()
    for event in events:
        if isinstance(event, NodeStarted):
            key = (event.step, event.attempt)
            assert key not in open_attempts
            open_attempts[key] = event.node_id
        elif isinstance(event, NodeFinished | NodeFailed):
            key = (event.step, event.attempt)
            assert open_attempts.pop(key) == event.node_id
            ended[key] += 1
    assert open_attempts == {}
    assert set(ended.values()) == {1}
    assert [e.step for e in events if isinstance(e, NodeFinished)] == [1, 2, 4, 5, 3, 6]
    logs = [e for e in events if isinstance(e, LogEmitted)]
    assert [(log.message, log.node_id, log.step) for log in logs] == [
        ("item a", "body", 4),
        ("item b", "body", 5),
    ]
    assert all(e.at.tzinfo is not None for e in events)


def test_step_numbers_are_deterministic(tmp_path: Path) -> None:
    shapes = []
    for index in range(2):
        h = Harness(tmp_path / str(index), clock=FakeClock())
        (tmp_path / str(index)).mkdir()
        try:
            result = h.run(EVENT_FLOW)
            shapes.append(
                [
                    (e.kind, getattr(e, "node_id", None), getattr(e, "step", None))
                    for e in h.of_run(result.run_id)
                ]
            )
        finally:
            h.close()
    assert shapes[0] == shapes[1]


def test_events_serialise_and_come_back(h: Harness) -> None:
    result = h.run(EVENT_FLOW)
    for event in h.of_run(result.run_id):
        data = json.loads(json.dumps(event.to_dict()))
        assert data["kind"] == event.kind
        assert event_from_dict(data) == event


# -- checkpoints -----------------------------------------------------------------------


RESUME_FLOW = """\
name: w
vars: {seen: []}
nodes:
  start: {block: kit.emit, with: {value: go}}
  loop: {block: control.for_each, with: {items: [1, 2, 3]}}
  body: {block: kit.set_var, with: {name: seen, value: '{{ vars.seen + [nodes.loop.item] }}'}}
  final: {block: kit.emit, with: {value: '{{ vars.seen }}'}}
links: [start -> loop, loop.item -> body, loop.done -> final]
outputs: {seen: '{{ vars.seen }}', final: '{{ nodes.final.value }}'}
"""


def first_run(tmp_path: Path) -> tuple[list[NodeFinished], dict[str, Any], int]:
    h = Harness(tmp_path / "first", clock=FakeClock())
    (tmp_path / "first").mkdir()
    try:
        result = h.run(RESUME_FLOW)
        assert result.ok
        return h.finished(result.run_id), result.outputs, result.steps
    finally:
        h.close()


@pytest.mark.parametrize("upto", [0, 1, 2, 3, 4, 5, 6])
def test_resume_replays_finished_steps(tmp_path: Path, upto: int) -> None:
    finished, outputs, steps = first_run(tmp_path)
    assert steps == 6
    assert outputs == {"seen": [1, 2, 3], "final": [1, 2, 3]}
    h = Harness(tmp_path, clock=FakeClock())
    try:
        result = h.run(RESUME_FLOW, checkpoint=checkpoint_of(finished, upto))
        assert result.ok
        assert result.outputs == outputs
        executed = {call.step for call in h.journal.calls if call.block.startswith("kit.")}
        kit_steps = {e.step for e in finished if e.node_id != "loop"}
        assert executed == {s for s in kit_steps if s > upto}
        replayed = [e.step for e in h.of_run(result.run_id) if isinstance(e, NodeReplayed)]
        assert replayed == sorted(replayed) == list(range(1, upto + 1))
        started = h.typed(RunStarted)[0]
        assert started.resumed is (upto > 0)
    finally:
        h.close()


def test_resume_after_a_crash_inside_a_loop(tmp_path: Path) -> None:
    finished, outputs, _ = first_run(tmp_path)
    # the worker died while item 3 ran: the loop (step 2) never finished, items 1-2 did
    checkpoint = {k: v for k, v in checkpoint_of(finished, 4).items() if v.node_id != "loop"}
    assert sorted(checkpoint) == [1, 3, 4]
    h = Harness(tmp_path, clock=FakeClock())
    try:
        result = h.run(RESUME_FLOW, checkpoint=checkpoint)
        assert result.ok
        assert result.outputs == outputs
        assert [(c.node_id, c.step) for c in h.journal.calls] == [("body", 5), ("final", 6)]
    finally:
        h.close()


def test_a_checkpoint_for_another_node_is_ignored(h: Harness, tmp_path: Path) -> None:
    finished, outputs, _ = first_run(tmp_path)
    checkpoint = checkpoint_of(finished, 6)
    moved = {
        step: type(cp)("someone_else", cp.emissions, cp.vars_set) for step, cp in checkpoint.items()
    }
    result = h.run(RESUME_FLOW, checkpoint=moved)
    assert result.ok and result.outputs == outputs
    assert len(h.journal.calls) == 5  # everything ran


# -- secrets ---------------------------------------------------------------------------


CANARY = "canary-Secr3t-value-9f1c"


def test_secrets_never_reach_events(h: Harness) -> None:
    engine = h.engine(secrets=MemorySecrets({"token": CANARY}))
    result = h.run(
        "name: w\nnodes:\n"
        "  use: {block: kit.emit, with: {value: 'Bearer {{ secrets.token }}'}}\n"
        "  say: {block: kit.log, with: {message: 'token is {{ secrets.token }}'}}\n"
        "  raw: {block: kit.emit, with: {value: \"{{ secrets['token'] }}\"}}\n"
        "links: [use -> say, say -> raw]\n"
        "outputs: {leak: '{{ secrets.token }}'}\n",
        engine=engine,
    )
    assert result.ok
    assert h.journal.values("use") == [f"Bearer {CANARY}"]  # the block itself gets the value
    dumped = h.serialised()
    assert CANARY not in dumped
    assert "***" in dumped
    assert h.typed(RunFinished)[-1].outputs == {"leak": "***"}


def test_secret_echoed_in_an_error_is_masked(h: Harness) -> None:
    engine = h.engine(secrets=MemorySecrets({"token": CANARY}))
    result = h.run(
        "name: w\nnodes:\n  b: {block: kit.boom, with: {message: 'rejected {{ secrets.token }}'}}\n",
        engine=engine,
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert CANARY not in result.error and "rejected ***" in result.error
    assert result.nodes["b"].error is not None and CANARY not in result.nodes["b"].error
    assert CANARY not in h.serialised()


def test_missing_secret_fails_the_node_with_a_hint(h: Harness) -> None:
    engine = h.engine(secrets=MemorySecrets({}))
    result = h.run(
        "name: w\nnodes:\n  a: {block: kit.emit, with: {value: 'x{{ secrets.nope }}'}}\n",
        engine=engine,
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "deskpilot secrets set nope" in result.error
    result = h.run(
        "name: w\nnodes:\n  a: {block: kit.emit, with: {value: 'x{{ secrets.nope }}'}}\n"
    )
    assert result.error is not None and "no secret store is configured" in result.error


# -- inputs ----------------------------------------------------------------------------


INPUTS = parse_workflow(
    "name: w\ninputs:\n  count: {type: integer, default: 1}\n  ratio: {type: number, default: 0.5}\n"
    "  who: {type: string, required: true}\n  tags: {type: array, default: []}\n"
    "  flag: {type: boolean, default: false}\n  anything: {type: any}\n"
    "nodes: {a: {block: kit.emit}}\n"
).workflow


def test_coerce_fills_defaults() -> None:
    assert coerce_inputs(INPUTS, {"who": "me"}) == {
        "count": 1,
        "ratio": 0.5,
        "who": "me",
        "tags": [],
        "flag": False,
        "anything": None,
    }


def test_coerce_parses_text_values() -> None:
    values = coerce_inputs(
        INPUTS,
        {
            "count": "3",
            "ratio": "2",
            "who": "42",
            "tags": "[a, b]",
            "flag": "true",
            "anything": "x: 1",
        },
        from_text=True,
    )
    assert values["count"] == 3
    assert values["ratio"] == 2.0 and isinstance(values["ratio"], float)
    assert values["who"] == "42"  # strings stay strings
    assert values["tags"] == ["a", "b"]
    assert values["flag"] is True
    assert values["anything"] == {"x": 1}


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        (
            {"who": "me", "colour": "red"},
            "unknown input 'colour' (declared: anything, count, flag, ratio, tags, who)",
        ),
        ({"who": "me", "count": "3"}, "input 'count' must be of type integer, got '3'"),
        ({"who": "me", "count": True}, "input 'count' must be of type integer"),
        ({"who": "me", "count": 1.5}, "must be of type integer"),
        ({}, "input 'who' is required; pass it with --input who=VALUE"),
    ],
)
def test_coerce_refuses_bad_inputs(given: dict[str, Any], fragment: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        coerce_inputs(INPUTS, given)
    assert str(caught.value).startswith("workflow 'w': ")
    assert fragment in str(caught.value)


def test_coerce_reports_every_problem() -> None:
    with pytest.raises(WorkflowError) as caught:
        coerce_inputs(INPUTS, {"colour": 1, "count": "x"})
    message = str(caught.value)
    assert "unknown input 'colour'" in message
    assert "input 'count' must be of type integer, got 'x'" in message
    assert "input 'who' is required" in message


def test_bad_text_input_is_reported() -> None:
    with pytest.raises(WorkflowError, match="cannot read"):
        coerce_inputs(INPUTS, {"who": "me", "tags": "[a, b"}, from_text=True)


def test_bad_inputs_stop_the_run_before_it_starts(h: Harness) -> None:
    with pytest.raises(WorkflowError, match="unknown input"):
        h.run("name: w\nnodes: {a: {block: kit.emit}}\n", {"nope": 1})
    assert h.events == []


def test_inputs_reach_templates_and_events(h: Harness) -> None:
    result = h.run(
        "name: w\ninputs: {n: 2}\nnodes:\n  a: {block: kit.emit, with: {value: '{{ inputs.n * 10 }}'}}\n",
        {"n": 4},
    )
    assert h.journal.values("a") == [40]
    assert h.typed(RunStarted)[0].inputs == {"n": 4}
    assert result.outputs == {}


def test_a_drained_run_starts_no_new_step_and_waits_to_be_stopped(h: Harness) -> None:
    """Shutdown: the running step ends, the next does not start; the run waits between them."""
    loaded = h.load(
        "name: drained\nnodes:\n"
        "  first: {block: control.pass, with: {value: 1}}\n"
        "  second: {block: control.pass}\n"
        "links:\n  - first.value -> second.value\n"
    )
    drain, said = threading.Event(), threading.Event()
    drain.set()  # already shutting down when the run starts: not even the first step runs
    token = CancelToken()
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(
            h.engine().run(
                loaded, options=RunOptions(cancel=token, drain=drain, on_drained=said.set)
            )
        )
    )
    worker.start()
    assert said.wait(10)
    assert worker.is_alive()  # held between steps, not finished
    assert h.typed(NodeStarted) == []
    token.set()
    worker.join(timeout=10)
    assert not worker.is_alive() and results[0].status is RunStatus.CANCELLED
