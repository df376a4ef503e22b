"""The list editor of list inputs (``process.run``'s ``args``): rows, keys, undo, templates."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.fields import FieldEditor
from app.editor.list_field import VISIBLE_ROWS, ListEditor
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry

FLOW = """\
deskpilot: 1
name: commands
inputs:
  folder: {type: string, default: /tmp}
nodes:
  run:
    block: process.run
    with:
      # the program, then its arguments
      args: [sleep, 1, "two words"]
  other:
    block: control.pass
"""


@pytest.fixture
def editor(qtbot: QtBot, registry: BlockRegistry) -> EditorWidget:
    widget = EditorWidget(WorkflowDocument.from_text(FLOW), registry, themes.LIGHT)
    qtbot.addWidget(widget)
    widget.resize(1366, 700)
    widget.show()
    qtbot.waitExposed(widget)
    widget.scene.select_nodes(["run"])
    return widget


def _args(editor: EditorWidget) -> tuple[FieldEditor, ListEditor]:
    field = editor.properties.fields["args"]
    assert isinstance(field, FieldEditor) and isinstance(field.literal, ListEditor)
    return field, field.literal


def _saved(editor: EditorWidget) -> object:
    return editor.document.node_inputs("run").get("args")


def _button(rows: ListEditor, index: int, name: str) -> QToolButton:
    line = rows.rows[index].line
    (button,) = [b for b in line.findChildren(QToolButton) if b.accessibleName() == name]
    return button


def test_rows_show_the_list_and_each_finished_edit_is_one_undo_step(
    qtbot: QtBot, editor: EditorWidget
) -> None:
    _field, rows = _args(editor)
    assert [row.text() for row in rows.rows] == ["sleep", "1", "two words"]
    steps = editor.undo_stack.count()
    # Enter in the last row opens an empty row below it, which is not an item yet
    qtbot.keyClick(rows.rows[2], Qt.Key.Key_Return)
    assert len(rows.rows) == 4 and rows.rows[3].text() == ""
    assert editor.undo_stack.count() == steps and _saved(editor) == ["sleep", 1, "two words"]
    qtbot.keyClicks(rows.rows[3], "it's")
    qtbot.keyClick(rows.rows[3], Qt.Key.Key_Return)
    # the new item is one undo step (and the number becomes the text a list of strings wants)
    assert _saved(editor) == ["sleep", "1", "two words", "it's"]
    assert editor.undo_stack.count() == steps + 1
    assert len(rows.rows) == 5  # and another empty row to type into
    # Delete in the empty row removes the row, and saves nothing
    qtbot.keyClick(rows.rows[4], Qt.Key.Key_Delete)
    assert len(rows.rows) == 4 and editor.undo_stack.count() == steps + 1
    # Delete in a row with text deletes text, as in any line edit
    rows.rows[0].setCursorPosition(0)
    qtbot.keyClick(rows.rows[0], Qt.Key.Key_Delete)
    assert rows.rows[0].text() == "leep" and len(rows.rows) == 4
    # undo brings the list back, and the rows follow
    editor.undo_stack.undo()
    assert _saved(editor) == ["sleep", 1, "two words"]
    assert [row.text() for row in rows.rows] == ["sleep", "1", "two words"]
    editor.undo_stack.redo()
    assert [row.text() for row in rows.rows] == ["sleep", "1", "two words", "it's"]


def test_remove_and_move_by_button_and_by_key(qtbot: QtBot, editor: EditorWidget) -> None:
    _field, rows = _args(editor)
    steps = editor.undo_stack.count()
    qtbot.mouseClick(_button(rows, 2, "Move up"), Qt.MouseButton.LeftButton)
    assert _saved(editor) == ["sleep", "two words", "1"]
    qtbot.keyClick(rows.rows[0], Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert _saved(editor) == ["two words", "sleep", "1"]
    qtbot.keyClick(rows.rows[0], Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)  # the top
    assert _saved(editor) == ["two words", "sleep", "1"]
    qtbot.mouseClick(_button(rows, 1, "Remove item"), Qt.MouseButton.LeftButton)
    assert _saved(editor) == ["two words", "1"]
    assert editor.undo_stack.count() == steps + 3  # one step per move and per removal
    # emptying a row and leaving it drops the item
    rows.rows[1].selectAll()
    qtbot.keyClick(rows.rows[1], Qt.Key.Key_Backspace)
    rows.rows[1].editingFinished.emit()
    assert _saved(editor) == ["two words"]
    # Backspace in the empty row removes it; removing the last item clears the input
    qtbot.keyClick(rows.rows[1], Qt.Key.Key_Backspace)
    assert len(rows.rows) == 1
    qtbot.mouseClick(_button(rows, 0, "Remove item"), Qt.MouseButton.LeftButton)
    assert rows.rows == [] and _saved(editor) is None
    assert "args:" not in editor.document.to_text()
    for _ in range(5):
        editor.undo_stack.undo()
    assert _saved(editor) == ["sleep", 1, "two words"]
    assert [row.text() for row in rows.rows] == ["sleep", "1", "two words"]
    # the Add button appends an empty row to type into
    qtbot.mouseClick(rows.add_button, Qt.MouseButton.LeftButton)
    assert len(rows.rows) == 4
    qtbot.keyClicks(rows.rows[3], "--verbose")
    rows.rows[3].editingFinished.emit()
    assert _saved(editor) == ["sleep", "1", "two words", "--verbose"]


def test_an_item_may_be_a_template_and_a_broken_one_is_not_saved(
    qtbot: QtBot, editor: EditorWidget
) -> None:
    field, rows = _args(editor)
    rows.rows[1].selectAll()
    qtbot.keyClicks(rows.rows[1], "{{ inputs.folder }}")
    qtbot.keyClick(rows.rows[1], Qt.Key.Key_Return)
    assert _saved(editor) == ["sleep", "{{ inputs.folder }}", "two words"]
    assert field.error.isHidden()
    qtbot.keyClicks(rows.rows[2], "{{ inputs.folder")
    assert field.error.text().startswith("item 3: "), field.error.text()  # as one types
    rows.rows[2].editingFinished.emit()
    assert _saved(editor) == ["sleep", "{{ inputs.folder }}", "two words"]
    assert field.error.text().startswith("item 3: ")


def test_the_file_keeps_its_comment_and_other_lines(qtbot: QtBot, editor: EditorWidget) -> None:
    _field, rows = _args(editor)
    qtbot.mouseClick(rows.add_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(rows.rows[3], "x")
    rows.rows[3].editingFinished.emit()
    text = editor.document.to_text()
    assert "# the program, then its arguments" in text
    assert "folder: {type: string, default: /tmp}" in text
    assert "block: control.pass" in text


def test_adding_rows_does_not_move_the_fields_below(qtbot: QtBot, editor: EditorWidget) -> None:
    _field, rows = _args(editor)
    below = editor.properties.fields["cwd"]
    editor.validate_now()  # the node's problems, below the fields, are shown once for all
    qtbot.wait(1)  # the layout settles in the event loop
    before = below.mapTo(editor, below.rect().topLeft())
    height = rows.height()
    for _ in range(VISIBLE_ROWS + 3):
        qtbot.keyClick(rows.rows[-1], Qt.Key.Key_Return)
        editor.validate_now()
        qtbot.wait(1)
        assert below.mapTo(editor, below.rect().topLeft()) == before
    assert rows.height() == height
    assert rows.area.verticalScrollBar().maximum() > 0  # the rows scroll instead
