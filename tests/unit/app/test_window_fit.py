"""The window does not get in the way: new nodes find free space, names stay readable,
commands are edited one argument a row."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtWidgets import QScrollArea, QWidget
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.fields import FieldEditor
from app.editor.layout import free_spot
from app.editor.list_field import ListEditor
from app.editor.widget import EditorWidget
from app.machines_view import MachinesView
from automation.blocks.registry import BlockRegistry
from supervisor.api.models import MachineInfo
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


def test_a_new_node_goes_beside_the_selected_one(qtbot: QtBot, registry: BlockRegistry) -> None:
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


COMMAND_FLOW = """\
deskpilot: 1
name: commands
nodes:
  run:
    block: process.run
    with:
      args: [echo, "two words", it's]
"""


def test_a_command_is_edited_one_argument_a_row(qtbot: QtBot, registry: BlockRegistry) -> None:
    editor = _editor(qtbot, registry, WorkflowDocument.from_text(COMMAND_FLOW))
    editor.scene.select_nodes(["run"])
    args = editor.properties.fields["args"]
    assert isinstance(args, FieldEditor) and isinstance(args.literal, ListEditor)
    # no quoting to learn: each argument is a row of its own
    assert [row.text() for row in args.literal.rows] == ["echo", "two words", "it's"]
    args.literal.rows[1].setText("My shell")
    args.literal.rows[1].editingFinished.emit()
    assert editor.document.node_inputs("run")["args"] == ["echo", "My shell", "it's"]


def test_form_errors_and_problems_do_not_move_what_is_under_the_pointer(
    qtbot: QtBot, registry: BlockRegistry
) -> None:
    editor = _editor(qtbot, registry, WorkflowDocument.from_text(COMMAND_FLOW))
    editor.scene.select_nodes(["run"])
    fields = editor.properties.fields
    args, below = fields["args"], fields["cwd"]
    assert isinstance(args, FieldEditor)
    before = below.mapTo(editor, below.rect().topLeft())
    canvas_before = editor.view.height()
    assert isinstance(args.literal, ListEditor)
    row = args.literal.rows[0]
    row.setText("{{ unclosed")
    row.textEdited.emit(row.text())  # an error appears under the field...
    qtbot.wait(1)  # the layout settles in the event loop
    assert not args.error.isHidden()
    assert below.mapTo(editor, below.rect().topLeft()) == before
    row.setText("echo")
    row.textEdited.emit(row.text())  # ...and goes
    editor.validate_now()
    qtbot.wait(1)
    assert args.error.isHidden()
    assert below.mapTo(editor, below.rect().topLeft()) == before
    assert editor.view.height() == canvas_before


def test_the_nodes_problems_appear_below_its_fields(qtbot: QtBot, registry: BlockRegistry) -> None:
    editor = _editor(qtbot, registry, WorkflowDocument.from_text(COMMAND_FLOW))
    editor.scene.select_nodes(["run"])
    cwd = editor.properties.findChild(QWidget, "field_cwd")
    assert cwd is not None
    before = cwd.mapTo(editor, cwd.rect().topLeft())
    editor.properties.set_issues({"run": ["one problem", "another problem", "a third"]})
    qtbot.wait(1)
    assert cwd.mapTo(editor, cwd.rect().topLeft()) == before


def test_the_run_panels_leave_the_canvas_most_of_a_small_screen(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    """The panels are tabbed together: History's minimum height held them at half of 768 px.

    The link is never started: the layout does not need a supervisor.
    """
    from app.main_window import MainWindow
    from app.prompts import Prompts
    from app.runs.panels import RunPanels
    from app.supervisor_link import SupervisorLink
    from supervisor.paths import DeskpilotPaths

    paths = DeskpilotPaths.under(tmp_path / "home").ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5)
    window = MainWindow(registry, paths, theme=themes.LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    panels = RunPanels.install(window, link)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.centralWidget().height() > 0)
    assert window.centralWidget().height() > 1.5 * panels.docks["live"].height()
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[-2:] == ["Runs", "Help"]


def _main_window_with_panels(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path, size: tuple[int, int]
) -> tuple[object, object]:
    from app.main_window import MainWindow
    from app.prompts import Prompts
    from app.runs.panels import RunPanels
    from app.supervisor_link import SupervisorLink
    from supervisor.paths import DeskpilotPaths

    paths = DeskpilotPaths.under(tmp_path / "home").ensure()
    shutil.copy(EXAMPLES / "hello.yaml", paths.workflows_dir / "desktop-click-image-copy.yaml")
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5)
    window = MainWindow(registry, paths, theme=themes.LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    # the first start on a screen of that size (the offscreen screen is smaller)
    window.fit_to_screen(QRect(0, 0, *size))
    window.default_split()
    panels = RunPanels.install(window, link)
    # laid out as shown, without a platform window: the offscreen platform would clamp it
    # to its 800x800 screen
    window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    window.show()
    return window, panels


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_the_canvas_gets_most_of_the_window(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path, size: tuple[int, int]
) -> None:
    """Screenshots at 1366x768 showed the canvas in a quarter of the window's height."""
    window, _panels = _main_window_with_panels(qtbot, registry, tmp_path, size)
    editor = window.open_workflow(window.paths.workflows_dir / "desktop-click-image-copy.yaml")
    assert editor is not None
    canvas = editor.view.viewport()
    # the layout settles in the event loop
    qtbot.waitUntil(lambda: canvas.height() > 0.5 * window.height(), timeout=2000)
    assert canvas.width() > 0.45 * window.width(), (canvas.width(), window.width())
    others = [editor.blocks, editor.properties, window.splitter.widget(0)]
    assert all(canvas.width() > w.width() for w in others)


def test_names_stay_readable_in_a_narrow_workflows_pane(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    """Squeezed beside state, triggers and last run, names read "a…s"."""
    window, _panels = _main_window_with_panels(qtbot, registry, tmp_path, (1366, 768))
    view = window.workflows
    name = "desktop-click-image-copy"

    def shown() -> str:  # what the name column shows, beside the state icon
        room = view.columnWidth(0) - view.iconSize().width() - 16
        return view.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, room)

    for pane in (window.splitter.sizes()[0], 0):  # the default, and dragged as far as it goes
        window.splitter.setSizes([pane, window.width() - pane])
        # the columns settle in the event loop
        qtbot.waitUntil(lambda: view.isColumnHidden(2) and view.isColumnHidden(3), timeout=2000)
        assert window.splitter.sizes()[0] >= 180
        # both ends of the name stay: "desktop-cl…image-copy", never "d…y"
        text = shown()
        assert len(text) >= 16 and text[:6] == name[:6] and text[-5:] == name[-5:], text
    window.splitter.setSizes([600, window.width() - 600])  # a wide pane shows every column
    qtbot.waitUntil(lambda: not view.isColumnHidden(3) and not view.isColumnHidden(2))
    assert view.textElideMode() == Qt.TextElideMode.ElideMiddle


def test_a_long_value_shows_its_start(qtbot: QtBot, registry: BlockRegistry) -> None:
    """The debugger screenshot showed a template as "[ vars.total + nodes.numbers.item }}"."""
    flow = COMMAND_FLOW.replace(
        '      args: [echo, "two words", it\'s]\n',
        "      args: [echo]\n      cwd: \"{{ vars.a_rather_long_folder_name + '/' + inputs.sub }}\"\n",
    )
    editor = _editor(qtbot, registry, WorkflowDocument.from_text(flow))
    editor.resize(900, 700)
    editor.scene.select_nodes(["run"])
    cwd = editor.properties.fields["cwd"]
    assert isinstance(cwd, FieldEditor)
    shown = cwd.template if cwd.template.isVisibleTo(editor) else cwd.literal
    assert shown.text().startswith("{{") and shown.cursorPosition() == 0


def test_a_pause_gives_the_debugger_values_room(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    """The run panel starts small; paused, its values were cut after two rows at 1366x768."""
    window, panels = _main_window_with_panels(qtbot, registry, tmp_path, (1366, 768))
    dock = panels.docks["live"]
    qtbot.waitUntil(lambda: dock.height() > 0, timeout=2000)
    before = dock.height()
    assert before < window.height() // 4
    pause = {"node_id": "tally", "step": 4, "reason": "breakpoint", "timeout": 600,
             "inputs": {"name": "total", "value": 1}, "pins": {}, "vars": {"total": 0}}  # fmt: skip
    panels.live.debug.show_pause("run-1", pause)
    # a third of the window, the tabs included
    qtbot.waitUntil(lambda: dock.height() > max(200, before + 80), timeout=2000)


def test_every_blocks_form_fits_the_property_panel_at_its_default_width(
    qtbot: QtBot, registry: BlockRegistry
) -> None:
    """No block's form is wider than the panel it opens in (290 px, the default at 1366x768
    and 1440x900): its right edge was cut off for 18 blocks, whose check box sentences
    did not wrap."""
    lines = ["deskpilot: 1", "name: every-block", "nodes:"]
    ids = registry.ids()
    for index, block_id in enumerate(ids):
        lines += [f"  n{index}:", f"    block: {block_id}", f"    position: [{index * 300}, 0]"]
    editor = _editor(qtbot, registry, WorkflowDocument.from_text("\n".join(lines) + "\n"))
    panel = editor.properties
    assert panel.width() <= 300
    wider = []
    for index, block_id in enumerate(ids):
        editor.scene.select_nodes([f"n{index}"])
        body = panel.widget()
        assert body is not None
        if body.minimumSizeHint().width() > panel.viewport().width():
            wider.append(f"{block_id}: {body.minimumSizeHint().width()} px")
    assert wider == [], f"wider than the panel's {panel.viewport().width()} px: {wider}"


def _fleet(count: int, *, stranded: bool = False) -> list[MachineInfo]:
    """``count`` machines as ``GET /machines`` answers them, this one first; ``stranded``:
    runs wait for a gone machine (a warning line under the list)."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        MachineInfo(
            id=f"{index:032x}",
            host=f"robot-{index:02d}",
            state=("alive", "late", "gone")[index % 3],
            heartbeat_age_seconds=3.0 * index,
            heartbeat_at=at,
            started_at=at,
            running=index % 2,
            queued=3 if stranded and index == 2 else 0,
            version="1.4.0",
            api_url=f"http://robot-{index:02d}.office.lan:8765" if index else None,
            this=index == 0,
        )
        for index in range(count)
    ]


def _rows_outside(view: MachinesView, scroller: QScrollArea) -> list[str]:
    """The machines whose row is not wholly on screen: inside the list's viewport and
    inside the scroll area that holds the whole panel in its dock."""
    tree = view.tree
    port = tree.viewport()
    outer = scroller.viewport()
    seen = port.rect().intersected(
        QRect(port.mapFrom(outer, outer.rect().topLeft()), outer.rect().size())
    )
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    return [item.text(0) for item in items if not seen.contains(tree.visualItemRect(item))]


def _machines_panel(
    qtbot: QtBot,
    registry: BlockRegistry,
    tmp_path: Path,
    size: tuple[int, int],
    fleet: list[MachineInfo],
) -> tuple[Any, Any, QScrollArea]:
    """The main window with its Machines panel raised, listing ``fleet``."""
    window, panels = _main_window_with_panels(qtbot, registry, tmp_path, size)
    view = panels.machines
    scroller = panels.docks["machines"].widget()
    assert isinstance(scroller, QScrollArea)
    panels.show_panel("machines")
    # what a reload answers (the link is never started: the layout needs no supervisor)
    view._loaded(fleet)
    # the layout settles in the event loop: the panel fits its dock, the list scrolls alone
    qtbot.waitUntil(lambda: view.height() == scroller.viewport().height(), timeout=2000)
    return window, panels, scroller


def _line_in_view(label: QWidget, scroller: QScrollArea) -> bool:
    outer = scroller.viewport()
    top_left = label.mapTo(outer, label.rect().topLeft())
    return outer.rect().contains(QRect(top_left, label.size()))


@pytest.mark.parametrize(
    ("size", "count", "stranded"),
    [
        ((1366, 768), 5, False),
        ((1920, 1080), 5, False),
        ((1366, 768), 5, True),
        ((1366, 768), 9, False),
    ],
)
def test_every_machine_of_a_small_fleet_is_in_view(
    qtbot: QtBot,
    registry: BlockRegistry,
    tmp_path: Path,
    size: tuple[int, int],
    count: int,
    stranded: bool,
) -> None:
    """At 1366x768 the Machines panel was 127 px tall and showed 4 of a fleet's 5 rows;
    with runs stranded, the warning under the list was scrolled out of the dock."""
    fleet = _fleet(count, stranded=stranded)
    window, panels, scroller = _machines_panel(qtbot, registry, tmp_path, size, fleet)
    view = panels.machines
    qtbot.waitUntil(lambda: _rows_outside(view, scroller) == [], timeout=2000)
    assert view.stranded.isVisible() == stranded
    if stranded:
        assert _line_in_view(view.stranded, scroller)
    # the canvas keeps most of the window
    assert panels.docks["machines"].height() <= window.height() // 3


def test_a_large_fleet_scrolls_in_a_third_of_the_window(
    qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    fleet = _fleet(30, stranded=True)
    window, panels, scroller = _machines_panel(qtbot, registry, tmp_path, (1366, 768), fleet)
    view, dock = panels.machines, panels.docks["machines"]
    # grown to a third of the window with its tabs, and no further
    qtbot.waitUntil(lambda: dock.height() > window.height() // 4, timeout=2000)
    assert dock.height() <= window.height() // 3
    # the list scrolls between its line of buttons and the warning, which stay in view
    rows = view.tree.verticalScrollBar()
    assert rows.isVisible() and rows.maximum() > 0
    assert scroller.verticalScrollBar().maximum() == 0
    assert _line_in_view(view.refresh_button, scroller)
    assert _line_in_view(view.stranded, scroller)
    last = view.tree.topLevelItem(29)
    view.tree.scrollToItem(last)
    assert last.text(0) not in _rows_outside(view, scroller)
    # a height the user drags stays while the fleet keeps its size
    window.resizeDocks([dock], [150], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: dock.height() <= 150, timeout=2000)
    view._loaded(fleet)
    qtbot.wait(50)  # a grow would be laid out within a few turns of the event loop
    assert dock.height() <= 150
