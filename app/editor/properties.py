"""The property panel: the selected node's settings and its inputs, as a generated form.

The panel turns each change into an undoable command through the callbacks
the editor gives it (``push``); it follows the document to stay current when
an edit is undone.  The form is rebuilt only when the selection or the node's
links change: value changes update fields in place so that focus and the
cursor stay where the user is typing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.editor.capture_tools import CaptureController
from app.editor.commands import (
    RemoveItemsCommand,
    RenameNodeCommand,
    SetInputCommand,
    SetNodeKeyCommand,
)
from app.editor.completer import template_candidates
from app.editor.document import (
    UNSET,
    DocumentEvent,
    DocumentReset,
    LinkAdded,
    LinkRemoved,
    NodeChanged,
    NodeRemoved,
    WorkflowDocument,
)
from app.editor.fields import CommitTextEdit, FieldEditor, LinkedField
from app.editor.schema import FieldSpec, check_value, field_specs
from app.theme import Theme
from automation.blocks.registry import BlockRegistry
from automation.durations import parse_duration
from automation.model import RetryPolicy

Push = Callable[[QUndoCommand], None]


def _duration_error(text: str) -> str | None:
    if not text.strip():
        return None
    try:
        parse_duration(text)
    except ValueError as exc:
        return str(exc)
    return None


class PropertyPanel(QScrollArea):
    def __init__(
        self,
        document: WorkflowDocument,
        registry: BlockRegistry,
        theme: Theme,
        push: Push,
        secret_names: Callable[[], Sequence[str]] = lambda: (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.registry = registry
        self.theme = theme
        self.push = push
        self.secret_names = secret_names
        self.node_id: str | None = None
        self.fields: dict[str, FieldEditor | LinkedField] = {}
        self.issues: dict[str, list[str]] = {}
        #: capture a template, pick a point, test a target (desktop blocks only)
        self.capture = CaptureController(document, push, theme, self)
        self.setWidgetResizable(True)
        # The form is as wide as the panel (it wraps rather than widens, and nothing is cut
        # off at the right); the vertical bar is always there, so that a form growing past
        # the panel's height does not narrow it and re-wrap its text under the pointer.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setMinimumWidth(280)
        self.setAccessibleName("Node properties")
        self._show_placeholder("Select a node to edit it.\n\nAdd nodes from the block palette "
                               "(double-click or drag), then drag from an output pin (right) "
                               "to an input pin (left) to link them.")  # fmt: skip
        document.subscribe(self._on_document)

    def detach(self) -> None:
        self.document.unsubscribe(self._on_document)

    # -- what is shown ---------------------------------------------------------------------
    def _show_placeholder(self, text: str) -> None:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        label.setContentsMargins(12, 12, 12, 12)
        label.setStyleSheet(f"color: {self.theme.muted};")
        self.fields = {}
        self.setWidget(label)

    def show_selection(self, node_ids: Sequence[str]) -> None:
        if len(node_ids) == 1:
            self.show_node(node_ids[0])
        elif node_ids:
            self.node_id = None
            self._show_placeholder(
                f"{len(node_ids)} nodes selected.\n\nDelete removes them; Ctrl+C copies them; "
                "arrow keys move them."
            )
        else:
            self.node_id = None
            self._show_placeholder(
                "Select a node to edit it.\n\nAdd nodes from the block palette (double-click, "
                "Enter or drag), then drag from an output pin (right) to an input pin (left) "
                "to link them."
            )

    def set_issues(self, issues: dict[str, list[str]]) -> None:
        self.issues = issues
        if self.node_id is not None and hasattr(self, "_issue_label"):
            self._update_issue_label()

    def show_node(self, node_id: str) -> None:
        self.node_id = node_id
        node = self.document.nodes[node_id]
        block = self.registry.get(str(node["block"]))
        body = QWidget()
        body.setObjectName("properties")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        title = QLabel(f"<b style='font-size:12pt'>{_esc(block.title if block else str(node['block']))}</b>"
                       f"<br><span style='color:{self.theme.muted}'>{_esc(str(node['block']))}"
                       f"{' · ' + block.category if block else ''}</span>")  # fmt: skip
        title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(title)
        if block is None:
            similar = self.registry.similar(str(node["block"]))
            hint = f" Did you mean {', '.join(similar)}?" if similar else ""
            missing = QLabel(f"This block is not installed.{hint}")
            missing.setWordWrap(True)
            missing.setStyleSheet(f"color: {self.theme.error};")
            layout.addWidget(missing)
        else:
            summary = QLabel(_esc(block.summary()))
            summary.setWordWrap(True)
            layout.addWidget(summary)
            notes = []
            if not block.idempotent:
                notes.append("Not idempotent: if a run resumes after a crash during this step, "
                             "the step runs again.")  # fmt: skip
            if block.resources:
                notes.append(f"Needs {', '.join(sorted(block.resources))}: runs one at a time.")
            if notes:
                warn = QLabel("\n".join(notes))
                warn.setWordWrap(True)
                warn.setStyleSheet(f"color: {self.theme.warning};")
                layout.addWidget(warn)
        if block is not None:
            # above the inputs: for image blocks capturing is the first thing to do
            tools = self.capture.tools_for(node_id, block)
            if tools is not None:
                layout.addWidget(tools)
            layout.addWidget(self._inputs_group(node_id, block))
        layout.addWidget(self._retry_group(node_id, node))
        layout.addWidget(self._node_group(node_id, node))
        # the node's problems go last: as they change while the user types, no field moves
        self._issue_label = QLabel()
        self._issue_label.setWordWrap(True)
        self._issue_label.setStyleSheet(f"color: {self.theme.error};")
        self._issue_label.setObjectName("node_issues")
        layout.addWidget(self._issue_label)
        self._update_issue_label()
        layout.addStretch(1)
        self.setWidget(body)

    def _update_issue_label(self) -> None:
        issues = self.issues.get(self.node_id or "", [])
        self._issue_label.setText("\n".join(f"• {issue}" for issue in issues))
        self._issue_label.setVisible(bool(issues))

    def _node_group(self, node_id: str, node: Any) -> QGroupBox:
        group = QGroupBox("Node")
        form = QFormLayout(group)
        self.id_edit = QLineEdit(node_id)
        self.id_edit.setAccessibleName("Node id")
        self.id_edit.setToolTip(
            "Used in links and templates (nodes.<id>.<output>); renaming updates both"
        )
        self.id_error = QLabel()
        self.id_error.setStyleSheet(f"color: {self.theme.error};")
        self.id_error.setVisible(False)
        id_edit = self.id_edit
        id_edit.editingFinished.connect(lambda: self._rename(node_id, id_edit.text().strip()))
        form.addRow("Id", self.id_edit)
        form.addRow("", self.id_error)
        self.title_edit = QLineEdit(str(node.get("title") or ""))
        self.title_edit.setAccessibleName("Node title")
        block = self.registry.get(str(node["block"]))
        self.title_edit.setPlaceholderText(block.title if block else "")
        title_edit = self.title_edit
        title_edit.editingFinished.connect(
            lambda: self._set_key("title", title_edit.text().strip() or UNSET, node_id=node_id)
        )
        form.addRow("Title", self.title_edit)
        self.disabled_box = QCheckBox("Disabled")
        self.disabled_box.setToolTip("A disabled node never runs, nor does what only it feeds")
        self.disabled_box.setChecked(bool(node.get("disabled")))
        self.disabled_box.toggled.connect(
            lambda on: self._set_key("disabled", True if on else UNSET, node_id=node_id)
        )
        form.addRow("", self.disabled_box)
        self.notes_edit = CommitTextEdit(str(node.get("notes") or ""))
        self.notes_edit.setFixedHeight(54)
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setAccessibleName("Node notes")
        notes_edit = self.notes_edit
        notes_edit.editing_finished.connect(
            lambda: self._set_key(
                "notes", notes_edit.toPlainText().strip() or UNSET, node_id=node_id
            )
        )
        form.addRow("Notes", self.notes_edit)
        return group

    def _inputs_group(self, node_id: str, block: Any) -> QGroupBox:
        group = QGroupBox("Inputs")
        layout = QVBoxLayout(group)
        layout.setSpacing(4)
        values = self.document.node_inputs(node_id)
        linked: dict[str, list[str]] = {}
        for link in self.document.links:
            if link.target == node_id:
                linked.setdefault(link.target_pin, []).append(f"{link.source}.{link.source_pin}")
        self.fields = {}
        candidates = lambda: template_candidates(  # noqa: E731
            self.document, self.registry, node_id, self.secret_names()
        )
        for spec in field_specs(block.Input, block.raw_inputs):
            widget: FieldEditor | LinkedField
            if spec.name in linked:
                widget = LinkedField(spec, linked[spec.name])
                widget.unlink_requested.connect(lambda name=spec.name: self._unlink(name))
            else:
                editor = FieldEditor(
                    spec,
                    values.get(spec.name, UNSET),
                    check=_checker(block.Input, spec),
                    candidates=candidates,
                    error_colour=self.theme.error,
                )
                editor.committed.connect(
                    lambda value, e=editor, n=node_id: self._set_input(n, e, value)
                )
                widget = editor
            self.fields[spec.name] = widget
            layout.addWidget(widget)
        if not self.fields:
            layout.addWidget(QLabel("This block has no inputs."))
        return group

    def _retry_group(self, node_id: str, node: Any) -> QGroupBox:
        group = QGroupBox("Retry and timeout")
        form = QFormLayout(group)
        retry = _retry_dict(node.get("retry"))
        self.retry_box = QCheckBox("Retry this node when it fails")
        self.retry_box.setToolTip("Overrides the workflow's default retry policy for this node")
        self.retry_box.setChecked(retry is not None)
        form.addRow(self.retry_box)
        current = RetryPolicy.model_validate(retry or {})
        self.attempts = QSpinBox()
        self.attempts.setRange(1, 1000)
        self.attempts.setValue(current.max_attempts)
        self.attempts.setAccessibleName("Maximum attempts")
        self.attempts.setToolTip("Attempts in all, the first included")
        self.delay = QLineEdit(str((retry or {}).get("delay", "1s")))
        self.delay.setAccessibleName("Retry delay")
        self.delay.setToolTip("Wait before the first retry: 500ms, 2s, 1m…")
        self.multiplier = QDoubleSpinBox()
        self.multiplier.setRange(1.0, 100.0)
        self.multiplier.setDecimals(2)
        self.multiplier.setSingleStep(0.5)
        self.multiplier.setValue(current.multiplier)
        self.multiplier.setAccessibleName("Backoff multiplier")
        self.multiplier.setToolTip("Each wait is this many times the one before")
        self.retry_error = QLabel()
        self.retry_error.setStyleSheet(f"color: {self.theme.error};")
        self.retry_error.setVisible(False)
        form.addRow("Max attempts", self.attempts)
        form.addRow("Delay", self.delay)
        form.addRow("Multiplier", self.multiplier)
        form.addRow("", self.retry_error)
        self.timeout = QLineEdit("" if node.get("timeout") is None else str(node.get("timeout")))
        self.timeout.setPlaceholderText("workflow default")
        self.timeout.setAccessibleName("Timeout")
        self.timeout.setToolTip("Deadline for one attempt: 30s, 5m… (empty: the workflow default)")
        self.timeout_error = QLabel()
        self.timeout_error.setStyleSheet(f"color: {self.theme.error};")
        self.timeout_error.setVisible(False)
        form.addRow("Timeout", self.timeout)
        form.addRow("", self.timeout_error)
        self._retry_enabled(retry is not None)
        self.retry_box.toggled.connect(self._retry_toggled)
        self.attempts.valueChanged.connect(lambda _v: self._retry_changed(merge=True))
        self.multiplier.valueChanged.connect(lambda _v: self._retry_changed(merge=True))
        self.delay.textEdited.connect(lambda t: self._show(self.retry_error, _duration_error(t)))
        self.delay.editingFinished.connect(lambda: self._retry_changed(merge=False))
        self.timeout.textEdited.connect(
            lambda t: self._show(self.timeout_error, _duration_error(t))
        )
        self.timeout.editingFinished.connect(self._timeout_changed)
        return group

    # -- edits -----------------------------------------------------------------------------
    @staticmethod
    def _show(label: QLabel, message: str | None) -> None:
        label.setText(message or "")
        label.setVisible(bool(message))

    def _set_key(
        self, key: str, value: Any, *, merge: bool = False, node_id: str | None = None
    ) -> None:
        # editors pass the node they were built for: a field losing focus while the
        # selection changes must not write into the newly selected node
        target = node_id or self.node_id
        if target is None or target not in self.document.nodes:
            return
        if self.document.nodes[target].get(key, UNSET) == value:
            return
        self.push(SetNodeKeyCommand(self.document, target, key, value, mergeable=merge))

    def _set_input(self, node_id: str, editor: FieldEditor, value: Any) -> None:
        if node_id not in self.document.nodes:
            return
        if self.document.node_inputs(node_id).get(editor.spec.name, UNSET) == value:
            return
        self.push(
            SetInputCommand(
                self.document, node_id, editor.spec.name, value, mergeable=editor.is_spin
            )
        )

    def _unlink(self, name: str) -> None:
        if self.node_id is None:
            return
        links = [lnk for lnk in self.document.links
                 if lnk.target == self.node_id and lnk.target_pin == name]  # fmt: skip
        self.push(RemoveItemsCommand(self.document, links=links))

    def _rename(self, old: str, new: str) -> None:
        if old not in self.document.nodes or old != self.node_id:
            return
        if new == old:
            self._show(self.id_error, None)
            return
        if not self.document.is_valid_node_id(new):
            self._show(self.id_error, "use letters, digits and '_', starting with a letter")
            return
        if new in self.document.nodes:
            self._show(self.id_error, f"there is already a node '{new}'")
            return
        self._show(self.id_error, None)
        self.node_id = new
        self.push(RenameNodeCommand(self.document, old, new))

    def _retry_enabled(self, on: bool) -> None:
        for widget in (self.attempts, self.delay, self.multiplier):
            widget.setEnabled(on)

    def _retry_toggled(self, on: bool) -> None:
        self._retry_enabled(on)
        if on:
            self._retry_changed(merge=False)
        else:
            self._set_key("retry", UNSET)

    def _retry_changed(self, *, merge: bool) -> None:
        if self.node_id is None or not self.retry_box.isChecked():
            return
        error = _duration_error(self.delay.text())
        self._show(self.retry_error, error)
        if error:
            return
        retry = dict(_retry_dict(self.document.nodes[self.node_id].get("retry")) or {})
        retry["max_attempts"] = self.attempts.value()
        if self.delay.text().strip():
            retry["delay"] = _duration_value(self.delay.text().strip())
        else:
            retry.pop("delay", None)
        multiplier = round(self.multiplier.value(), 2)
        retry["multiplier"] = int(multiplier) if multiplier.is_integer() else multiplier
        self._set_key("retry", retry, merge=merge)

    def _timeout_changed(self) -> None:
        text = self.timeout.text().strip()
        error = _duration_error(text)
        self._show(self.timeout_error, error)
        if error is None:
            self._set_key("timeout", _duration_value(text) if text else UNSET)

    # -- following the document ----------------------------------------------------------------
    def _on_document(self, event: DocumentEvent) -> None:
        if self.node_id is None:
            return
        if isinstance(event, NodeRemoved) and event.node_id == self.node_id:
            self.show_selection([])
        elif isinstance(event, DocumentReset):
            if self.node_id in self.document.nodes:
                self.show_node(self.node_id)
            else:
                self.show_selection([])
        elif isinstance(event, LinkAdded | LinkRemoved) and event.link.target == self.node_id:
            self.show_node(self.node_id)
        elif isinstance(event, NodeChanged) and event.node_id == self.node_id:
            self._refresh_values(event.key)

    def _refresh_values(self, key: str) -> None:
        assert self.node_id is not None
        node = self.document.nodes[self.node_id]
        if key == "with":
            values = self.document.node_inputs(self.node_id)
            for name, widget in self.fields.items():
                if isinstance(widget, FieldEditor):
                    value = values.get(name, UNSET)
                    if value != widget.value() or type(value) is not type(widget.value()):
                        widget.set_value(value)
        elif key in ("retry", "timeout", "title", "disabled", "notes"):
            # rebuilt from the document; the edit came from this panel or from undo
            if key == "title" and self.title_edit.text() != str(node.get("title") or ""):
                self.title_edit.setText(str(node.get("title") or ""))
            elif key == "disabled":
                self.disabled_box.blockSignals(True)
                self.disabled_box.setChecked(bool(node.get("disabled")))
                self.disabled_box.blockSignals(False)
            elif key == "notes" and self.notes_edit.toPlainText().strip() != str(
                node.get("notes") or ""
            ):
                self.notes_edit.setPlainText(str(node.get("notes") or ""))
            elif key == "timeout":
                shown = "" if node.get("timeout") is None else str(node.get("timeout"))
                if self.timeout.text().strip() != shown:
                    self.timeout.setText(shown)
            elif key == "retry":
                self._refresh_retry(node.get("retry"))

    def _refresh_retry(self, raw: Any) -> None:
        retry = _retry_dict(raw)
        widgets = (self.retry_box, self.attempts, self.multiplier)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.retry_box.setChecked(retry is not None)
            self._retry_enabled(retry is not None)
            try:
                current = RetryPolicy.model_validate(retry or {})
            except ValueError:
                return
            self.attempts.setValue(current.max_attempts)
            self.multiplier.setValue(current.multiplier)
            delay = str((retry or {}).get("delay", "1s"))
            if self.delay.text() != delay:
                self.delay.setText(delay)
        finally:
            for widget in widgets:
                widget.blockSignals(False)


def _checker(model: type[BaseModel], spec: FieldSpec) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return check_value(model, spec, value)

    return check


def _retry_dict(raw: Any) -> dict[str, Any] | None:
    """A node's ``retry`` as a mapping (``retry: 3`` is short for ``{max_attempts: 3}``)."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return {"max_attempts": raw}
    return dict(raw) if isinstance(raw, dict) else None


def _duration_value(text: str) -> Any:
    """Keep what the user wrote ('500ms'); a bare number becomes a number, as in files."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
