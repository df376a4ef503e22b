"""Recorded outputs stored masked (a secret) or as text are never replayed as the value.

The engine is driven directly: a first run's ``NodeFinished`` events are what
history stores, and a second run gets them back as its checkpoint (what a
resume and "run from here" hand it).  An in-memory secret source stands in
for the keyring here; the real keyring, a real SIGKILL and the supervisor are
in ``tests/integration/supervisor/test_replay_secrets.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from automation.blocks.base import Block, BlockInput, BlockOutput, ResumeCheck
from automation.blocks.context import BlockContext
from automation.blocks.registry import BlockRegistry
from automation.engine.debugger import DebugAction, Resume, keep_secrets
from automation.engine.engine import Engine
from automation.engine.events import Event, LogEmitted, NodeFinished, NodeStarted, RunStatus
from automation.engine.options import RunOptions, StepCheckpoint
from automation.engine.replayable import AS_TEXT, NOT_REPLAYABLE, SECRET, altered
from automation.loader import parse_workflow
from automation.redaction import MASK, Redactor
from tests.unit.automation.blockkit import MemorySecrets

SECRET_VALUE = "pa55-w0rd/äx"


class ValueInput(BlockInput):
    value: str = Field(description="passed on")


class ValueOutput(BlockOutput):
    value: Any = Field(description="what came in")


class Typed(Block[ValueInput]):
    """Stands for a desktop step that types its input: not safe to repeat, no postcondition."""

    id = "replaytest.typed"
    idempotent = False
    Input = ValueInput
    Output = ValueOutput
    runs: ClassVar[list[str]] = []

    def run(self, inputs: ValueInput, ctx: BlockContext) -> ValueOutput:
        Typed.runs.append(inputs.value)
        return ValueOutput(value=inputs.value)


class Checked(Typed):
    """Not safe to repeat, but its postcondition gives its outputs afresh (``expect``)."""

    id = "replaytest.checked"

    def check_resumed(self, inputs: ValueInput, ctx: BlockContext) -> ResumeCheck | None:
        return ResumeCheck(held=True, detail="seen", output=ValueOutput(value=inputs.value))


class AsBytes(Block[ValueInput]):
    """Emits bytes, which history's JSON keeps only as their text."""

    id = "replaytest.bytes"
    Input = ValueInput
    Output = ValueOutput

    def run(self, inputs: ValueInput, ctx: BlockContext) -> ValueOutput:
        return ValueOutput(value=inputs.value.encode())


def flow(block: str, use: bool = True) -> str:
    after = "{{ nodes.login.value }}" if use else "done"
    return f"""\
deskpilot: 1
name: replay
nodes:
  login:
    block: {block}
    with: {{value: "token {{{{ secrets.token }}}}"}}
  after:
    block: file.write
    with: {{path: out.txt, content: "{after}"}}
links:
  - login -> after
"""


def run(
    tmp_path: Path, text: str, checkpoint: dict[int, StepCheckpoint] | None = None
) -> tuple[Any, list[Event]]:
    registry = BlockRegistry.with_builtins(plugins=False)
    registry.register(Typed)
    registry.register(AsBytes)
    registry.register(Checked)
    events: list[Event] = []
    engine = Engine(
        registry,
        sink=events.append,
        secrets=MemorySecrets({"token": SECRET_VALUE}),
        artifacts_dir=tmp_path / "artifacts",
    )
    folder = tmp_path / "wf"
    folder.mkdir(exist_ok=True)
    loaded = parse_workflow(text, path=folder / "flow.yaml")
    options = RunOptions(checkpoint=checkpoint or {}, redactor=Redactor())
    return engine.run(loaded, {}, options), events


def recorded(events: list[Event], upto: int) -> dict[int, StepCheckpoint]:
    """What history keeps of the steps before ``upto``: the events' (masked) emissions."""
    return {
        e.step: StepCheckpoint(node_id=e.node_id, emissions=e.emissions, vars_set=e.vars_set)
        for e in events
        if isinstance(e, NodeFinished) and e.step < upto
    }


def test_a_masked_output_is_stored_marked_and_its_step_runs_again(tmp_path: Path) -> None:
    text = flow("data.set_var").replace("value:", "name: tok, value:")
    text = text.replace("nodes.login.value", "vars.tok")
    first, events = run(tmp_path, text)
    assert first.status is RunStatus.SUCCEEDED, first.error
    finished = next(e for e in events if isinstance(e, NodeFinished) and e.node_id == "login")
    assert finished.emissions == [{"value": f"token {MASK}", NOT_REPLAYABLE: {"value": SECRET}}]
    assert finished.vars_set == {"tok": f"token {MASK}", NOT_REPLAYABLE: {"tok": SECRET}}
    assert SECRET_VALUE not in repr(events)
    (tmp_path / "wf" / "out.txt").unlink()

    again, events = run(tmp_path, text, recorded(events, upto=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert (tmp_path / "wf" / "out.txt").read_text() == f"token {SECRET_VALUE}"
    [note] = [e for e in events if isinstance(e, LogEmitted) and e.data.get("replay_check")]
    assert note.data["replay_check"] == "run_again" and note.node_id == "login"
    assert "held a secret" in note.message and SECRET_VALUE not in repr(events)
    assert [e.node_id for e in events if isinstance(e, NodeStarted)] == ["login", "after"]


def test_a_step_not_safe_to_repeat_fails_the_run_before_any_step(tmp_path: Path) -> None:
    Typed.runs.clear()
    first, events = run(tmp_path, flow("replaytest.typed"))
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert Typed.runs == [f"token {SECRET_VALUE}"]

    again, events = run(tmp_path, flow("replaytest.typed"), recorded(events, upto=2))
    assert again.status is RunStatus.FAILED
    assert again.failed_node == "login"
    assert again.error is not None
    assert "node 'login' (replaytest.typed), step 1" in again.error
    assert "'value' held a secret" in again.error and "not safe to repeat" in again.error
    assert not [e for e in events if isinstance(e, NodeStarted)]  # up front
    assert Typed.runs == [f"token {SECRET_VALUE}"]


def test_a_postcondition_gives_the_outputs_of_a_step_not_safe_to_repeat(tmp_path: Path) -> None:
    Typed.runs.clear()
    first, events = run(tmp_path, flow("replaytest.checked"))
    assert first.status is RunStatus.SUCCEEDED, first.error
    again, events = run(tmp_path, flow("replaytest.checked"), recorded(events, upto=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert Typed.runs == [f"token {SECRET_VALUE}"]  # not typed twice
    assert (tmp_path / "wf" / "out.txt").read_text() == f"token {SECRET_VALUE}"
    notes = [e.data["replay_check"] for e in events if isinstance(e, LogEmitted) and e.data]
    assert notes == ["postcondition_outputs"]


def test_masked_outputs_nothing_uses_are_replayed(tmp_path: Path) -> None:
    Typed.runs.clear()
    first, events = run(tmp_path, flow("replaytest.typed", use=False))
    assert first.status is RunStatus.SUCCEEDED, first.error
    again, events = run(tmp_path, flow("replaytest.typed", use=False), recorded(events, upto=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert Typed.runs == [f"token {SECRET_VALUE}"]  # not typed twice
    notes = [e.data["replay_check"] for e in events if isinstance(e, LogEmitted) and e.data]
    assert notes == ["replayed_unused"]


def test_an_output_json_cannot_hold_is_marked_and_run_again(tmp_path: Path) -> None:
    text = flow("replaytest.bytes", use=False).replace("{{ secrets.token }}", "plain")
    first, events = run(tmp_path, text)
    assert first.status is RunStatus.SUCCEEDED, first.error
    checkpoint = recorded(events, upto=2)
    assert altered(checkpoint[1]) == {"value": AS_TEXT}
    again, events = run(tmp_path, text, checkpoint)
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert [e.node_id for e in events if isinstance(e, NodeStarted)] == ["login", "after"]


def test_a_masked_value_sent_back_from_a_pause_keeps_the_real_value() -> None:
    redactor = Redactor([SECRET_VALUE])
    values = {"text": f"token {SECRET_VALUE}", "other": "x"}
    variables = {"cfg": {"user": "me", "pw": SECRET_VALUE}}
    shown_cfg = redactor.value(variables["cfg"])
    answer = Resume(
        action=DebugAction.CONTINUE,
        inputs={"text": f"token {MASK}", "other": "y"},
        vars={"cfg": {**shown_cfg, "user": "you"}},
    )
    kept, notes = keep_secrets(values, variables, answer, redactor.value)
    assert kept.inputs == {"other": "y"} and kept.vars == {}
    assert any("inputs.text came back as shown" in n for n in notes), notes
    assert any("vars.cfg was not changed" in n for n in notes), notes
    # a whole new value is an edit like any other
    answer = Resume(inputs={"text": "typed anew"})
    kept, notes = keep_secrets(values, variables, answer, redactor.value)
    assert kept.inputs == {"text": "typed anew"} and notes == []


def test_a_pause_answered_with_the_shown_mask_runs_the_node_with_the_secret(
    tmp_path: Path,
) -> None:
    """Through the engine: the front end sends back the input it was shown (``***``)."""
    from automation.engine.debugger import Breakpoints, PauseSnapshot

    class EchoShown:
        def next_command(self, snapshot: PauseSnapshot, timeout: float) -> Resume:
            return Resume(inputs=dict(snapshot.inputs))

    text = flow("data.template").replace("value:", "text:").replace("login.value", "login.text")
    registry = BlockRegistry.with_builtins(plugins=False)
    events: list[Event] = []
    engine = Engine(
        registry,
        sink=events.append,
        secrets=MemorySecrets({"token": SECRET_VALUE}),
        artifacts_dir=tmp_path / "artifacts",
    )
    loaded = parse_workflow(text, path=tmp_path / "flow.yaml")
    options = RunOptions(debugger=Breakpoints(["after"], EchoShown()), redactor=Redactor())
    result = engine.run(loaded, {}, options)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert (tmp_path / "out.txt").read_text() == f"token {SECRET_VALUE}"
    notes = [e.message for e in events if isinstance(e, LogEmitted)]
    assert any("inputs.content came back as shown" in n for n in notes), notes
    assert SECRET_VALUE not in repr(events)


def test_a_value_cut_for_the_pause_event_sent_back_keeps_the_whole_value() -> None:
    from automation.engine.pause_values import shown_values

    values = {"text": "x" * 5000}
    shown = shown_values({"inputs": values, "vars": {}})
    kept, notes = keep_secrets(values, {}, Resume(inputs=dict(shown["inputs"])), lambda v: v, shown)
    assert kept.inputs == {} and notes == [
        "inputs.text came back as shown (cut): the real value kept"
    ]
