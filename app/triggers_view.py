"""Schedules and triggers: when each workflow runs next, pausing, editing, circuit breakers.

The list comes from the supervisor (``GET /triggers``): what is really
armed, paused or broken.  Editing, adding and deleting go through
``app.trigger_form`` to the workflow file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from app.preferences import load_for
from app.refresh import RefreshWhileShown
from app.runs.records import human_duration, local_time
from app.supervisor_link import SupervisorLink, run_job
from app.theme import Theme
from app.trigger_form import (
    TriggerDialog,
    change_triggers,
    escape,
    next_fire_times,
    parse_trigger,
    trigger_entries,
)
from automation.errors import DeskpilotError
from supervisor.api.models import BreakerInfo, TriggerInfo

log = logging.getLogger(__name__)

KEY_ROLE = Qt.ItemDataRole.UserRole + 40
REFRESH_MS = 10_000


# -- the view -------------------------------------------------------------------------------


class TriggersView(QWidget):
    """Every trigger the supervisor knows, its next runs, and the circuit breakers."""

    message = Signal(str)
    #: the list was reloaded from the supervisor
    refreshed = Signal()

    def __init__(
        self,
        link: SupervisorLink,
        theme: Theme,
        *,
        editor_for: Callable[[Path], EditorWidget | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.link = link
        self.theme = theme
        self.editor_for = editor_for or (lambda _p: None)
        self.triggers: list[TriggerInfo] = []
        self.breakers: list[BreakerInfo] = []
        self.error = ""
        self.tree = QTreeWidget()
        self.tree.setObjectName("triggers_tree")
        self.tree.setAccessibleName("Triggers")
        self.tree.setHeaderLabels(["Workflow", "Type", "When", "State", "Next run", "Last error"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((150, 80, 300, 110, 150)):
            self.tree.setColumnWidth(column, width)
        self.tree.currentItemChanged.connect(lambda *_a: self._selection_changed())
        self.tree.itemDoubleClicked.connect(lambda *_a: self.edit_selected())
        self.fires = QLabel()
        self.fires.setObjectName("next_fires")
        self.fires.setWordWrap(True)
        self.fires.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.fires.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fires.setMinimumWidth(220)
        self.breaker_tree = QTreeWidget()
        self.breaker_tree.setObjectName("breakers_tree")
        self.breaker_tree.setAccessibleName("Circuit breakers")
        self.breaker_tree.setHeaderLabels(["Workflow", "Breaker", "Failures", "Probe in"])
        self.breaker_tree.setRootIsDecorated(False)
        self.breaker_tree.setMaximumHeight(130)
        self.breaker_tree.setColumnWidth(0, 180)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.edit_button = QPushButton("Edit…")
        self.add_button = QPushButton("Add…")
        self.delete_button = QPushButton("Delete")
        self.pause_all_button = QPushButton("Pause all")
        self.resume_all_button = QPushButton("Resume all")
        self.reset_button = QPushButton("Reset breaker")
        self.reset_button.setToolTip("Close the breaker now: its schedule runs again at once")
        self.refresh_button = QPushButton("Refresh")
        self.pause_button.clicked.connect(lambda _c=False: self.pause_selected())
        self.resume_button.clicked.connect(lambda _c=False: self.resume_selected())
        self.edit_button.clicked.connect(lambda _c=False: self.edit_selected())
        self.add_button.clicked.connect(lambda _c=False: self.add_trigger())
        self.delete_button.clicked.connect(lambda _c=False: self.delete_selected())
        self.pause_all_button.clicked.connect(lambda _c=False: self.pause_all())
        self.resume_all_button.clicked.connect(lambda _c=False: self.resume_all())
        self.reset_button.clicked.connect(lambda _c=False: self.reset_selected_breaker())
        self.refresh_button.clicked.connect(lambda _c=False: self.reload())
        self.breaker_tree.currentItemChanged.connect(lambda *_a: self._selection_changed())
        buttons = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.edit_button, self.add_button,
                       self.delete_button):  # fmt: skip
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.pause_all_button, self.resume_all_button, self.refresh_button):
            buttons.addWidget(button)
        self.status = QLabel()
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.tree)
        top.addWidget(self.fires)
        top.setStretchFactor(0, 1)
        top.setSizes([900, 260])
        breaker_bar = QHBoxLayout()
        breaker_bar.addWidget(QLabel("<b>Circuit breakers</b> — a workflow that keeps failing "
                                     "has its schedule paused until a probe run succeeds"), 1)  # fmt: skip
        breaker_bar.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(buttons)
        layout.addWidget(top, 1)
        layout.addLayout(breaker_bar)
        layout.addWidget(self.breaker_tree)
        layout.addWidget(self.status)
        self._refresh = RefreshWhileShown(self, REFRESH_MS, self.reload)
        link.signals.received.connect(self._event)
        link.signals.connected_changed.connect(self._connected_changed)
        self._selection_changed()

    # -- loading ---------------------------------------------------------------------------
    def _connected_changed(self, _connected: bool) -> None:
        if self.isVisible():
            self.reload()

    def _event(self, item: dict[str, Any]) -> None:
        if item.get("kind") in ("breaker_opened", "breaker_closed") and self.isVisible():
            self.reload()

    def reload(self) -> None:
        if not self.link.connected:
            self.error = "The supervisor is not running: triggers cannot be shown."
            self._show()
            return
        client = self.link.client

        def work() -> tuple[list[TriggerInfo], list[BreakerInfo]]:
            return client.triggers(), client.breakers()

        run_job(work, lambda result: self._loaded(*result), self._failed, owner=self)

    def _loaded(self, triggers: list[TriggerInfo], breakers: list[BreakerInfo]) -> None:
        self.triggers, self.breakers, self.error = triggers, breakers, ""
        self._show()
        self.refreshed.emit()

    def _failed(self, error: Exception) -> None:
        self.error = f"Cannot load the triggers: {error}"
        self._show()

    def _show(self) -> None:
        selected = self.selected_key()
        self.tree.clear()
        for info in self.triggers:
            state = _state(info)
            item = QTreeWidgetItem(
                [
                    info.workflow or "",
                    info.type or "",
                    info.spec or "",
                    state,
                    local_time(info.next_fire_at, seconds=False),
                    (info.last_error or "").splitlines()[0] if info.last_error else "",
                ]
            )
            item.setData(0, KEY_ROLE, info.key)
            if info.last_error:
                item.setForeground(5, _colour(self.theme.error))
                item.setToolTip(5, info.last_error)
            if state != "active":
                item.setForeground(3, _colour(self.theme.warning))
            item.setToolTip(2, info.spec or "")
            self.tree.addTopLevelItem(item)
            if info.key == selected:
                self.tree.setCurrentItem(item)
        breaker_selected = self.selected_breaker()
        self.breaker_tree.clear()
        for breaker in self.breakers:
            probe = "" if breaker.reopens_in is None else human_duration(breaker.reopens_in)
            item = QTreeWidgetItem(
                [breaker.workflow, breaker.state.replace("_", "-"), str(breaker.failures), probe]
            )
            if breaker.state != "closed":
                item.setForeground(1, _colour(self.theme.error))
            self.breaker_tree.addTopLevelItem(item)
            if breaker.workflow == breaker_selected:
                self.breaker_tree.setCurrentItem(item)
        if self.error:
            self.status.setText(
                f"<span style='color:{self.theme.error}'>{escape(self.error)}</span>"
            )
        else:
            count = len(self.triggers)
            self.status.setText(f"{count} trigger{'s' if count != 1 else ''}")
        self._selection_changed()

    # -- selection -------------------------------------------------------------------------
    def selected_key(self) -> str | None:
        item = self.tree.currentItem()
        return str(item.data(0, KEY_ROLE)) if item is not None else None

    def selected(self) -> TriggerInfo | None:
        key = self.selected_key()
        return next((t for t in self.triggers if t.key == key), None)

    def select(self, key: str) -> None:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item is not None and item.data(0, KEY_ROLE) == key:
                self.tree.setCurrentItem(item)
                return

    def selected_breaker(self) -> str | None:
        item = self.breaker_tree.currentItem()
        return item.text(0) if item is not None else None

    def _selection_changed(self) -> None:
        info = self.selected()
        connected = self.link.connected
        self.pause_button.setEnabled(connected and info is not None and not info.paused)
        self.resume_button.setEnabled(connected and info is not None and bool(info.paused))
        for button in (self.edit_button, self.delete_button):
            button.setEnabled(info is not None and self._path(info.workflow) is not None)
        self.add_button.setEnabled(bool(self.link.workflows))
        for button in (self.pause_all_button, self.resume_all_button):
            button.setEnabled(connected and bool(self.triggers))
        breaker = next((b for b in self.breakers if b.workflow == self.selected_breaker()), None)
        self.reset_button.setEnabled(
            connected and breaker is not None and breaker.state != "closed"
        )
        self.fires.setText(self.fires_text(info))

    def fires_text(self, info: TriggerInfo | None) -> str:
        if info is None:
            return ""
        header = f"<b>{escape(info.key)}</b><br>"
        if info.type != "schedule":
            return header + escape(info.spec or "")
        try:
            parse_trigger(dict(info.config or {}))
        except ValueError as exc:
            return header + f"<span style='color:{self.theme.error}'>{escape(exc)}</span>"
        if info.paused or info.enabled is False:
            note = "paused: it will not fire until resumed" if info.paused else "disabled"
            return header + f"<span style='color:{self.theme.warning}'>{note}</span>"
        times = self.fire_times(info)
        if not times:
            return header + "It will not fire again."
        listed = "<br>".join(escape(local_time(t)) for t in times)
        return header + f"Next {len(times)} runs (your local time):<br>{listed}"

    def fire_times(self, info: TriggerInfo) -> list[datetime]:
        try:
            trigger = parse_trigger(dict(info.config or {}))
        except ValueError:
            return []
        return next_fire_times(trigger, first=info.next_fire_at)

    # -- actions ---------------------------------------------------------------------------
    def _call(self, what: str, function: Callable[[], Any]) -> None:
        def done(_result: object) -> None:
            self.message.emit(what)
            self.reload()

        run_job(
            function,
            done,
            lambda error: self.message.emit(f"Cannot do that: {error}"),
            owner=self,
        )

    def pause_selected(self) -> None:
        info = self.selected()
        if info is not None:
            key = info.key
            self._call(f"Paused {key}", lambda: self.link.client.pause_trigger(key))

    def resume_selected(self) -> None:
        info = self.selected()
        if info is not None:
            key = info.key
            self._call(f"Resumed {key}", lambda: self.link.client.resume_trigger(key))

    def pause_all(self) -> None:
        self._call("Paused every trigger", self.link.client.pause_all)

    def resume_all(self) -> None:
        self._call("Resumed every trigger", self.link.client.resume_all)

    def reset_selected_breaker(self) -> None:
        workflow = self.selected_breaker()
        if workflow is not None:
            self._call(
                f"Reset the breaker of {workflow}", lambda: self.link.client.reset_breaker(workflow)
            )

    def _path(self, workflow: str | None) -> Path | None:
        info = self.link.workflows.get(workflow or "")
        return Path(info.path) if info is not None and info.path else None

    def _dialog(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        dialog = TriggerDialog(
            self.theme,
            data,
            workflows=sorted(self.link.workflows),
            secrets=self.link.secret_names(),
            default_timezone=load_for(self.link.paths).schedule_timezone,
            parent=self,
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.result_data

    def edit_selected(self) -> None:
        info = self.selected()
        path = self._path(info.workflow if info else None)
        if info is None or path is None:
            return
        index = int(info.key.rsplit(":", 1)[1])
        current = _current_entry(path, index, self.editor_for(path))
        changed = self._dialog(current if current is not None else dict(info.config or {}))
        if changed is not None:
            self.write(path, lambda triggers: _replace(triggers, index, changed))

    def add_trigger(self) -> None:
        info = self.selected()
        names = sorted(self.link.workflows)
        workflow = (
            info.workflow if info is not None and info.workflow else (names[0] if names else None)
        )
        if workflow is None:
            return
        dialog_data = self._dialog(None)
        if dialog_data is None:
            return
        path = self._path(workflow)
        if path is not None:
            self.write(path, lambda triggers: [*triggers, dialog_data])

    def delete_selected(self) -> None:
        info = self.selected()
        path = self._path(info.workflow if info else None)
        if info is None or path is None:
            return
        answer = QMessageBox.question(
            self, "Delete trigger", f"Remove trigger {info.key} ({info.spec}) from {path.name}?"
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        index = int(info.key.rsplit(":", 1)[1])
        self.write(path, lambda triggers: [t for i, t in enumerate(triggers) if i != index])

    def write(
        self, path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> bool:
        try:
            text = change_triggers(path, change, self.editor_for(path))
        except (DeskpilotError, OSError, IndexError) as exc:
            self.message.emit(f"Cannot change the triggers of {path.name}: {exc}")
            return False
        self.message.emit(text)
        QTimer.singleShot(1500, self.reload)  # the supervisor re-reads the folder
        return True

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._show()


def _replace(
    triggers: list[dict[str, Any]], index: int, data: dict[str, Any]
) -> list[dict[str, Any]]:
    if not 0 <= index < len(triggers):
        raise IndexError(f"the file has no trigger number {index + 1} any more; reload the list")
    return [data if i == index else t for i, t in enumerate(triggers)]


def _current_entry(path: Path, index: int, editor: EditorWidget | None) -> dict[str, Any] | None:
    """The trigger as written in the file (or the open editor), which the dialog starts from."""
    try:
        document = editor.document if editor is not None else WorkflowDocument.open(path)
    except DeskpilotError:
        return None
    triggers = trigger_entries(document)
    return dict(triggers[index]) if 0 <= index < len(triggers) else None


def _state(info: TriggerInfo) -> str:
    if info.enabled is False:
        return "disabled"
    if info.paused:
        return f"paused ({info.paused_reason})" if info.paused_reason else "paused"
    return "active"


def _colour(value: str) -> QColor:
    return QColor(value)
