"""Build a workflow in the window, save it, run it on the real supervisor, watch it succeed.

Everything goes through the UI a user has: the File menu's New (answering
its real name dialog), the block palette's search, a mouse drag between two
pins on the canvas, typing into the generated form, Save and Run from the
menus.  The supervisor is the one the window starts by itself.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit
from pytestqt.qtbot import QtBot

from app.editor.widget import EditorWidget
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from app.tray import DesktopShell
from automation.blocks.registry import BlockRegistry
from supervisor.paths import DeskpilotPaths
from tests.helpers.common import eventually

GREETING = "Hello from the end-to-end test"


def wait_until(qapp: QApplication, check, timeout: float = 20.0):  # noqa: ANN001, ANN201
    def pumped():  # noqa: ANN202
        qapp.processEvents()
        return check()

    return eventually(pumped, timeout=timeout)


def answer_name_dialog(qapp: QApplication, name: str) -> None:
    """Type ``name`` into the next modal input dialog and press OK, as a user would."""

    def answer() -> None:
        dialog = qapp.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        line = dialog.findChild(QLineEdit)
        assert line is not None
        line.selectAll()
        line.insert(name)
        dialog.accept()

    QTimer.singleShot(20, answer)


def add_from_palette(qtbot: QtBot, editor: EditorWidget, query: str) -> str:
    before = set(editor.document.nodes)
    search = editor.blocks.search
    search.clear()
    qtbot.keyClicks(search, query)
    qtbot.keyClick(search, Qt.Key.Key_Return)
    (added,) = set(editor.document.nodes) - before
    return added


def pin_point(editor: EditorWidget, node_id: str, direction: str, name: str) -> QPoint:
    item = editor.scene.node_items[node_id]
    return editor.view.mapFromScene(item.pin_position(direction, name))  # type: ignore[arg-type]


def drag(qtbot: QtBot, editor: EditorWidget, start: QPoint, end: QPoint) -> None:
    viewport = editor.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def test_build_save_run_and_see_it_succeed(
    qtbot: QtBot, qapp: QApplication, gui_home: Path, registry: BlockRegistry
) -> None:
    paths = DeskpilotPaths.under(gui_home).ensure()
    link = SupervisorLink(paths, poll_interval=0.3)
    shell = DesktopShell(qapp, registry, paths, LIGHT, link=link, use_tray=False)
    shell.start(show_window=True)
    window = shell.window
    try:
        qtbot.waitExposed(window)
        panels = window.run_panels
        # the window started the supervisor (none was running in this home)
        wait_until(qapp, lambda: link.connected and link.stream_open, timeout=40)
        assert link.health is not None and not panels.banner_bar.isVisible()

        # a new workflow, named in the real dialog
        answer_name_dialog(qapp, "e2e greeting")
        window.new_action.trigger()
        editor = window.current_editor()
        assert editor is not None and editor.path == paths.workflows_dir / "e2e-greeting.yaml"

        # two blocks from the palette, linked by dragging between their pins
        template = add_from_palette(qtbot, editor, "Text template")
        log = add_from_palette(qtbot, editor, "Log message")
        editor.auto_layout()
        qapp.processEvents()
        drag(
            qtbot,
            editor,
            pin_point(editor, template, "out", "text"),
            pin_point(editor, log, "in", "message"),
        )
        assert [str(link_) for link_ in editor.document.links] == [
            f"{template}.text -> {log}.message"
        ]

        # the template's text, typed into its generated form
        editor.scene.select_nodes([template])
        field = editor.properties.fields["text"]
        line = field.literal
        assert isinstance(line, QLineEdit)
        line.setFocus()
        qtbot.keyClicks(line, GREETING)
        qtbot.keyClick(line, Qt.Key.Key_Return)
        assert editor.document.node_inputs(template)["text"] == GREETING
        assert editor.validate_now().issues == []

        # save, and the file says what the canvas shows
        window.save_action.trigger()
        saved = yaml.safe_load(editor.path.read_text(encoding="utf-8"))
        assert saved["nodes"][template]["with"]["text"] == GREETING
        assert saved["links"] == [f"{template}.text -> {log}.message"]
        assert not editor.is_dirty()

        # run it: the live view follows the run on the canvas
        assert window.run_action.isEnabled()
        window.run_action.trigger()
        live = panels.live
        wait_until(qapp, lambda: live.record is not None and live.record.finished, timeout=40)
        record = live.record
        assert record is not None and record.status == "succeeded", record
        assert editor.scene.node_items[template].status == "succeeded"
        assert editor.scene.node_items[log].status == "succeeded"
        assert record.nodes[log].logs[0].message == GREETING
        assert panels.docks["live"].isVisible()

        # and the history has it, newest first, with its detail
        panels.show_panel("history")
        history = panels.history
        wait_until(
            qapp,
            lambda: (
                history.model.rows
                and history.model.rows[0].id == record.run_id
                and history.model.rows[0].status == "succeeded"
            ),
        )
        wait_until(
            qapp,
            lambda: (
                history.detail.record is not None and history.detail.record.run_id == record.run_id
            ),
        )
        assert history.model.data(history.model.index(0, 1)) == "e2e greeting"
        assert set(history.detail.record.nodes) == {template, log}
        # the workflows list shows the last run's status
        wait_until(qapp, lambda: link.last_run_status("e2e greeting") == "succeeded")
    finally:
        window.close()
        link.stop()
