"""The editor in a real window on Xvfb, driven by real X input (``xdotool``), not QTest.

One window, one workflow, built up by typing and clicking as a newcomer does:
the palette's ranking (Enter inserts the best match), new nodes in free
space, a form that stays still while its errors come and go (so a click
aimed at a checkbox lands on it), a list input edited a row per item,
and a breakpoint toggled with F9 and saved in the file; and the capture
overlay, whose screen grab must not hold the editor's own window.  (The list input is
``process.run``'s ``args`` in the editor's list editor, ``app/editor/list_field.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QToolButton, QWidget

from app.editor.capture_tools import CaptureTools
from app.editor.document import WorkflowDocument
from app.editor.fields import FieldEditor
from app.editor.list_field import ListEditor
from app.editor.widget import EditorWidget
from app.theme import LIGHT
from automation.blocks.registry import BlockRegistry
from automation.loader import read_workflow_file
from tests.e2e.realinput import RealInput, pump_until
from tests.helpers.xvfb import XDisplay

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def editor(qapp: QApplication, registry: BlockRegistry, tmp_path: Path) -> Iterator[EditorWidget]:
    path = tmp_path / "typed.yaml"
    document = WorkflowDocument.new("typed", path)
    widget = EditorWidget(document, registry, LIGHT)
    widget.resize(1366, 768)
    widget.move(0, 0)
    widget.show()
    pump_until(lambda: widget.isVisible() and widget.windowHandle().isExposed())
    try:
        yield widget
    finally:
        widget.close()
        widget.deleteLater()


def _insert(real: RealInput, editor: EditorWidget, query: str) -> str:
    """Type ``query`` into the palette's search and press Enter: the node that was added."""
    before = set(editor.document.nodes)
    search = editor.blocks.search
    real.click(search)
    pump_until(search.hasFocus)
    real.key("ctrl+a", "BackSpace")
    real.type(query)
    pump_until(lambda: search.text() == query)
    real.key("Return")
    added = pump_until(lambda: set(editor.document.nodes) - before)
    (node_id,) = added
    return node_id


def _scroll_into_view(real: RealInput, editor: EditorWidget, widget: QWidget) -> None:
    """Turn the mouse wheel over the property panel until ``widget`` shows whole."""
    panel = editor.properties
    real.move(real.point(panel.viewport()))

    def shown() -> bool:
        if widget.visibleRegion().boundingRect().height() >= widget.height():
            return True
        real.wheel_down()
        return False

    pump_until(shown)


def _remove_button(rows: ListEditor, index: int) -> QWidget:
    line = rows.rows[index].line
    (button,) = [b for b in line.findChildren(QToolButton) if b.accessibleName() == "Remove item"]
    return button


def test_palette_placement_forms_lists_and_breakpoints_by_real_input(
    editor: EditorWidget, registry: BlockRegistry
) -> None:
    real = RealInput()
    real.focus(editor)

    # the palette ranks exact ids and titles first; Enter inserts the top result
    # (the queries that used to insert Fail, Delay, Delay, Drag and Click image)
    ranked = (
        ("if", "control.if"),
        ("pass", "control.pass"),
        ("run", "process.run"),
        ("move", "mouse.move"),
        ("click", "mouse.click"),
    )
    for query, block in ranked:
        node_id = _insert(real, editor, query)
        assert editor.document.nodes[node_id]["block"] == block, query

    # each new node went into free space: no two overlap on the canvas
    rects = [item.sceneBoundingRect() for item in editor.scene.node_items.values()]
    assert len(rects) == len(ranked)
    for i, one in enumerate(rects):
        for other in rects[i + 1 :]:
            assert not one.intersects(other), (one, other)

    # a list input ('args' of process.run) has a row per item: Enter ends one and opens
    # the next, Delete in an empty row removes it, each finished item is one undo step
    run_node = next(n for n, v in editor.document.nodes.items() if v["block"] == "process.run")
    editor.scene.select_nodes([run_node])
    args = pump_until(lambda: editor.properties.fields.get("args"))
    assert isinstance(args, FieldEditor) and isinstance(args.literal, ListEditor)
    rows = args.literal
    _scroll_into_view(real, editor, args)
    real.click(rows.add_button)
    first = pump_until(lambda: rows.rows and rows.rows[0].hasFocus() and rows.rows[0])
    steps = editor.undo_stack.count()
    real.type("echo")
    real.key("Return")
    pump_until(lambda: len(rows.rows) == 2 and rows.rows[1].hasFocus())
    real.type("two words")  # no quoting: a row is one argument
    real.key("Return")
    real.type("{{ inputs.missing }}")  # an item may be a template
    real.key("Return")
    pump_until(lambda: len(rows.rows) == 4 and rows.rows[3].hasFocus())
    real.key("Delete")  # the empty row goes
    pump_until(lambda: len(rows.rows) == 3 and rows.rows[2].hasFocus())
    saved = ["echo", "two words", "{{ inputs.missing }}"]
    pump_until(lambda: editor.document.node_inputs(run_node).get("args") == saved)
    assert editor.undo_stack.count() == steps + 3
    real.key("alt+Up")  # the template moves above "two words"
    pump_until(
        lambda: (
            editor.document.node_inputs(run_node).get("args")
            == ["echo", "{{ inputs.missing }}", "two words"]
        )
    )
    real.click(_remove_button(rows, 1))
    pump_until(lambda: editor.document.node_inputs(run_node).get("args") == ["echo", "two words"])
    assert first is rows.rows[0]

    # the form stays still while rows are added and an error appears under the list: a
    # click aimed at the retry checkbox before typing still lands on it
    retry = editor.properties.retry_box
    _scroll_into_view(real, editor, retry)  # with the wheel, as a person would
    aimed = real.point(retry, QPoint(8, retry.height() // 2))
    real.click(rows.rows[-1])
    pump_until(rows.rows[-1].hasFocus)
    for _ in range(5):  # more rows than the list shows: it scrolls, the form does not move
        real.key("End", "Return")
    pump_until(lambda: len(rows.rows) == 7 and rows.rows[-1].hasFocus())
    real.type("{{ unclosed")
    pump_until(lambda: bool(args.error.text()))
    assert real.point(retry, QPoint(8, retry.height() // 2)) == aimed, "the form moved"
    real.click_at(aimed)
    pump_until(retry.isChecked)
    assert editor.document.node(run_node).get("retry")
    assert editor.document.node_inputs(run_node).get("args") == ["echo", "two words"]

    # F9 on the selected node sets a breakpoint, drawn on it and saved with the file
    if_node = next(n for n, v in editor.document.nodes.items() if v["block"] == "control.if")
    item = editor.scene.node_items[if_node]
    viewport = editor.view.viewport()
    centre = editor.view.mapFromScene(item.sceneBoundingRect().center())
    real.click(viewport, centre)
    pump_until(lambda: editor.scene.selected_node_ids() == [if_node])
    real.key("F9")
    pump_until(lambda: item.breakpoint)
    assert editor.document.node(if_node).get("break") is True
    editor.save()  # Ctrl+S belongs to the main window, not to this bare editor
    path = editor.document.path
    assert path is not None
    pump_until(lambda: path.exists() and "break: true" in path.read_text(encoding="utf-8"))
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["nodes"][if_node]["break"] is True
    # F9 again clears it (the file keeps no 'break' key)
    real.key("F9")
    pump_until(lambda: not item.breakpoint)
    editor.save()
    pump_until(lambda: "break" not in path.read_text(encoding="utf-8"))
    assert read_workflow_file(path).workflow.breakpoints() == []


CAPTURED = """\
deskpilot: 1
name: captured
nodes:
  click:
    block: image.click
    with:
      target:
        anchors:
          - {text: Save}
"""


def test_the_capture_overlay_grabs_the_screen_without_deskpilots_window(
    qapp: QApplication, registry: BlockRegistry, tmp_path: Path, gui_display: XDisplay
) -> None:
    """A click on 'Capture image' hides the editor before the grab: where the window was,
    the capture holds what is behind it (a painted desktop), not the editor's pixels."""
    import numpy as np

    from automation.blocks.desktop.display import Box
    from tests.unit.app.test_capture import paint_root

    width, height = gui_display.screens[0]
    picture = np.random.default_rng(11).integers(0, 256, (height, width, 3), dtype=np.uint8)
    connection = paint_root(gui_display, picture)
    path = tmp_path / "captured.yaml"
    path.write_text(CAPTURED, encoding="utf-8")
    editor = EditorWidget(WorkflowDocument.open(path), registry, LIGHT)
    try:
        editor.resize(1366, 768)
        editor.move(0, 0)
        editor.show()
        pump_until(lambda: editor.windowHandle().isExposed())
        real = RealInput()
        real.focus(editor)
        editor.scene.select_nodes(["click"])
        tools = pump_until(lambda: editor.properties.findChild(CaptureTools))
        button = tools.buttons["capture_image"]
        _scroll_into_view(real, editor, button)
        area = editor.frameGeometry()
        real.click(button)
        controller = editor.properties.capture
        pump_until(lambda: controller.overlay is not None and controller.overlay.isVisible())
        overlay = controller.overlay
        assert overlay is not None
        seen = overlay.shot.crop(Box(area.x(), area.y(), area.width(), area.height()))
        behind = picture[area.y() : area.bottom() + 1, area.x() : area.right() + 1]
        assert np.array_equal(seen, behind), "the grab holds Deskpilot's window, not the desktop"
        real.key("Escape")
        pump_until(lambda: controller.overlay is None and editor.isVisible())
    finally:
        editor.close()
        editor.deleteLater()
        connection.close()
