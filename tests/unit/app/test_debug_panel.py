"""The step debugger in the window: breakpoints on the canvas, a run paused, inspected,
edited and continued, against the package's real in-process daemon (real workers)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from app.runs.live_view import LiveRunView
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from automation.blocks.registry import BlockRegistry
from automation.loader import read_workflow_file
from tests.unit.app.runkit import link_fixture, wait_until  # noqa: F401

FLOW = """\
deskpilot: 1
name: {name}
inputs:
  word: {{type: string, default: typed}}
vars: {{count: 1}}
nodes:
  first:
    block: control.pass
    with: {{value: "{{{{ inputs.word }}}}"}}
    position: [0, 0]
  second:
    block: control.pass
    position: [300, 0]
links:
  - first.value -> second.value
outputs:
  echoed: "{{{{ nodes.second.value }}}}"
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "debugged.yaml"
    path.write_text(FLOW.format(name=f"debugged-{uuid.uuid4().hex[:8]}"), encoding="utf-8")
    return path


def _value_item(view: LiveRunView, section: str, name: str) -> object:
    tree = view.debug.values
    for index in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(index)
        assert top is not None
        if top.text(0) != section:
            continue
        for row in range(top.childCount()):
            child = top.child(row)
            if child is not None and child.text(0) == name:
                return child
    raise AssertionError(f"no {section} {name} in the debug panel")


def test_pause_inspect_edit_and_continue_a_run_from_the_editor(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    flow: Path,
    registry: BlockRegistry,
) -> None:
    editor = EditorWidget(WorkflowDocument.open(flow), registry, LIGHT, connection=link)
    qtbot.addWidget(editor)
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    # a breakpoint is toggled on the selected node and drawn on it
    editor.scene.select_nodes(["first"])
    editor.toggle_breakpoint()
    assert editor.scene.node_items["first"].breakpoint
    assert editor.breakpoints() == {"first"}
    assert editor.document.node("first").get("break") is True and editor.is_dirty()

    run_id = editor.run()
    assert run_id is not None
    # Run saved the file first, with the breakpoint in it: the command line pauses there too
    assert read_workflow_file(flow).workflow.breakpoints() == ["first"]
    view.follow(run_id, workflow_path=flow, editor=editor)
    wait_until(qapp, lambda: view.debug.paused, timeout=30)
    assert view.debug.node_id == "first" and view.debug.isVisibleTo(view)
    assert editor.scene.node_items["first"].status == "paused"  # highlighted on the canvas
    assert "Paused before 'first'" in view.debug.where.text()
    value = _value_item(view, "Inputs", "value")
    assert value.text(1) == '"typed"'  # type: ignore[attr-defined]
    assert value.flags() & Qt.ItemFlag.ItemIsEditable  # type: ignore[attr-defined]
    assert _value_item(view, "Vars", "count").text(1) == "1"  # type: ignore[attr-defined]

    value.setText(1, "'edited in the panel'")  # type: ignore[attr-defined]
    qtbot.mouseClick(view.debug.step_button, Qt.MouseButton.LeftButton)
    wait_until(qapp, lambda: view.debug.paused and view.debug.node_id == "second", timeout=30)
    assert _value_item(view, "Pins", "value").text(1) == '"edited in the panel"'  # type: ignore[attr-defined]

    qtbot.mouseClick(view.debug.continue_button, Qt.MouseButton.LeftButton)
    wait_until(qapp, lambda: view.record is not None and view.record.finished, timeout=30)
    assert view.record is not None and view.record.status == "succeeded"
    assert view.record.outputs == {"echoed": "edited in the panel"}
    assert not view.debug.paused and not view.debug.isVisibleTo(view)
    assert editor.scene.node_items["first"].status == "succeeded"


def test_a_run_opened_while_paused_shows_its_pause(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, flow: Path
) -> None:
    run_id = link.client.submit(flow, breakpoints=["second"]).run_id
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    wait_until(qapp, lambda: link.client.debug_state(run_id).paused, timeout=30)
    link._recent.pop(run_id, None)  # as if the window opened after the pause
    view.follow(run_id, load=True)
    wait_until(qapp, lambda: view.debug.paused, timeout=15)
    assert view.debug.node_id == "second"
    qtbot.mouseClick(view.debug.stop_button, Qt.MouseButton.LeftButton)
    wait_until(qapp, lambda: view.record is not None and view.record.finished, timeout=30)
    assert view.record is not None and view.record.status == "cancelled"


def test_run_from_here_reuses_the_last_run_of_the_file(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    flow: Path,
    registry: BlockRegistry,
) -> None:
    editor = EditorWidget(WorkflowDocument.open(flow), registry, LIGHT, connection=link)
    qtbot.addWidget(editor)
    editor.scene.select_nodes(["second"])
    assert editor.run_from_here() is None  # nothing to reuse yet: said, not guessed
    first = link.client.submit(flow, inputs={"word": "from the first run"}).run_id
    assert link.client.wait(first, timeout=30).run.status == "succeeded"

    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    editor.scene.select_nodes(["second"])
    editor.toggle_breakpoint()
    run_id = editor.run_from_here()
    assert run_id is not None
    view.follow(run_id, workflow_path=flow, editor=editor)
    wait_until(qapp, lambda: view.debug.paused, timeout=30)
    assert view.debug.node_id == "second"
    # 'first' was not run again: its recorded output arrives on the pin
    assert _value_item(view, "Pins", "value").text(1) == '"from the first run"'  # type: ignore[attr-defined]
    qtbot.mouseClick(view.debug.continue_button, Qt.MouseButton.LeftButton)
    wait_until(qapp, lambda: view.record is not None and view.record.finished, timeout=30)
    assert view.record is not None and view.record.status == "succeeded"
    steps = link.client.get_run(run_id).steps
    assert [s.node_id for s in steps] == ["second"]


def test_breakpoints_toggled_or_undone_reach_the_run_going(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    flow: Path,
    registry: BlockRegistry,
) -> None:
    """F9 (and Ctrl+Z) while a run started from the editor is going change that run's
    breakpoints through the API: it pauses where the canvas now says, not where it started."""
    editor = EditorWidget(WorkflowDocument.open(flow), registry, LIGHT, connection=link)
    qtbot.addWidget(editor)
    editor.scene.select_nodes(["first"])
    editor.toggle_breakpoint()
    run_id = editor.run()
    assert run_id is not None
    wait_until(qapp, lambda: link.client.debug_state(run_id).paused, timeout=30)
    assert link.client.debug_state(run_id).node_id == "first"

    editor.scene.select_nodes(["second"])
    editor.toggle_breakpoint()  # F9 on 'second' while the run waits at 'first'
    assert link.client.debug_state(run_id).breakpoints == ["first", "second"]
    editor.undo_stack.undo()  # Ctrl+Z takes it back, in the run too
    assert link.client.debug_state(run_id).breakpoints == ["first"]
    editor.undo_stack.redo()
    assert link.client.debug_state(run_id).breakpoints == ["first", "second"]

    link.client.debug(run_id, "continue")
    wait_until(
        qapp,
        lambda: (state := link.client.debug_state(run_id)).paused and state.node_id == "second",
        timeout=30,
    )
    editor.scene.select_nodes(["first"])
    editor.toggle_breakpoint()  # cleared on the canvas: the run has only 'second' left
    assert link.client.debug_state(run_id).breakpoints == ["second"]
    link.client.debug(run_id, "continue")
    assert link.client.wait(run_id, timeout=30).run.status == "succeeded"

    # the run has ended: the next change is not sent to it, and it is forgotten
    editor.toggle_breakpoint()
    assert editor.live_breakpoints.runs == []
