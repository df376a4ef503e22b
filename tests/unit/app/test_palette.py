"""The block palette: every registered block, grouped, searchable, and adding nodes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.palette import BLOCK_ID_ROLE, BlockPalette
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry


def test_every_block_is_listed_by_category(qtbot: QtBot, registry: BlockRegistry) -> None:
    palette = BlockPalette(registry, themes.LIGHT)
    qtbot.addWidget(palette)
    assert sorted(palette.visible_block_ids()) == registry.ids()
    groups = [palette.proxy.index(row, 0).data() for row in range(palette.proxy.rowCount())]
    assert groups[:4] == ["Control flow", "Data", "Desktop", "Files"]


def test_search_filters_by_id_title_and_description(qtbot: QtBot, registry: BlockRegistry) -> None:
    palette = BlockPalette(registry, themes.LIGHT)
    qtbot.addWidget(palette)
    qtbot.keyClicks(palette.search, "http")
    shown = palette.visible_block_ids()
    assert {"http.request", "http.json"} <= set(shown)
    assert "file.write" not in shown
    palette.search.setText("write file")
    assert palette.visible_block_ids() == ["file.write"], "every word must match"
    palette.search.setText("zzz-nothing")
    assert palette.visible_block_ids() == []
    assert palette.proxy.rowCount() == 0, "empty categories are hidden"
    palette.search.clear()
    assert len(palette.visible_block_ids()) == len(registry)


def test_enter_in_search_adds_the_first_match(qtbot: QtBot, registry: BlockRegistry) -> None:
    editor = EditorWidget(WorkflowDocument.new("empty"), registry, themes.LIGHT)
    qtbot.addWidget(editor)
    qtbot.keyClicks(editor.blocks.search, "regex replace")
    qtbot.keyClick(editor.blocks.search, Qt.Key.Key_Return)
    assert list(editor.document.nodes) == ["regex_replace"]
    assert editor.document.nodes["regex_replace"]["block"] == "data.regex_replace"
    assert editor.scene.selected_node_ids() == ["regex_replace"]


def test_double_click_adds_once_and_new_nodes_do_not_overlap(
    qtbot: QtBot, registry: BlockRegistry
) -> None:
    editor = EditorWidget(WorkflowDocument.new("empty"), registry, themes.LIGHT)
    qtbot.addWidget(editor)
    editor.resize(1200, 800)
    editor.show()
    qtbot.waitExposed(editor)
    tree = editor.blocks.tree
    index = next(
        editor.blocks.proxy.index(c, 0, editor.blocks.proxy.index(r, 0))
        for r in range(editor.blocks.proxy.rowCount())
        for c in range(editor.blocks.proxy.rowCount(editor.blocks.proxy.index(r, 0)))
        if editor.blocks.proxy.index(c, 0, editor.blocks.proxy.index(r, 0)).data(BLOCK_ID_ROLE)
        == "notify.log"
    )
    tree.scrollTo(index)
    point = tree.visualRect(index).center()

    def double_click() -> None:
        # a real double-click: a click, then the second press arrives as a double-click
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point)
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point)

    double_click()
    assert list(editor.document.nodes) == ["log"]
    double_click()
    assert list(editor.document.nodes) == ["log", "log_2"]
    first, second = (editor.scene.node_items[n].sceneBoundingRect() for n in ("log", "log_2"))
    assert not first.intersects(second)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("pass", "control.pass"),
        ("if", "control.if"),
        ("run", "process.run"),
        ("click", "mouse.click"),
        ("move", "mouse.move"),
        ("delay", "control.delay"),
        ("http request", "http.request"),
        ("file.write", "file.write"),
        ("regex repl", "data.regex_replace"),
        ("for each", "control.for_each"),
        ("wait image", "image.wait"),
    ],
)
def test_enter_adds_the_best_match_not_the_first_in_the_tree(
    qtbot: QtBot, registry: BlockRegistry, typed: str, expected: str
) -> None:
    """Before, "pass" inserted Delay and "if" inserted Fail: their descriptions contain the word."""
    editor = EditorWidget(WorkflowDocument.new("empty"), registry, themes.LIGHT)
    qtbot.addWidget(editor)
    qtbot.keyClicks(editor.blocks.search, typed)
    assert editor.blocks.tree.currentIndex().data(BLOCK_ID_ROLE) == expected, "highlighted"
    qtbot.keyClick(editor.blocks.search, Qt.Key.Key_Return)
    assert [node["block"] for node in editor.document.nodes.values()] == [expected]


def test_a_cleared_search_restores_the_category_order(
    qtbot: QtBot, registry: BlockRegistry
) -> None:
    palette = BlockPalette(registry, themes.LIGHT)
    qtbot.addWidget(palette)
    before = palette.visible_block_ids()
    palette.search.setText("move")
    assert palette.visible_block_ids()[0] == "mouse.move"
    palette.search.clear()
    assert palette.visible_block_ids() == before
