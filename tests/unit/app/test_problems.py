"""The editor's problems list: the CLI's words, errors and warnings told apart."""

from __future__ import annotations

from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry

TEXT = """\
name: problems
inputs:
  n: {type: integer, default: 3}
nodes:
  say:
    block: notify.log
    with: {message: "{{ inputs.n }}"}
  nap:
    block: control.delay
    with: {seconds: 1}
    retry: {max_attempts: many}
"""


def test_errors_and_warnings_are_listed_apart(qtbot: QtBot, registry: BlockRegistry) -> None:
    editor = EditorWidget(WorkflowDocument.from_text(TEXT), registry, themes.LIGHT)
    qtbot.addWidget(editor)
    result = editor.validate_now()
    texts = [editor.problems.item(i).text() for i in range(editor.problems.count())]
    assert texts == [
        "nap.retry.max_attempts: must be a whole number, not 'many' — write a whole number such as 3"
    ], "graph checks (and so warnings) wait until the model errors are fixed"
    assert "✗ 1 problem" in editor.state_label.text()

    editor.document.set_node_key("nap", "retry", 2)
    result = editor.validate_now()
    assert result.ok, [str(i) for i in result.issues]
    (warning,) = result.warnings
    item = editor.problems.item(0)
    assert editor.problems.count() == 1
    assert item.text() == (
        "warning: say.message: '{{ inputs.n }}' gives a whole number, but notify.log takes "
        "text for 'message'; it is passed on as text — if that is meant, say so: "
        "'{{ inputs.n | string }}'"
    )
    assert item.foreground().color() == QColor(themes.LIGHT.warning)
    assert editor.scene.node_items["say"].issues == [], "a node that runs is not marked broken"
    assert "✓ valid, 1 warning" in editor.state_label.text()
    assert not editor.problems.isHidden()
