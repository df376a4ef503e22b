"""The "Screen" section of the property panel: capture a template, pick a point, test a target.

``CaptureController`` belongs to the property panel and outlives the forms it
rebuilds; it runs one capture or test at a time:

1. the editor's window hides, so that what is behind it can be captured,
   and after ``settle_ms`` (time for the other windows to repaint) the
   whole desktop is grabbed with the blocks' grabber;
2. a capture shows the frozen screenshot in a ``CaptureOverlay``; a test
   searches it on a worker thread (see ``target_dialog``);
3. the window comes back; a capture becomes one undoable edit of the node
   (a ``MacroCommand`` of ``SetInputCommand``), a test opens its dialog.

A captured template is saved before the edit is pushed and is left on disk
when the edit is undone: redo needs it, and a file that other workflows may
use is never deleted behind the user's back.  The grab itself (mss, a few
milliseconds) runs on the GUI thread; only the search, which can take a
hundred milliseconds or, with OCR, seconds, goes to the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QUndoCommand
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.editor import target_test
from app.editor.capture import (
    CaptureError,
    CaptureSupport,
    PointFields,
    Shot,
    capture_support,
    check_region,
    image_edit,
    point_edit,
    position_edit,
    relative_path,
    save_template,
)
from app.editor.capture_overlay import CaptureOverlay, Mode
from app.editor.commands import MacroCommand, SetInputCommand
from app.editor.document import WorkflowDocument
from app.editor.target_dialog import TargetTestDialog, TargetTestJob
from app.editor.target_test import TargetTestResult
from app.theme import Theme
from automation.blocks.base import Block
from automation.blocks.desktop import matching
from automation.blocks.desktop.display import Box
from automation.errors import DeskpilotError

log = logging.getLogger(__name__)

Push = Callable[[QUndoCommand], None]
#: Time for the windows behind the editor to repaint after it hides.
SETTLE_MS = 300
#: After that, grabs repeat this often until what the hidden windows covered holds still...
POLL_MS = 50
#: ...for this long (and is not a uniform black: the X server's "not painted yet")...
STABLE_MS = 200
#: ...or until this much time has passed, when the grab is taken as it is.
SETTLE_LIMIT_MS = 2000


class CaptureController(QObject):
    """Runs the capture helpers for the property panel; ``message`` says how it went."""

    #: (node id, text, is error)
    message = Signal(str, str, bool)
    busy_changed = Signal(bool)
    #: a test finished (its dialog is open); for tests and the status bar
    tested = Signal(object)

    def __init__(
        self, document: WorkflowDocument, push: Push, theme: Theme, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.push = push
        self.theme = theme
        self.panel = parent
        self.settle_ms = SETTLE_MS
        #: hide the editor's window while grabbing (off when there is nothing to uncover)
        self.hide_window = True
        self.overlay: CaptureOverlay | None = None
        self.dialog: TargetTestDialog | None = None
        self._job: TargetTestJob | None = None
        self._hidden: QWidget | None = None
        self._hidden_others: list[QWidget] = []
        #: where the hidden windows were: the area to watch being repainted
        self._covered: list[Box] = []
        self._last_test: tuple[str, type[Block[Any]]] | None = None
        self.busy = False
        #: the node the current or last action was for, and what it said (forms are rebuilt)
        self._node_id = ""
        self.last_message: tuple[str, str, bool] | None = None

    # -- the panel section -----------------------------------------------------------------
    def tools_for(self, node_id: str, block: type[Block[Any]]) -> CaptureTools | None:
        support = capture_support(block.Input)
        if not support:
            return None
        linked = {link.target_pin for link in self.document.links if link.target == node_id}
        return CaptureTools(self, node_id, block, support, linked)

    # -- entry points (buttons) ----------------------------------------------------------------
    def capture_image(self, node_id: str, block: type[Block[Any]]) -> None:
        support = capture_support(block.Input)
        if self.busy or not support.can_capture:
            return
        self._node_id = node_id
        if self.document.path is None:
            self._say(
                "Save the workflow first: captured images are saved in an 'images' folder "
                "next to the workflow file.",
                error=True,
            )
            return
        try:  # refuse a templated target before the user selects anything
            image_edit(support, self.document.node_inputs(node_id), "x.png", Box(0, 0, 1, 1))
        except CaptureError as exc:
            self._say(str(exc), error=True)
            return
        self._with_screen(lambda shot: self._open_overlay(node_id, block, shot, "region", None))

    def pick_point(self, node_id: str, block: type[Block[Any]], fields: PointFields | None) -> None:
        """Pick into ``fields`` (x/y inputs), or with None into the target's position anchor."""
        support = capture_support(block.Input)
        if self.busy:
            return
        self._node_id = node_id
        if fields is None:
            try:
                position_edit(support, self.document.node_inputs(node_id), 0, 0)
            except CaptureError as exc:
                self._say(str(exc), error=True)
                return
        self._with_screen(lambda shot: self._open_overlay(node_id, block, shot, "point", fields))

    def test_target(self, node_id: str, block: type[Block[Any]]) -> None:
        if self.busy:
            return
        self._node_id = node_id
        support = capture_support(block.Input)
        linked = {link.target_pin for link in self.document.links if link.target == node_id}
        try:
            test = target_test.prepare(
                block,
                support,
                node_id,
                self.document.node_inputs(node_id),
                self.document.path,
                linked,
            )
        except CaptureError as exc:
            self._say(f"Cannot test: {exc}", error=True)
            return
        self._last_test = (node_id, block)
        self._set_busy(True)
        QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self._hide()

        def start() -> None:
            job = TargetTestJob(test)
            job.signals.finished.connect(self._tested)
            self._job = job
            QThreadPool.globalInstance().start(job)

        QTimer.singleShot(self._settle(), start)

    # -- screen and window -----------------------------------------------------------------
    def _settle(self) -> int:
        return self.settle_ms if self._hidden is not None else 0

    def _hide(self) -> None:
        """Hide every Deskpilot window (the editor, floating docks, dialogs), not only this one.

        Without a compositor the X server keeps nothing of what they covered: the
        windows behind repaint it when they get round to it, which is why grabs
        wait for that area to hold still (``_grab_when_settled``).
        """
        window = self.panel.window()
        if not self.hide_window or not window.isVisible():
            return
        others = [
            w
            for w in QApplication.topLevelWidgets()
            if w.isVisible() and w.isWindow() and w is not window and not w.isHidden()
        ]
        self._covered = [
            Box(r.x(), r.y(), r.width(), r.height())
            for r in (w.frameGeometry() for w in (window, *others))
            if r.width() > 0 and r.height() > 0
        ]
        for widget in (*others, window):
            widget.hide()
        self._hidden = window
        self._hidden_others = others

    def _restore(self) -> None:
        window, self._hidden = self._hidden, None
        others, self._hidden_others = self._hidden_others, []
        for widget in others:
            if shiboken6.isValid(widget):
                widget.show()
        if window is not None and shiboken6.isValid(window):
            window.show()
            window.raise_()
            window.activateWindow()

    def _grab_when_settled(self, then: Callable[[Shot], None]) -> None:
        """Grab once what the hidden windows covered has been repainted, or at the limit."""
        started = time.monotonic()
        history: list[tuple[float, list[Any]]] = []

        def attempt() -> None:
            try:
                shot = Shot.take()
            except DeskpilotError as exc:  # no display, or it refused us: its message says so
                self._finish(str(exc)[:1].upper() + str(exc)[1:], error=True)
                return
            except Exception as exc:  # mss reports a failed grab with its own errors
                log.warning("screen grab failed", exc_info=True)
                self._finish(f"Cannot capture the screen: {exc}", error=True)
                return
            now = time.monotonic()
            areas = [_area(shot, box) for box in self._covered]
            if history and not _same(history[-1][1], areas):
                history.clear()
            history.append((now, areas))
            held = (now - history[0][0]) * 1000 >= STABLE_MS
            painted = not any(_unpainted(a) for a in areas)
            if (held and painted) or (now - started) * 1000 >= SETTLE_LIMIT_MS or not areas:
                then(shot)
                return
            QTimer.singleShot(POLL_MS, attempt)

        attempt()

    def _with_screen(self, then: Callable[[Shot], None]) -> None:
        self._set_busy(True)
        self._hide()

        def grab() -> None:
            if self._hidden is None:  # nothing was hidden: nothing to wait for
                self._covered = []
            self._grab_when_settled(then)

        QTimer.singleShot(self._settle(), grab)

    def _finish(self, text: str, *, error: bool = False) -> None:
        if self.overlay is not None:
            self.overlay.deleteLater()
            self.overlay = None
        self._restore()
        self._set_busy(False)
        if text:
            self._say(text, error=error)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busy_changed.emit(busy)

    def _say(self, text: str, *, error: bool = False) -> None:
        (log.info if not error else log.warning)("capture: %s", text)
        self.last_message = (self._node_id, text, error)
        self.message.emit(self._node_id, text, error)

    # -- the overlay -------------------------------------------------------------------------
    def _open_overlay(
        self,
        node_id: str,
        block: type[Block[Any]],
        shot: Shot,
        mode: Mode,
        fields: PointFields | None,
    ) -> None:
        title = block.title or block.id

        def check(box: Box) -> str | None:
            problem = check_region(box)
            if problem is None:
                try:
                    matching.check_template(shot.crop(box))
                except matching.TemplateTooUniform as exc:
                    problem = str(exc)
            return f"Refused: {problem}." if problem else None

        if mode == "region":
            hint = (
                f"Capture a template for '{node_id}' ({title}): drag around it, release or "
                "Enter to keep it, Esc to cancel."
            )
            overlay = CaptureOverlay(shot, "region", hint=hint, validate=check)
            overlay.region_chosen.connect(lambda box: self._captured(node_id, block, shot, box))
        else:
            where = f"{fields.x}/{fields.y}" if fields is not None else "the position anchor"
            hint = (
                f"Pick {where} for '{node_id}' ({title}): click it, or move with the arrow "
                "keys and press Enter. Esc cancels."
            )
            overlay = CaptureOverlay(shot, "point", hint=hint)
            overlay.point_chosen.connect(
                lambda x, y: self._picked(node_id, block, shot, fields, x, y)
            )
        overlay.cancelled.connect(lambda: self._finish("Capture cancelled."))
        self.overlay = overlay
        overlay.start()

    def _captured(self, node_id: str, block: type[Block[Any]], shot: Shot, box: Box) -> None:
        if node_id not in self.document.nodes:
            self._finish(f"Node '{node_id}' was removed during the capture.", error=True)
            return
        path = self.document.path
        if path is None:
            self._finish("Save the workflow first.", error=True)
            return
        support = capture_support(block.Input)
        try:
            saved = save_template(path.parent, node_id, shot.crop(box))
            name = relative_path(saved, path.parent)
            edit = image_edit(support, self.document.node_inputs(node_id), name, shot.origin)
        except CaptureError as exc:
            self._finish(str(exc), error=True)
            return
        self._apply(node_id, edit, f"Capture image for '{node_id}'")
        where = (
            f"{support.target} (first image anchor)"
            if support.target is not None and support.target in edit
            else next(iter(edit))
        )
        self._finish(f"Saved {name} ({box.width} × {box.height}) and set it as {where}.")

    def _picked(
        self,
        node_id: str,
        block: type[Block[Any]],
        shot: Shot,
        fields: PointFields | None,
        x: int,
        y: int,
    ) -> None:
        if node_id not in self.document.nodes:
            self._finish(f"Node '{node_id}' was removed during the capture.", error=True)
            return
        support = capture_support(block.Input)
        try:
            if fields is None:
                edit = position_edit(support, self.document.node_inputs(node_id), x, y)
                text = f"Position anchor set to ({x}, {y})."
            else:
                inputs = self.document.node_inputs(node_id)
                edit = point_edit(support, inputs, fields, x, y, shot.rgb(x, y))
                text = f"{fields.x}, {fields.y} set to {x}, {y}."
                if support.relative is not None and support.relative in edit:
                    text += f" {support.relative} is off: the picked point is absolute."
        except CaptureError as exc:
            self._finish(str(exc), error=True)
            return
        self._apply(node_id, edit, f"Pick point for '{node_id}'")
        self._finish(text)

    def _apply(self, node_id: str, edit: Mapping[str, Any], text: str) -> None:
        steps = [
            SetInputCommand(self.document, node_id, name, value) for name, value in edit.items()
        ]
        self.push(MacroCommand(text, steps))

    # -- the test ----------------------------------------------------------------------------
    def _tested(self, result: TargetTestResult) -> None:
        self._job = None
        QGuiApplication.restoreOverrideCursor()
        self._restore()
        self._set_busy(False)
        self._say(result.summary(), error=not result.found)
        parent = self.panel.window() if shiboken6.isValid(self.panel) else None
        if self.dialog is not None and shiboken6.isValid(self.dialog) and self.dialog.isVisible():
            self.dialog.show_result(result)
        else:
            self.dialog = TargetTestDialog(result, self.theme, parent)
            self.dialog.retest_requested.connect(self._retest)
            self.dialog.show()
        self.dialog.raise_()
        self.tested.emit(result)

    def _retest(self) -> None:
        if self._last_test is None:
            return
        node_id, block = self._last_test
        if node_id not in self.document.nodes:
            self._say(f"Node '{node_id}' is gone.", error=True)
            return
        self.test_target(node_id, block)


class CaptureTools(QGroupBox):
    """The buttons for one node; built by ``CaptureController.tools_for``."""

    def __init__(
        self,
        controller: CaptureController,
        node_id: str,
        block: type[Block[Any]],
        support: CaptureSupport,
        linked: set[str],
    ) -> None:
        super().__init__("Screen")
        self.setObjectName("capture_tools")
        self.controller = controller
        self.node_id = node_id
        self._layout = layout = QVBoxLayout(self)
        layout.setSpacing(4)
        self.buttons: dict[str, QPushButton] = {}
        image_pin = support.target if support.target is not None else support.image
        if support.can_capture:
            self._button(
                "capture_image",
                "Capture image…",
                "Select a region of the screen as this node's template; it is saved in "
                "'images' next to the workflow. The editor hides while you select.",
                lambda: controller.capture_image(node_id, block),
                blocked=image_pin if image_pin in linked else None,
            )
        if support.target is not None:
            self._button(
                "pick_position",
                "Pick position…",
                "Click a point on the screen: it becomes the target's last-resort position "
                "anchor, used when no image or text anchor is found",
                lambda: controller.pick_point(node_id, block, None),
                blocked=support.target if support.target in linked else None,
            )
        for fields in support.points:
            self._button(
                f"pick_{fields.x}",
                f"Pick {fields.label}…",
                f"Click a point on the screen to set {fields.x} and {fields.y}"
                + (f" (and {fields.colour} to its colour)" if fields.colour else ""),
                partial(controller.pick_point, node_id, block, fields),
                blocked=next((n for n in (fields.x, fields.y) if n in linked), None),
            )
        if support.can_test:
            self._button(
                "test_target",
                "Test target",
                "Look for the target on the screen now, as the block would, without running "
                "the workflow; shows where it matched, the score and the time taken",
                lambda: controller.test_target(node_id, block),
                blocked=image_pin if image_pin in linked else None,
            )
        self.message = QLabel()
        self.message.setObjectName("capture_message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setVisible(False)
        layout.addWidget(self.message)
        if controller.last_message is not None:
            self._show_message(*controller.last_message)
        controller.message.connect(self._show_message)
        controller.busy_changed.connect(self._busy)
        self._busy(controller.busy)

    def _button(
        self,
        name: str,
        text: str,
        tip: str,
        action: Callable[[], None],
        *,
        blocked: str | None,
    ) -> None:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.rstrip("…"))
        if blocked is not None:
            tip = f"'{blocked}' comes from a link, so there is nothing to set or test here"
            button.setProperty("blocked", True)
        button.setToolTip(tip)
        button.clicked.connect(action)
        self.buttons[name] = button
        self._layout.addWidget(button)

    def _busy(self, busy: bool) -> None:
        if not shiboken6.isValid(self):
            return
        for button in self.buttons.values():
            button.setEnabled(not busy and not button.property("blocked"))

    def _show_message(self, node_id: str, text: str, error: bool) -> None:
        if not shiboken6.isValid(self) or node_id != self.node_id:
            return
        colour = self.controller.theme.error if error else self.controller.theme.muted
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(text)
        self.message.setVisible(bool(text))


def _area(shot: Shot, box: Box) -> Any:
    """The pixels of ``box`` inside the shot (clipped to it), or None if it lies outside."""
    x0, y0 = max(box.x, shot.origin.x), max(box.y, shot.origin.y)
    x1 = min(box.x + box.width, shot.origin.x + shot.origin.width)
    y1 = min(box.y + box.height, shot.origin.y + shot.origin.height)
    if x1 <= x0 or y1 <= y0:
        return None
    return shot.crop(Box(x0, y0, x1 - x0, y1 - y0))


def _same(before: list[Any], now: list[Any]) -> bool:
    import numpy as np

    return len(before) == len(now) and all(
        (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
        for a, b in zip(before, now, strict=True)
    )


def _unpainted(area: Any) -> bool:
    """A uniform black area: what an X server without backing store shows before a repaint."""
    return area is not None and area.size > 0 and int(area.max()) == 0
