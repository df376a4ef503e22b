"""The canvas widget: drops from the palette, rubber band, zoom, pan and keyboard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.view import BLOCK_MIME
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry

TEXT = """\
name: view
nodes:
  a: {block: notify.log, with: {message: a}, position: [0, 0]}
  b: {block: notify.log, with: {message: b}, position: [300, 0]}
  c: {block: notify.log, with: {message: c}, position: [0, 300]}
"""


@pytest.fixture
def editor(qtbot: QtBot, registry: BlockRegistry) -> EditorWidget:
    widget = EditorWidget(WorkflowDocument.from_text(TEXT), registry, themes.LIGHT)
    qtbot.addWidget(widget)
    widget.resize(1300, 900)
    widget.show()
    qtbot.waitExposed(widget)
    widget.view.resetTransform()
    widget.view.centerOn(300, 250)
    return widget


def test_dropping_a_block_adds_it_where_it_was_dropped(
    editor: EditorWidget, qapp: QApplication
) -> None:
    data = QMimeData()
    data.setData(BLOCK_MIME, b"file.read")
    where = editor.view.mapFromScene(QPointF(600, 500))
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    action = Qt.DropAction.CopyAction
    viewport = editor.view.viewport()
    # what the drag manager sends: enter, move, drop
    enter = QDragEnterEvent(where, action, data, buttons, modifiers)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(viewport, QDragMoveEvent(where, action, data, buttons, modifiers))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(where), action, data, buttons, modifiers))
    assert editor.document.nodes["read"] == {"block": "file.read", "position": [600, 500]}


def test_rubber_band_selects_several_nodes(qtbot: QtBot, editor: EditorWidget) -> None:
    viewport = editor.view.viewport()
    start = editor.view.mapFromScene(QPointF(-30, -30))
    end = editor.view.mapFromScene(QPointF(560, 60))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, start + QPoint(20, 20))
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert sorted(editor.scene.selected_node_ids()) == ["a", "b"]
    shown = editor.properties.widget()
    assert isinstance(shown, QLabel) and "2 nodes selected" in shown.text()


def _wheel(editor: EditorWidget, modifiers: Qt.KeyboardModifier) -> None:
    centre = QPointF(editor.view.viewport().rect().center())
    event = QWheelEvent(
        centre, QPointF(editor.view.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(editor.view.viewport(), event)


def test_ctrl_wheel_zooms_and_plain_wheel_does_not(editor: EditorWidget) -> None:
    _wheel(editor, Qt.KeyboardModifier.NoModifier)
    assert editor.view.zoom() == pytest.approx(1.0)
    _wheel(editor, Qt.KeyboardModifier.ControlModifier)
    assert editor.view.zoom() == pytest.approx(1.15)
    assert editor.zoom_label.text() == "115%"


def test_middle_drag_pans(qtbot: QtBot, editor: EditorWidget) -> None:
    editor.view.setSceneRect(-2000, -2000, 6000, 6000)
    viewport = editor.view.viewport()
    before = editor.view.mapToScene(viewport.rect().center())
    start = viewport.rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=start)
    qtbot.mouseMove(viewport, start + QPoint(100, 50))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=start + QPoint(100, 50))
    after = editor.view.mapToScene(viewport.rect().center())
    assert (before.x() - after.x(), before.y() - after.y()) == pytest.approx((100, 50), abs=1)
    assert editor.scene.selected_node_ids() == [], "panning does not select"


def test_keyboard_selects_nodes_and_moves_them(qtbot: QtBot, editor: EditorWidget) -> None:
    editor.view.setFocus()
    qtbot.keyClick(editor.view, Qt.Key.Key_Tab)
    assert editor.scene.selected_node_ids() == ["a"]
    qtbot.keyClick(editor.view, Qt.Key.Key_Tab)
    assert editor.scene.selected_node_ids() == ["c"], "reading order: down the first column"
    qtbot.keyClick(editor.view, Qt.Key.Key_Right)
    qtbot.keyClick(editor.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert editor.document.nodes["c"]["position"] == [60, 300]
    editor.undo_stack.undo()
    assert editor.document.nodes["c"]["position"] == [0, 300], "nudges are one undo step"
    qtbot.keyClick(editor.view, Qt.Key.Key_Escape)
    assert editor.scene.selected_node_ids() == []
