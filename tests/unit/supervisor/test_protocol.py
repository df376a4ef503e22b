"""The worker pipe's typed messages: both ends read and write the same fields.

The supervisor's side of a real ``start`` is checked in
``test_core_fakes.py`` (what it sends is what ``Start.from_dict`` reads);
here each message survives its wire form, and the worker reads the pipe
only through these types.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from automation.engine.events import LogEmitted
from supervisor import protocol
from supervisor.protocol import (
    Cancel,
    Debug,
    DoneStep,
    Drain,
    Drained,
    EngineEvent,
    Fatal,
    Heartbeat,
    Hello,
    Hold,
    ProtocolError,
    Release,
    SetBreakpoints,
    Start,
    StepInFlight,
    decode,
    encode,
    from_worker,
    to_worker,
)

WORKER = Path(protocol.__file__).with_name("worker.py")

START = Start(
    run_id="r1",
    workflow_text="name: x\n",
    workflow_path="/tmp/x.yaml",
    inputs={"n": 1},
    inputs_validated=True,
    checkpoint={3: DoneStep(node_id="a", emissions=[["out", 1]], vars_set={"v": 2})},
    attempts_used={4: 2},
    attempts_spent={4: 1},
    interrupted=StepInFlight(step=4, node_id="b", attempt=2),
    seq_after=12,
    trigger="manual",
    artifacts_dir="/tmp/artifacts",
    deadline_seconds=30.5,
    breakpoints=("b",),
    pause_timeout=60.0,
)


class ReadKeys(Mapping[str, Any]):
    """A message that notes which of its keys were read."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def keys_read(data: dict[str, Any]) -> set[str]:
    message = ReadKeys(data)
    Start.from_dict(message)
    return message.read | {"type"}


def over_the_wire(message: dict[str, Any]) -> dict[str, Any]:
    return decode(encode(message))


@pytest.mark.parametrize(
    "message",
    [
        START,
        Start(run_id="r", workflow_text="t", workflow_path=None, inputs={}),
        Cancel(reason="cancelled"),
        Debug(action="step", inputs={"x": 1}, vars={}),
        SetBreakpoints(nodes=("a", "b")),
        Drain(),
        Hold(reason="the screen is locked (x)", since=datetime(2026, 3, 1, 12, tzinfo=UTC)),
        Release(),
    ],
)
def test_messages_to_a_worker_survive_the_wire(message: protocol.ToWorker) -> None:
    assert to_worker(over_the_wire(message.to_dict())) == message


def test_messages_from_a_worker_survive_the_wire() -> None:
    event = LogEmitted(
        run_id="r", seq=2, at=datetime.now(UTC), node_id=None, level="info", message="hi", data={}
    )
    for message in (
        Hello(pid=12, protocol=1),
        Heartbeat(seq=3),
        Fatal(message="no display"),
        Drained(),
        EngineEvent(event=event),
    ):
        assert from_worker(over_the_wire(message.to_dict())) == message


def test_the_worker_reads_every_field_of_start_and_only_those() -> None:
    sent = START.to_dict()
    assert keys_read(sent) == set(sent)


def test_a_start_without_a_field_is_refused_naming_it() -> None:
    sent = START.to_dict()
    del sent["seq_after"]
    with pytest.raises(ProtocolError, match="'start' message without 'seq_after'"):
        to_worker(sent)
    with pytest.raises(ProtocolError, match="not a message to a worker"):
        to_worker({"type": "hello"})


def test_a_hold_needs_its_reason_and_an_aware_time() -> None:
    with pytest.raises(ProtocolError, match="'hold' message without 'reason'"):
        to_worker({"type": "hold", "since": "2026-03-01T12:00:00+00:00"})
    with pytest.raises(ProtocolError, match="bad 'since' in a 'hold' message"):
        to_worker({"type": "hold", "reason": "locked", "since": "2026-03-01T12:00:00"})


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_the_worker_reads_the_pipe_only_through_the_typed_messages() -> None:
    # No string-keyed reads of a message in the worker's serving code: each field it
    # uses is an attribute of a message type, which the type checker holds to the sender.
    tree = ast.parse(WORKER.read_text(encoding="utf-8"))
    fork_server = {"fork_server", "_forked_worker"}  # the fork server's own socket protocol
    reads: list[str] = []
    for function in tree.body:
        if isinstance(function, ast.FunctionDef) and function.name in fork_server:
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Subscript)
                and _is_text(node.slice)
                or (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get"
                    and node.args
                    and _is_text(node.args[0])
                    and ast.unparse(node.func.value) != "os.environ"
                )
            ):
                reads.append(ast.unparse(node))
    assert reads == []


def test_messages_are_frozen_keyword_only_values() -> None:
    # What @dataclass(frozen=True, kw_only=True) gave, kept by the shared Message base.
    with pytest.raises(TypeError, match="missing keyword argument 'workflow_text'"):
        Start(run_id="r", workflow_path=None, inputs={})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        Hello(pid=1, bogus=2)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        START.run_id = "other"  # type: ignore[misc]
    assert Hello(pid=1) == Hello(pid=1, protocol=protocol.PROTOCOL_VERSION) != Heartbeat(seq=1)
    assert hash(Hello(pid=1)) == hash(Hello(pid=1))
    assert repr(Heartbeat(seq=3)) == "Heartbeat(seq=3)"
    first = Start(run_id="r", workflow_text="t", workflow_path=None, inputs={})
    second = Start(run_id="r", workflow_text="t", workflow_path=None, inputs={})
    assert first.checkpoint is not second.checkpoint  # a default factory, not a shared dict
