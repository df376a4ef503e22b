"""The canvas: pins, type-checked links drawn with the mouse, markers, layout and paste."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.node_item import NodeItem
from app.editor.pins import PinSpec, block_pins, refusal
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry
from automation.model import Link

TEXT = """\
name: flow
nodes:
  save:
    block: file.write
    with: {path: out.txt, content: x}
    position: [0, 0]
  log:
    block: notify.log
    position: [400, 0]
  relay:
    block: control.pass
    position: [0, 400]
"""


@pytest.fixture
def editor(qtbot: QtBot, registry: BlockRegistry) -> EditorWidget:
    widget = EditorWidget(WorkflowDocument.from_text(TEXT), registry, themes.LIGHT)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    qtbot.waitExposed(widget)
    widget.view.resetTransform()
    widget.view.centerOn(300, 200)
    return widget


def pin(registry: BlockRegistry, block_id: str, direction: str, name: str) -> PinSpec:
    pins = block_pins(registry[block_id])
    found = pins.get("in" if direction == "in" else "out", name)
    assert found is not None
    return found


def test_integer_output_is_refused_by_a_string_input(registry: BlockRegistry) -> None:
    reason = refusal(
        pin(registry, "file.write", "out", "size"), pin(registry, "notify.log", "in", "message")
    )
    assert reason is not None
    assert "'size' gives integer but 'message' needs string" in reason


def test_any_output_is_accepted_everywhere(registry: BlockRegistry) -> None:
    source = pin(registry, "control.pass", "out", "value")
    assert source.types is None
    for target in block_pins(registry["file.write"]).inputs:
        assert refusal(source, target) is None, target.name


def test_integer_feeds_number_and_anything_feeds_trigger(registry: BlockRegistry) -> None:
    size = pin(registry, "file.write", "out", "size")
    assert refusal(size, pin(registry, "data.math", "in", "a")) is None
    assert refusal(size, pin(registry, "notify.log", "in", "trigger")) is None


def _pin_point(editor: EditorWidget, node_id: str, direction: str, name: str) -> QPoint:
    item = editor.scene.node_items[node_id]
    return editor.view.mapFromScene(item.pin_position(direction, name))  # type: ignore[arg-type]


def _drag(qtbot: QtBot, editor: EditorWidget, start: QPoint, end: QPoint) -> None:
    viewport = editor.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def test_dragging_between_compatible_pins_links_them(qtbot: QtBot, editor: EditorWidget) -> None:
    start = _pin_point(editor, "save", "out", "path")
    end = _pin_point(editor, "log", "in", "message")
    _drag(qtbot, editor, start, end)
    link = Link(source="save", source_pin="path", target="log", target_pin="message")
    assert link in editor.document.links
    assert link in editor.scene.link_items
    assert ("out", "path") in editor.scene.node_items["save"].connected
    editor.undo_stack.undo()
    assert link not in editor.document.links and link not in editor.scene.link_items


def test_dragging_to_an_incompatible_pin_refuses_and_says_why(
    qtbot: QtBot, editor: EditorWidget
) -> None:
    messages: list[str] = []
    editor.status_message.connect(messages.append)
    _drag(
        qtbot,
        editor,
        _pin_point(editor, "save", "out", "size"),
        _pin_point(editor, "log", "in", "message"),
    )
    assert editor.document.links == ()
    assert any("'size' gives integer but 'message' needs string" in m for m in messages), messages


def test_dragging_backwards_from_an_input_works_too(qtbot: QtBot, editor: EditorWidget) -> None:
    _drag(
        qtbot,
        editor,
        _pin_point(editor, "relay", "in", "value"),
        _pin_point(editor, "save", "out", "size"),
    )
    assert (
        Link(source="save", source_pin="size", target="relay", target_pin="value")
        in editor.document.links
    )


def test_moving_a_node_with_the_mouse_is_undoable(qtbot: QtBot, editor: EditorWidget) -> None:
    item = editor.scene.node_items["log"]
    grab = editor.view.mapFromScene(item.pos() + QPointF(60, 20))
    viewport = editor.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=grab)
    qtbot.mouseMove(viewport, grab + QPoint(30, 10))
    qtbot.mouseMove(viewport, grab + QPoint(80, 40))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=grab + QPoint(80, 40))
    assert editor.document.nodes["log"]["position"] == [480, 40]
    editor.undo_stack.undo()
    assert editor.document.nodes["log"]["position"] == [400, 0]
    assert item.pos() == QPointF(400, 0)


def test_validation_marks_the_invalid_node(qtbot: QtBot, editor: EditorWidget) -> None:
    editor.validate_now()
    assert editor.scene.node_items["log"].issues == [
        "required input 'message' of notify.log has no value — "
        "set it under 'with:' or link an output to 'log.message'"
    ]
    assert editor.scene.node_items["save"].issues == []
    assert "Problems:" in editor.scene.node_items["log"].node_tooltip()
    editor.document.set_input("log", "message", "hello")
    qtbot.waitUntil(lambda: editor.scene.node_items["log"].issues == [], timeout=3000)
    assert editor.problems.count() == 0


def test_validation_is_debounced_after_edits(qtbot: QtBot, editor: EditorWidget) -> None:
    editor.validate_now()
    with qtbot.waitSignal(editor.checked, timeout=3000) as blocker:
        editor.document.set_input("save", "content", "{{ nodes.nowhere.x }}")
    assert blocker.args == [2]
    assert any(
        "unknown node 'nowhere'" in issue for issue in editor.scene.node_items["save"].issues
    )


def test_auto_layout_places_nodes_without_overlap(
    qtbot: QtBot, registry: BlockRegistry, examples: Path
) -> None:
    for path in sorted(examples.glob("*.yaml")):
        widget = EditorWidget(WorkflowDocument.open(path), registry, themes.LIGHT)
        qtbot.addWidget(widget)
        widget.auto_layout()
        items = list(widget.scene.node_items.values())
        for index, first in enumerate(items):
            for second in items[index + 1 :]:
                assert not first.sceneBoundingRect().intersects(second.sceneBoundingRect()), (
                    path.name,
                    first.node_id,
                    second.node_id,
                )
        # links run left to right after a layout
        for link in widget.document.links:
            assert (
                items
                and widget.scene.node_items[link.source].x()
                < widget.scene.node_items[link.target].x()
            )
        widget.undo_stack.undo()
        assert not widget.document.is_modified


def test_copy_paste_renames_and_rewires(qtbot: QtBot, editor: EditorWidget) -> None:
    editor.document.add_link(
        Link(source="save", source_pin="path", target="log", target_pin="message")
    )
    editor.scene.select_nodes(["save", "log"])
    assert editor.copy()
    pasted = editor.paste()
    assert sorted(pasted) == ["log_2", "save_2"]
    assert (
        Link(source="save_2", source_pin="path", target="log_2", target_pin="message")
        in editor.document.links
    )
    assert editor.document.nodes["save_2"]["position"] == [40, 40]
    assert set(editor.scene.selected_node_ids()) == {"save_2", "log_2"}
    editor.undo_stack.undo()
    assert "save_2" not in editor.document.nodes


def test_delete_selection_and_undo(qtbot: QtBot, editor: EditorWidget) -> None:
    editor.scene.select_nodes(["relay"])
    editor.delete_selection()
    assert "relay" not in editor.scene.node_items
    editor.undo_stack.undo()
    assert isinstance(editor.scene.node_items["relay"], NodeItem)


def test_status_badge_slot(editor: EditorWidget) -> None:
    editor.scene.set_node_status("save", "running")
    assert editor.scene.node_items["save"].status == "running"
    editor.scene.clear_statuses()
    assert editor.scene.node_items["save"].status is None


def test_zoom_and_fit(qtbot: QtBot, editor: EditorWidget, qapp: QApplication) -> None:
    editor.view.set_zoom(2.0)
    assert editor.view.zoom() == pytest.approx(2.0)
    editor.view.fit_all()
    assert editor.view.zoom() <= 1.0
    visible = editor.view.mapToScene(editor.view.viewport().rect()).boundingRect()
    assert visible.contains(editor.scene.itemsBoundingRect())
