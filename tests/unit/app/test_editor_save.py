"""Saving from the editor keeps the user's file: only the edited node's lines change."""

from __future__ import annotations

import difflib
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.fields import FieldEditor
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry
from automation.loader import read_workflow_file

TEXT = """\
# Greets, then logs; every line below was written by hand.
deskpilot: 1
name: 'greeting'   # quoted on purpose
nodes:
  # says hello
  hello:
    block: notify.log
    with: {message: "hello {{ inputs.who }}", level: info}
    position: [0, 0]

  # says goodbye
  bye:
    block: notify.log
    with:
      message: 'bye'   # short
    position: [400, 0]
links:
  - hello.done -> bye   # in order
inputs:
  who: {type: string, default: "world"}
"""


def test_move_a_node_change_a_field_save_changes_only_its_lines(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "greeting.yaml"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode("utf-8"))
    editor = EditorWidget(WorkflowDocument.open(path), registry, themes.LIGHT)
    qtbot.addWidget(editor)
    editor.resize(1300, 800)
    editor.show()
    qtbot.waitExposed(editor)
    editor.view.resetTransform()
    editor.view.centerOn(300, 200)

    item = editor.scene.node_items["bye"]
    grab = editor.view.mapFromScene(item.pos() + QPointF(60, 20))
    viewport = editor.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=grab)
    qtbot.mouseMove(viewport, grab + QPoint(30, 10))
    qtbot.mouseMove(viewport, grab + QPoint(80, 40))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=grab + QPoint(80, 40))
    assert editor.document.nodes["bye"]["position"] == [480, 40]

    editor.scene.select_nodes(["bye"])
    message = editor.properties.fields["message"]
    assert isinstance(message, FieldEditor) and isinstance(message.literal, QLineEdit)
    message.literal.selectAll()
    qtbot.keyClicks(message.literal, "see you")
    qtbot.keyClick(message.literal, Qt.Key.Key_Return)
    assert editor.document.node_inputs("bye")["message"] == "see you"

    editor.save()
    saved = path.read_bytes().decode("utf-8")
    before, after = TEXT.replace("\n", "\r\n").splitlines(True), saved.splitlines(True)
    changes = [
        line
        for line in difflib.unified_diff(before, after, n=0)
        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    ]
    assert changes == [
        "-      message: 'bye'   # short\r\n",
        "-    position: [400, 0]\r\n",
        "+      message: 'see you' # short\r\n",  # the comment keeps its column
        "+    position: [480, 40]\r\n",
    ]
    workflow = read_workflow_file(path).workflow
    assert workflow.nodes["bye"].with_["message"] == "see you"
    assert not editor.document.is_modified


UNPLACED = """\
# Nobody placed these nodes: the editor lays them out.
deskpilot: 1
name: unplaced
nodes:
  first:
    block: notify.log
    with: {message: one}
  second:
    block: notify.log
    with: {message: two}   # the one we edit
  third:
    block: notify.log
    with: {message: three}
links:
  - first -> second
  - second -> third
"""


def test_the_first_save_adds_no_positions_the_user_never_placed(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "unplaced.yaml"
    path.write_text(UNPLACED, encoding="utf-8")
    editor = EditorWidget(WorkflowDocument.open(path), registry, themes.LIGHT)
    qtbot.addWidget(editor)
    before = {n: editor.scene.display_position(n) for n in ("first", "second", "third")}
    editor.scene.select_nodes(["second"])
    message = editor.properties.fields["message"]
    assert isinstance(message, FieldEditor) and isinstance(message.literal, QLineEdit)
    message.literal.selectAll()
    qtbot.keyClicks(message.literal, "deux")
    qtbot.keyClick(message.literal, Qt.Key.Key_Return)
    editor.save()
    changes = [
        line
        for line in difflib.unified_diff(
            UNPLACED.splitlines(True), path.read_text(encoding="utf-8").splitlines(True), n=0
        )
        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    ]
    assert changes == [
        "-    with: {message: two}   # the one we edit\n",
        "+    with: {message: deux}  # the one we edit\n",  # the comment keeps its column
    ]
    # reopened, the automatic layout puts them where they were
    again = EditorWidget(WorkflowDocument.open(path), registry, themes.LIGHT)
    qtbot.addWidget(again)
    assert {n: again.scene.display_position(n) for n in before} == before
