"""The window does not get in the way: new nodes find free space, names stay readable,
commands are typed as a shell would split them."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QRectF
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.layout import free_spot
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry
from tests.unit.app.appkit import EXAMPLES


def _editor(qtbot: QtBot, registry: BlockRegistry, document: WorkflowDocument) -> EditorWidget:
    editor = EditorWidget(document, registry, themes.LIGHT)
    qtbot.addWidget(editor)
    editor.resize(1366, 700)
    editor.show()
    qtbot.waitExposed(editor)
    return editor


def _rects(editor: EditorWidget) -> dict[str, QRectF]:
    return {n: i.sceneBoundingRect() for n, i in editor.scene.node_items.items()}


def _overlapping(rects: dict[str, QRectF]) -> list[tuple[str, str]]:
    names = sorted(rects)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]
            if rects[a].intersects(rects[b])]  # fmt: skip


def test_new_nodes_go_into_free_space_near_the_view_centre(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLES / "hello.yaml", tmp_path)
    editor = _editor(qtbot, registry, WorkflowDocument.open(tmp_path / "hello.yaml"))
    editor.scene.select_nodes([])
    added = [editor.add_block("notify.log") for _ in range(8)]
    editor.scene.select_nodes([])
    rects = _rects(editor)
    assert _overlapping(rects) == []
    centre = editor.view.mapToScene(editor.view.viewport().rect().center())
    first = rects[str(added[0])]
    # the first lands near the middle of what the user sees, not below the whole graph
    assert abs(first.center().x() - centre.x()) < 600 and abs(first.center().y() - centre.y()) < 400


def test_a_new_node_goes_beside_the_selected_one(
    qtbot: QtBot, registry: BlockRegistry
) -> None:
    editor = _editor(qtbot, registry, WorkflowDocument.new("empty"))
    first = editor.add_block("notify.log")
    assert first is not None
    editor.scene.select_nodes([first])
    second = editor.add_block("notify.log")
    rects = _rects(editor)
    assert _overlapping(rects) == []
    a, b = rects[first], rects[str(second)]
    assert b.left() > a.right() and abs(b.top() - a.top()) < 1


def test_free_spot_steps_around_a_crowd() -> None:
    crowd = [(x * 240.0, y * 100.0, 230.0, 90.0) for x in range(3) for y in range(3)]
    x, y = free_spot(crowd, (240.0, 100.0))
    assert all(
        x + 230 <= ox or ox + ow <= x or y + 110 <= oy or oy + oh <= y for ox, oy, ow, oh in crowd
    )
