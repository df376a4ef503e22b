"""The step debugger's panel in the run view: Continue / Step / Stop and the paused values.

When the followed run pauses before a node (a ``node_paused`` event, or
``GET /runs/{id}/debug`` for a run opened mid-pause) the panel shows where,
why, and the values the node is about to run with: its rendered inputs, the
values on its pins and the run's variables.  Inputs and variables are
editable (typed as YAML: ``3``, ``true``, ``[1, 2]``, ``'text'``); what was
changed goes with the next command, so the node runs with it.  Everything
goes through the supervisor's API client, on a pool thread.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.resources import icon as load_icon
from app.supervisor_link import SupervisorLink, run_job

log = logging.getLogger(__name__)

DebugActionName = Literal["continue", "step", "abort"]

#: Sections of the values tree, and whether their values may be edited.
SECTIONS = (("inputs", "Inputs", True), ("pins", "Pins", False), ("vars", "Vars", True))
_ROLE_ORIGINAL = Qt.ItemDataRole.UserRole + 1


class DebugPanel(QWidget):
    """Where a paused run is and what it holds; sends continue, step or stop with edits."""

    #: a sentence for the status bar
    message = Signal(str)
    #: a pause is shown (the run panels give the values room)
    pause_shown = Signal()

    def __init__(self, link: SupervisorLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("debug_panel")
        self.link = link
        self.run_id: str | None = None
        self.node_id: str | None = None
        self.step: Any = None
        self._left: float | None = None
        self.where = QLabel()
        self.where.setObjectName("debug_where")
        self.where.setTextFormat(Qt.TextFormat.PlainText)
        self.continue_button = self._tool(
            "Continue", "Run on to the next breakpoint (F8)", "continue"
        )
        self.step_button = self._tool(
            "Step", "Run this node and pause before the next (F10)", "step"
        )
        self.stop_button = self._tool("Stop", "Cancel the run here", "stop")
        self.continue_button.clicked.connect(lambda _c=False: self.send("continue"))
        self.step_button.clicked.connect(lambda _c=False: self.send("step"))
        self.stop_button.clicked.connect(lambda _c=False: self.send("abort"))
        QShortcut(QKeySequence("F8"), self, lambda: self.send("continue"))
        QShortcut(QKeySequence("F10"), self, lambda: self.send("step"))
        self.values = QTreeWidget()
        self.values.setObjectName("debug_values")
        self.values.setAccessibleName("Paused values")
        self.values.setColumnCount(2)
        self.values.setHeaderLabels(["Name", "Value"])
        self.values.setColumnWidth(0, 130)
        self.values.setToolTip(
            "Double-click an input or a var to edit it (YAML: 3, true, [1, 2], 'text'); "
            "Continue or Step runs the node with it"
        )
        self.values.setUniformRowHeights(True)
        self.where.setWordWrap(True)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        for button in (self.continue_button, self.step_button, self.stop_button):
            bar.addWidget(button)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.where)
        layout.addWidget(self.values, 1)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._tick)
        self.clear()

    def _tool(self, text: str, tip: str, icon: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setIcon(load_icon(icon))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setAccessibleName(text)
        return button

    # -- showing a pause ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.node_id is not None

    def show_pause(self, run_id: str, pause: dict[str, Any]) -> None:
        """Show a pause: a ``node_paused`` event, or the API's debug state of a paused run."""
        self.run_id = run_id
        self.node_id = str(pause.get("node_id"))
        reason = pause.get("reason") or "breakpoint"
        step = self.step = pause.get("step")
        left = pause.get("seconds_left", pause.get("timeout"))
        self._left = float(left) if isinstance(left, int | float) else None
        self._where_text = f"Paused before '{self.node_id}' (step {step}, {reason})"
        self._tick()
        self.pause_shown.emit()
        self.values.clear()
        for key, title, editable in SECTIONS:
            values = pause.get(key) or {}
            section = QTreeWidgetItem([title, "" if values else "(none)"])
            section.setFirstColumnSpanned(bool(values))
            self.values.addTopLevelItem(section)
            for name, value in values.items():
                text = _text(value)
                item = QTreeWidgetItem([name, text])
                item.setData(1, _ROLE_ORIGINAL, text)
                item.setData(0, Qt.ItemDataRole.UserRole, key)
                if editable:
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(1, text if len(text) < 2000 else text[:2000] + "…")
                section.addChild(item)
            section.setExpanded(True)
        for button in (self.continue_button, self.step_button, self.stop_button):
            button.setEnabled(True)
        self._countdown.start()
        self.show()

    def clear(self) -> None:
        """Not paused (the run went on, or another run is followed)."""
        self.node_id = None
        self._left = None
        self._countdown.stop()
        self.values.clear()
        self.where.setText("")
        for button in (self.continue_button, self.step_button, self.stop_button):
            button.setEnabled(False)
        self.hide()

    def _tick(self) -> None:
        text = getattr(self, "_where_text", "")
        if self._left is not None:
            minutes, seconds = divmod(max(0, int(self._left)), 60)
            text += f"; continues by itself in {minutes}:{seconds:02d}"
            self._left -= 1
        self.where.setText(text)

    def refresh(self, run_id: str) -> None:
        """Ask the supervisor whether ``run_id`` is paused now (a run opened mid-pause)."""
        client = self.link.client

        def shown(state: Any) -> None:
            if state.paused and state.run_id == run_id:
                self.show_pause(run_id, state.model_dump())

        run_job(lambda: client.debug_state(run_id), shown, lambda _e: None, owner=self)

    # -- edits and commands ------------------------------------------------------------------
    def edits(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(inputs, vars) the user changed, read as YAML; raises ValueError naming the bad one."""
        import yaml

        changed: dict[str, dict[str, Any]] = {"inputs": {}, "vars": {}}
        for index in range(self.values.topLevelItemCount()):
            section = self.values.topLevelItem(index)
            if section is None:
                continue
            for row in range(section.childCount()):
                item = section.child(row)
                if item is None:
                    continue
                scope = item.data(0, Qt.ItemDataRole.UserRole)
                text = item.text(1)
                if scope not in changed or text == item.data(1, _ROLE_ORIGINAL):
                    continue
                try:
                    changed[scope][item.text(0)] = yaml.safe_load(text) if text.strip() else ""
                except yaml.YAMLError as exc:
                    raise ValueError(
                        f"{scope}.{item.text(0)}: cannot read {text!r}: {exc}"
                    ) from None
        return changed["inputs"], changed["vars"]

    def send(self, action: DebugActionName) -> None:
        """Continue, step or abort the paused run, with the edited values."""
        run_id = self.run_id
        if not self.paused or run_id is None:
            return
        try:
            inputs, variables = self.edits()
        except ValueError as exc:
            self.message.emit(f"Cannot {action}: {exc}")
            return
        for button in (self.continue_button, self.step_button, self.stop_button):
            button.setEnabled(False)
        client = self.link.client
        node, step = self.node_id, self.step
        run_job(
            lambda: client.debug(run_id, action, inputs=inputs, variables=variables),
            lambda _state: self._sent(action, (node, step), inputs, variables),
            self._send_failed,
            owner=self,
        )

    def _sent(
        self,
        action: str,
        where: tuple[str | None, Any],
        inputs: dict[str, Any],
        variables: dict[str, Any],
    ) -> None:
        node = where[0]
        edited = [f"inputs.{n}" for n in inputs] + [f"vars.{n}" for n in variables]
        verb = {"continue": "Continued", "step": "Stepped", "abort": "Stopped"}.get(action, action)
        self.message.emit(
            f"{verb} at '{node}'" + (f" with {', '.join(edited)} edited" if edited else "")
        )
        if where == (self.node_id, self.step):  # not a pause that came since
            self.clear()

    def _send_failed(self, error: Exception) -> None:
        self.message.emit(f"Debugger: {error}")
        for button in (self.continue_button, self.step_button, self.stop_button):
            button.setEnabled(self.paused)


def _text(value: Any) -> str:
    """A value as the user edits it: JSON, which YAML reads back as the same value."""
    return json.dumps(value, ensure_ascii=False, default=str)
