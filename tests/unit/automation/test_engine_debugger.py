"""The engine's debugger hook: pause before a node, step, edit values, abort, time out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.clock import FakeClock
from automation.engine.debugger import (
    Breakpoints,
    DebugAction,
    PauseReason,
    PauseSnapshot,
    Resume,
    parse_assignment,
    resume_from,
)
from automation.engine.events import NodePaused, NodeResumed, RunStatus
from automation.engine.options import RunOptions
from tests.unit.automation.blockkit import Harness

FLOW = """\
name: dbg
vars: {greeting: hello}
nodes:
  a: {block: kit.emit, with: {value: 1}}
  b: {block: kit.emit, with: {value: "{{ vars.greeting }}"}}
  c: {block: kit.emit}
links: [a -> b, b.value -> c.value]
outputs: {last: "{{ nodes.c.value }}"}
"""


class Scripted:
    """A command source that answers each pause from a list, and keeps what it was shown."""

    def __init__(
        self, answers: list[Resume | None], clock: FakeClock | None = None, wait: float = 0.0
    ) -> None:
        self.answers = list(answers)
        self.seen: list[PauseSnapshot] = []
        self.timeouts: list[float] = []
        self.clock = clock
        self.wait = wait

    def next_command(self, snapshot: PauseSnapshot, timeout: float) -> Resume | None:
        self.seen.append(snapshot)
        self.timeouts.append(timeout)
        if self.clock is not None:
            self.clock.advance(self.wait)
        return self.answers.pop(0)


@pytest.fixture
def h(tmp_path: Path, fake_clock: FakeClock) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=fake_clock)
    yield harness
    harness.close()


def test_pauses_before_a_breakpoint_with_its_pins_inputs_and_vars(h: Harness) -> None:
    source = Scripted([Resume()])
    result = h.engine().run(h.load(FLOW), options=RunOptions(debugger=Breakpoints(["b"], source)))
    assert result.ok
    [snap] = source.seen
    assert (snap.node_id, snap.block, snap.step, snap.reason) == (
        "b",
        "kit.emit",
        2,
        PauseReason.BREAKPOINT,
    )
    assert snap.inputs == {"value": "hello"}  # rendered, not the template
    assert snap.vars == {"greeting": "hello"}
    assert snap.nodes["a"]["value"] == 1
    paused = h.typed(NodePaused)
    assert [(e.node_id, e.reason, e.inputs) for e in paused] == [
        ("b", "breakpoint", {"value": "hello"})
    ]
    [resumed] = h.typed(NodeResumed)
    assert (resumed.action, resumed.timed_out, resumed.edited) == ("continue", False, [])
    # the pause comes before the node starts: its attempt and deadline begin after it
    kinds = [(e.kind, getattr(e, "node_id", None)) for e in h.events]
    assert kinds.index(("node_resumed", "b")) < kinds.index(("node_started", "b"))


def test_step_pauses_before_every_following_node_until_continue(h: Harness) -> None:
    source = Scripted([Resume(action=DebugAction.STEP), Resume(action=DebugAction.CONTINUE)])
    result = h.engine().run(h.load(FLOW), options=RunOptions(debugger=Breakpoints(["a"], source)))
    assert result.ok
    assert [(s.node_id, s.reason) for s in source.seen] == [
        ("a", PauseReason.BREAKPOINT),
        ("b", PauseReason.STEP),
    ]
    assert h.journal.order() == ["a", "b", "c"]


def test_edited_input_and_var_are_what_the_node_runs_with(h: Harness) -> None:
    source = Scripted([Resume(inputs={"value": "edited"}, vars={"greeting": "bye"})])
    result = h.engine().run(h.load(FLOW), options=RunOptions(debugger=Breakpoints(["b"], source)))
    assert result.ok
    assert h.journal.values("b") == ["edited"]
    assert result.outputs == {"last": "edited"}
    [resumed] = h.typed(NodeResumed)
    assert resumed.edited == ["inputs.value", "vars.greeting"]


def test_abort_cancels_the_run_at_the_paused_node(h: Harness) -> None:
    source = Scripted([Resume(action=DebugAction.ABORT)])
    result = h.engine().run(h.load(FLOW), options=RunOptions(debugger=Breakpoints(["b"], source)))
    assert result.status is RunStatus.CANCELLED
    assert result.failed_node == "b"
    assert h.journal.order() == ["a"]


def test_unanswered_pause_times_out_continues_and_drops_breakpoints(
    h: Harness, fake_clock: FakeClock
) -> None:
    source = Scripted([None], clock=fake_clock, wait=30.0)
    debugger = Breakpoints(["b", "c"], source, timeout=30.0)
    result = h.engine().run(h.load(FLOW), options=RunOptions(debugger=debugger))
    assert result.ok
    assert [s.node_id for s in source.seen] == ["b"]  # c's breakpoint went with the timeout
    assert source.timeouts == [30.0]
    assert debugger.nodes == frozenset()
    [paused] = h.typed(NodePaused)
    assert paused.timeout == 30.0
    [resumed] = h.typed(NodeResumed)
    assert (resumed.action, resumed.timed_out, resumed.waited) == ("continue", True, 30.0)


def test_a_pause_does_not_count_against_the_run_time_limit(
    h: Harness, fake_clock: FakeClock
) -> None:
    limited = FLOW.replace("vars:", "limits: {max_duration: 60}\nvars:")
    source = Scripted([Resume()], clock=fake_clock, wait=120.0)
    result = h.engine().run(
        h.load(limited), options=RunOptions(debugger=Breakpoints(["b"], source))
    )
    assert result.ok, result.error


LOOP = """\
name: loop
nodes:
  each: {block: control.for_each, with: {items: [1, 2, 3]}, timeout: 10s}
  body: {block: kit.emit}
links: [each.item -> body.value]
"""


@pytest.mark.parametrize(
    "answer",
    [
        Resume(),
        Resume(action=DebugAction.STEP),
        Resume(inputs={"value": 7}),
        None,  # nobody answered: the pause ended by its own timeout
    ],
    ids=["continue", "step", "edit", "timeout"],
)
def test_a_pause_inside_a_loop_does_not_count_against_the_loop_step_timeout(
    h: Harness, fake_clock: FakeClock, answer: Resume | None
) -> None:
    """The loop's step has 10 s; a node it feeds waits 60 s at a breakpoint, then the loop goes on."""
    source = Scripted([answer, Resume(), Resume()], clock=fake_clock, wait=60.0)
    debugger = Breakpoints(["body"], source, timeout=60.0)
    result = h.engine().run(h.load(LOOP), options=RunOptions(debugger=debugger))
    assert result.ok, result.error
    assert h.journal.count("body") == 3


def test_secrets_are_masked_in_the_snapshot_and_the_pause_event(h: Harness) -> None:
    from tests.unit.automation.blockkit import MemorySecrets

    flow = FLOW.replace('"{{ vars.greeting }}"', '"{{ secrets.token }}"')
    source = Scripted([Resume()])
    engine = h.engine(secrets=MemorySecrets({"token": "s3cr3t-value"}))
    result = engine.run(h.load(flow), options=RunOptions(debugger=Breakpoints(["c"], source)))
    assert result.ok
    assert "s3cr3t-value" not in repr(source.seen[0])
    assert "s3cr3t-value" not in repr(h.typed(NodePaused))


def test_assignments_typed_at_a_pause() -> None:
    snap = PauseSnapshot(run_id="r", node_id="n", block="b", step=1, reason=PauseReason.STEP)
    assert parse_assignment("count=3", snap) == ("inputs", "count", 3)
    assert parse_assignment("vars.name = 'x y'", snap) == ("vars", "name", "x y")
    assert parse_assignment("inputs.items=[1, 2]", snap) == ("inputs", "items", [1, 2])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_assignment("nothing", snap)
    with pytest.raises(ValueError, match="continue, step or abort"):
        resume_from({"action": "jump"})
    assert resume_from({"action": "step", "vars": {"a": 1}}) == Resume(
        action=DebugAction.STEP, vars={"a": 1}
    )


def test_pause_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Breakpoints([], Scripted([]), timeout=0)


def test_a_pause_event_holds_masked_values_cut_to_a_bounded_size(h: Harness) -> None:
    """A huge value and a secret in a paused node's values: the event (sent, streamed and
    stored in the history) has the secret masked and every value cut, yet the node runs
    with the whole value."""
    import json

    from automation.engine.pause_values import STRING_LIMIT, TOTAL_LIMIT
    from tests.unit.automation.blockkit import MemorySecrets

    canary = "canary-Pause-s3cret-41d2"
    huge = "x" * 1_000_000
    flow = (
        "name: big\n"
        f"vars: {{blob: {huge}, many: [{', '.join(['1'] * 5000)}]}}\n"
        "nodes:\n"
        "  a: {block: kit.emit, with: {value: 'Bearer {{ secrets.token }}'}}\n"
        "  b: {block: kit.emit, with: {value: '{{ vars.blob }}'}}\n"
        "links: [a -> b]\n"
    )
    engine = h.engine(secrets=MemorySecrets({"token": canary}))
    source = Scripted([Resume(action=DebugAction.STEP), Resume()])
    result = engine.run(h.load(flow), options=RunOptions(debugger=Breakpoints(["a"], source)))
    assert result.ok
    assert h.journal.values("b") == [huge], "the node ran with the whole value"
    first, second = h.typed(NodePaused)
    assert first.inputs == {"value": "Bearer ***"}
    assert second.inputs["value"].startswith("x" * STRING_LIMIT + "… (1000000 characters)")
    assert second.vars["many"][-1] == "… 4900 more items"
    for event in (first, second):
        size = len(json.dumps(event.to_dict(), default=str))
        assert size < TOTAL_LIMIT + 4096, size
    assert canary not in h.serialised()
