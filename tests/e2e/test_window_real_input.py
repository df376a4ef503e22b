"""The main window on Xvfb with a real supervisor behind it, driven by real X input.

- The step debugger: a click on a node and F9 set a breakpoint, F5 runs, the
  run pauses in a worker, the debug panel shows the values; a double-click on
  an input, typing and Enter edit it, and a click on Continue runs the node
  with it.
- File › Quit (Ctrl+Q) asks whether the supervisor keeps running, in a real
  dialog answered with real keys and clicks: Escape cancels, the button quits.
- A new schedule's form names the local time zone, defaults to it, and
  previews a cron typed into it in that zone.
- Ctrl+, opens Preferences; a mistyped time zone is refused on its own line
  without moving the rows below, and a click on OK saves the right one.

The supervisor is the test package's in-process daemon (real worker
processes); its start-up is shared with the other tests here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QMessageBox,
    QTreeWidgetItem,
    QWidget,
)

from app.editor.fields import FieldEditor
from app.editor.wrapping import WrappingCheckBox
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from app.tray import DesktopShell
from automation.blocks.registry import BlockRegistry
from tests.e2e.realinput import RealInput, pump_until
from tests.helpers.daemon import RunningDaemon

pytestmark = pytest.mark.timeout(120)

FLOW = """\
deskpilot: 1
name: {name}
nodes:
  first:
    block: control.pass
    with: {{value: typed}}
    position: [0, 0]
  second:
    block: control.pass
    position: [320, 0]
links:
  - first.value -> second.value
outputs:
  echoed: "{{{{ nodes.second.value }}}}"
"""


class _NoQuit:
    """Stands in for QApplication.quit: the test process must outlive File › Quit."""

    def __init__(self) -> None:
        self.quits = 0

    def quit(self) -> None:
        self.quits += 1


@pytest.fixture
def shell(
    qapp: QApplication, api_daemon: RunningDaemon, registry: BlockRegistry
) -> Iterator[DesktopShell]:
    link = SupervisorLink(api_daemon.paths, autostart=False, poll_interval=0.3)
    made = DesktopShell(qapp, registry, api_daemon.paths, LIGHT, link=link, use_tray=False)
    made.start(show_window=True)
    window = made.window
    try:
        window.resize(1366, 768)
        window.move(0, 0)
        pump_until(lambda: window.isVisible() and link.connected and link.stream_open, timeout=30)
        yield made
    finally:
        for editor in window.editors():
            editor.undo_stack.setClean()  # nothing left to ask about when it closes
        window.close()
        link.stop()


def _item(tree: Any, section: str, name: str) -> QTreeWidgetItem | None:
    for index in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(index)
        if top is not None and top.text(0) == section:
            for row in range(top.childCount()):
                child = top.child(row)
                if child is not None and child.text(0) == name:
                    return child
    return None


def test_breakpoint_pause_inspect_edit_and_continue_by_real_input(
    shell: DesktopShell, api_daemon: RunningDaemon, tmp_path: Path
) -> None:
    real = RealInput()
    window = shell.window
    path = tmp_path / "debugged.yaml"
    path.write_text(FLOW.format(name=f"e2e-debug-{uuid.uuid4().hex[:6]}"), encoding="utf-8")
    editor = window.open_workflow(path)
    assert editor is not None
    real.focus(window)

    # a click on 'first' selects it; F9 sets the breakpoint (drawn, and in the file)
    item = editor.scene.node_items["first"]
    editor.view.centerOn(item)
    centre = editor.view.mapFromScene(item.sceneBoundingRect().center())
    real.click(editor.view.viewport(), centre)
    pump_until(lambda: editor.scene.selected_node_ids() == ["first"])
    real.key("F9")
    pump_until(lambda: item.breakpoint)

    # F5 saves and runs; the run pauses before 'first' in a supervisor worker
    panels = window.run_panels
    live = panels.live
    reloads: list[str] = []  # the pause must show from its event, with no reload of the run
    live.debug.refresh = lambda run_id: reloads.append(run_id)  # type: ignore[method-assign]
    real.key("F5")
    debug = live.debug
    pump_until(lambda: debug.paused and debug.node_id == "first", timeout=40)
    assert "break: true" in path.read_text(encoding="utf-8")
    assert debug.isVisible() and debug.continue_button.isVisible()
    assert debug.continue_button.isEnabled() and debug.step_button.isEnabled()
    # the run panel shows the pause live: its header, the whole run's Pauses, the node's row
    assert live.record is not None and live.record.paused_at == "first"
    assert "paused before first" in live.pane.header.text()
    whole = live.pane.detail.toPlainText()
    assert "Pauses" in whole and re.search(r"\(breakpoint, step 1\)\s+paused", whole), whole
    [row] = live.pane.nodes.findItems("first", Qt.MatchFlag.MatchExactly, 0)
    assert row.text(1) == "paused"
    assert reloads == [] and not live._loading
    value = pump_until(lambda: _item(debug.values, "Inputs", "value"))
    assert value.text(1) == '"typed"'  # inspected: the rendered input

    # edit it in place: double-click the value, type, Enter
    tree = debug.values
    tree.scrollToItem(value)
    cell = tree.visualItemRect(value)
    cell.setLeft(tree.columnViewportPosition(1))
    real.click(tree.viewport(), cell.center(), double=True)
    editor_open = pump_until(lambda: tree.isPersistentEditorOpen(value, 1) or tree.focusWidget())
    assert editor_open
    real.key("ctrl+a")
    real.type("'edited for real'")
    real.key("Return")
    pump_until(lambda: value.text(1) == "'edited for real'")

    # Continue: the pause goes at once; the node runs with the edited value, and the run
    # finishes with it
    real.click(debug.continue_button)
    pump_until(lambda: live.record is not None and live.record.paused_at is None, timeout=40)
    assert not debug.isVisible() and not debug.continue_button.isEnabled()
    assert "paused before" not in live.pane.header.text()
    pump_until(lambda: "continued after" in live.pane.detail.toPlainText(), timeout=40)
    pump_until(lambda: live.record is not None and live.record.finished, timeout=40)
    assert live.record is not None and live.record.status == "succeeded"
    with api_daemon.client() as client:
        run = client.get_run(live.record.run_id).run
        kinds = [e.kind for e in client.run_events(run.id)]
    assert run.outputs == {"echoed": "edited for real"}
    assert "node_paused" in kinds and "node_resumed" in kinds  # the pause is in history


def _answer_modal(real: RealInput, answer: Any) -> list[str]:
    """When a modal message box shows, answer it with real input (``answer(real, box)``)."""
    seen: list[str] = []

    def look() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            QTimer.singleShot(30, look)
            return
        seen.append(box.text())
        answer(real, box)

    QTimer.singleShot(30, look)
    return seen


def _button(box: QMessageBox, text: str) -> QAbstractButton:
    return next(b for b in box.buttons() if b.text() == text)


def test_file_quit_asks_in_a_real_dialog_and_quits(shell: DesktopShell) -> None:
    real = RealInput()
    window = shell.window
    fake = _NoQuit()
    shell.app = fake  # type: ignore[assignment]
    real.focus(window)

    # Ctrl+Q asks; Escape cancels: everything stays
    asked = _answer_modal(real, lambda r, box: (r.focus(box), r.key("Escape")))
    real.key("ctrl+q")
    pump_until(lambda: asked)
    assert "background" in asked[0]
    pump_until(lambda: QApplication.activeModalWidget() is None)
    assert fake.quits == 0 and window.isVisible()

    # Ctrl+Q again, and a click on "Quit, keep it running": the app quits, window and all
    real.focus(window)
    asked = _answer_modal(real, lambda r, box: r.click(_button(box, "Quit, keep it running")))
    real.key("ctrl+q")
    pump_until(lambda: fake.quits == 1)
    assert asked and not window.isVisible()


def test_a_new_schedule_shows_and_follows_the_local_time_zone(
    shell: DesktopShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+Shift+T, then Add…: the form says which zone 'local' is, defaults to it, and
    previews a typed cron in it (a zone far from UTC, so that a UTC default would show)."""
    import time

    import tzlocal

    from app.runs.records import local_time
    from app.trigger_form import TriggerDialog, next_fire_times, parse_trigger

    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    tzlocal.reload_localzone()
    try:
        real = RealInput()
        window = shell.window
        real.focus(window)
        real.key("ctrl+shift+t")
        triggers = window.run_panels.triggers
        pump_until(lambda: triggers.add_button.isVisible() and triggers.add_button.isEnabled())
        seen: dict[str, Any] = {}

        def answer() -> None:
            dialog = QApplication.activeModalWidget()
            if not isinstance(dialog, TriggerDialog) or not dialog.isVisible():
                QTimer.singleShot(30, answer)
                return
            labels = [label.text() for label in dialog.findChildren(QLabel)]
            seen["labels"] = labels
            seen["zone"] = dialog.timezone.currentText()
            real.focus(dialog)
            real.click(dialog.cron)
            pump_until(dialog.cron.hasFocus)
            real.key("ctrl+a", "BackSpace")
            real.type("0 9 * * *")
            pump_until(lambda: dialog.cron.text() == "0 9 * * *")
            seen["preview"] = dialog.preview.text()
            real.key("Escape")

        QTimer.singleShot(30, answer)
        real.click(triggers.add_button)
        pump_until(lambda: "preview" in seen and QApplication.activeModalWidget() is None)
        assert seen["zone"] == "local"
        assert any("Time zone (here: Pacific/Auckland)" in text for text in seen["labels"])
        expected = next_fire_times(parse_trigger({"type": "schedule", "cron": "0 9 * * *"}))
        assert expected and all(local_time(t) in seen["preview"] for t in expected)
        assert all(local_time(t).endswith("09:00:00") for t in expected), "nine, here"
    finally:
        monkeypatch.undo()
        time.tzset()
        tzlocal.reload_localzone()


FITS = """\
deskpilot: 1
name: {name}
nodes:
  match:
    block: data.regex_match
    position: [0, 0]
  read:
    block: file.read
    position: [320, 0]
  click:
    block: image.click
    position: [640, 0]
"""


def _sticking_out(panel: Any) -> list[str]:
    """The property panel's widgets whose right edge is past the panel's visible right edge."""
    viewport = panel.viewport()
    right = viewport.mapToGlobal(QPoint(viewport.width(), 0)).x()
    out = []
    for child in panel.widget().findChildren(QWidget):
        if child.isVisibleTo(panel.widget()) and child.width() > 0:
            edge = child.mapToGlobal(QPoint(child.width(), 0)).x()
            if edge > right + 1:
                out.append(f"{type(child).__name__} {child.objectName()!r} +{edge - right}px")
    return out


def test_the_property_panel_fits_the_default_window_sizes_by_real_input(
    shell: DesktopShell, tmp_path: Path
) -> None:
    """At the window's default sizes (1366x768, and 1440x900 on a 1920x1080 screen) no field
    or button of a form sticks out past the panel: a long check box text wraps instead."""
    real = RealInput()
    window = shell.window
    path = tmp_path / "fits.yaml"
    path.write_text(FITS.format(name=f"e2e-fits-{uuid.uuid4().hex[:6]}"), encoding="utf-8")
    editor = window.open_workflow(path)
    assert editor is not None
    real.focus(window)
    panel = editor.properties
    for width, height in ((1366, 768), (1440, 900)):
        window.resize(width, height)
        pump_until(lambda w=width, h=height: (window.width(), window.height()) == (w, h))
        for node_id in ("match", "read", "click"):
            item = editor.scene.node_items[node_id]
            editor.view.centerOn(item)
            title = item.sceneBoundingRect().topLeft() + QPointF(40, 12)
            real.click(editor.view.viewport(), editor.view.mapFromScene(title))
            pump_until(lambda n=node_id: panel.node_id == n and panel.widget().isVisible())
            pump_until(lambda: _sticking_out(panel) == [], timeout=5)

    # the end of a wrapped check box text is on screen, and a click on it ticks the box
    editor.scene.select_nodes(["match"])
    field = pump_until(lambda: panel.fields.get("multiline"))
    assert isinstance(field, FieldEditor) and isinstance(field.literal, WrappingCheckBox)
    box = field.literal
    assert box.label.height() > box.fontMetrics().lineSpacing(), "the text took two lines"
    panel.ensureWidgetVisible(box)
    line = box.label
    real.click(line, QPoint(line.width() - 12, line.fontMetrics().lineSpacing() // 2))
    pump_until(lambda: editor.document.node_inputs("match").get("multiline") is True)
    editor.undo_stack.setClean()


def test_a_run_paused_from_elsewhere_shows_in_the_free_run_panel_by_real_input(
    shell: DesktopShell, api_daemon: RunningDaemon, tmp_path: Path
) -> None:
    """'deskpilot submit --break' without --wait leaves the pause to the window: with no run
    followed, the run panel follows the paused run as its pause arrives; Continue ends it."""
    real = RealInput()
    window = shell.window
    live = window.run_panels.live
    assert live.record is None
    path = tmp_path / "elsewhere.yaml"
    path.write_text(FLOW.format(name=f"e2e-elsewhere-{uuid.uuid4().hex[:6]}"), encoding="utf-8")
    with api_daemon.client() as client:
        run_id = client.submit(path, breakpoints=["second"], pause_timeout=60).run_id
    debug = live.debug
    pump_until(lambda: live.run_id == run_id and debug.paused, timeout=40)
    assert debug.node_id == "second" and debug.continue_button.isEnabled()
    pump_until(lambda: "paused before second" in live.pane.header.text())
    real.focus(window)
    real.click(debug.continue_button)
    pump_until(lambda: live.record is not None and live.record.finished, timeout=40)
    assert live.record is not None and live.record.status == "succeeded"


def test_preferences_by_real_input_refuse_a_bad_zone_in_place_and_apply_a_good_one(
    shell: DesktopShell,
) -> None:
    """Ctrl+, opens Preferences; a mistyped zone is named under its field while the rows
    below stay where they were, OK stays off; the right zone and a click on OK save it."""
    from app.preferences import load_for
    from app.preferences_dialog import PreferencesDialog

    real = RealInput()
    window = shell.window
    real.focus(window)
    real.key("ctrl+comma")
    dialog = pump_until(lambda: window.findChild(PreferencesDialog))
    assert isinstance(dialog, PreferencesDialog)
    pump_until(dialog.isVisible)
    real.focus(dialog)
    editor = dialog.timezone.lineEdit()
    assert editor is not None
    below = dialog.notify_when.mapToGlobal(QPoint(0, 0))
    real.click(editor)
    pump_until(editor.hasFocus)
    real.key("ctrl+a", "BackSpace")
    real.type("Mars/Base")
    pump_until(lambda: "'Mars/Base' is not a time zone" in dialog.timezone_error.text())
    assert not dialog.ok_button.isEnabled()
    assert dialog.notify_when.mapToGlobal(QPoint(0, 0)) == below
    real.key("ctrl+a", "BackSpace")
    real.type("Europe/Paris")
    pump_until(lambda: dialog.ok_button.isEnabled())
    assert dialog.timezone_error.text() == ""
    assert dialog.notify_when.mapToGlobal(QPoint(0, 0)) == below
    real.click(dialog.ok_button)
    pump_until(lambda: load_for(window.paths).schedule_timezone == "Europe/Paris")
    pump_until(lambda: not any(d.isVisible() for d in window.findChildren(PreferencesDialog)))
