"""Every edit goes through the undo stack and comes back out of it exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QApplication

from app.editor.commands import (
    AddNodeCommand,
    MoveNodesCommand,
    RemoveItemsCommand,
    RenameNodeCommand,
    SetInputCommand,
    SetNodeKeyCommand,
    connect_command,
)
from app.editor.document import UNSET, WorkflowDocument
from automation.model import Link

TEXT = """\
name: flow
nodes:
  fetch:
    block: http.request
    with: {url: "http://127.0.0.1/x"}
  save:
    block: file.write
    with: {path: out.txt, content: placeholder}
links:
  - fetch -> save
"""


@pytest.fixture
def document() -> WorkflowDocument:
    return WorkflowDocument.from_text(TEXT)


@pytest.fixture
def stack(qapp: QApplication) -> QUndoStack:
    return QUndoStack()


def test_add_node_undo_redo(document: WorkflowDocument, stack: QUndoStack) -> None:
    stack.push(AddNodeCommand(document, "log", {"block": "notify.log", "position": [1, 2]}))
    assert "log" in document.nodes
    stack.undo()
    assert "log" not in document.nodes
    assert document.to_text() == TEXT
    stack.redo()
    assert document.nodes["log"]["position"] == [1, 2]


def test_move_undo_restores_unplaced_nodes(document: WorkflowDocument, stack: QUndoStack) -> None:
    stack.push(MoveNodesCommand(document, {"fetch": (None, (100.0, 50.0))}))
    assert document.nodes["fetch"]["position"] == [100, 50]
    stack.undo()
    assert "position" not in document.nodes["fetch"]
    assert not document.is_modified


def test_keyboard_nudges_merge_into_one_step(document: WorkflowDocument, stack: QUndoStack) -> None:
    stack.push(MoveNodesCommand(document, {"fetch": (None, (10.0, 0.0))}, mergeable=True))
    stack.push(MoveNodesCommand(document, {"fetch": ((10.0, 0.0), (20.0, 0.0))}, mergeable=True))
    assert stack.count() == 1
    stack.undo()
    assert "position" not in document.nodes["fetch"]


def test_connect_clears_the_literal_and_undo_restores_it(
    document: WorkflowDocument, stack: QUndoStack
) -> None:
    link = Link(source="fetch", source_pin="body", target="save", target_pin="content")
    stack.push(connect_command(document, link))
    assert link in document.links
    assert "content" not in document.node_inputs("save")
    stack.undo()
    assert link not in document.links
    assert document.node_inputs("save")["content"] == "placeholder"
    assert document.to_text() == TEXT


def test_property_edit_undo_redo_and_merge(document: WorkflowDocument, stack: QUndoStack) -> None:
    stack.push(SetInputCommand(document, "fetch", "max_bytes", 10, mergeable=True))
    stack.push(SetInputCommand(document, "fetch", "max_bytes", 11, mergeable=True))
    assert stack.count() == 1, "typing in one spin box is one undo step"
    assert document.node_inputs("fetch")["max_bytes"] == 11
    stack.push(SetInputCommand(document, "fetch", "url", "http://127.0.0.1/y"))
    stack.undo()
    assert document.node_inputs("fetch")["url"] == "http://127.0.0.1/x"
    stack.undo()
    assert "max_bytes" not in document.node_inputs("fetch")
    assert document.to_text() == TEXT
    stack.redo()
    stack.redo()
    assert document.node_inputs("fetch") == {"url": "http://127.0.0.1/y", "max_bytes": 11}


def test_clearing_the_last_input_and_undo(stack: QUndoStack) -> None:
    document = WorkflowDocument.from_text(
        "name: x\nnodes:\n  a:\n    block: notify.log\n    with: {}\n"
    )
    stack.push(SetInputCommand(document, "a", "message", "hi"))
    stack.push(SetInputCommand(document, "a", "message", UNSET))
    stack.undo()
    stack.undo()
    assert document.nodes["a"]["with"] == {}, "even an empty 'with' comes back"


def test_node_key_edits(document: WorkflowDocument, stack: QUndoStack) -> None:
    stack.push(SetNodeKeyCommand(document, "fetch", "retry", {"max_attempts": 4}))
    stack.push(SetNodeKeyCommand(document, "fetch", "timeout", "10s"))
    assert document.nodes["fetch"]["retry"] == {"max_attempts": 4}
    stack.undo()
    stack.undo()
    assert "retry" not in document.nodes["fetch"] and "timeout" not in document.nodes["fetch"]


def test_delete_node_takes_its_links_and_undo_puts_all_back(
    document: WorkflowDocument, stack: QUndoStack
) -> None:
    stack.push(RemoveItemsCommand(document, ["fetch"]))
    assert "fetch" not in document.nodes
    assert len(document.links) == 0
    stack.undo()
    assert list(document.nodes) == ["fetch", "save"], "the node returns to its place"
    assert list(document.links) == [Link(source="fetch", target="save")]
    assert document.to_text() == TEXT


def test_rename_undo(document: WorkflowDocument, stack: QUndoStack) -> None:
    stack.push(RenameNodeCommand(document, "fetch", "get"))
    assert document.links == (Link(source="get", target="save"),)
    stack.undo()
    assert document.to_text() == TEXT


def test_refused_edit_raises(document: WorkflowDocument, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already exists"):
        document.add_node("fetch", {"block": "notify.log"})
