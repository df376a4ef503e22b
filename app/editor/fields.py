"""One form field per block input, its widget chosen by the schema's kind.

| kind            | widget                                   |
|-----------------|------------------------------------------|
| string          | line edit with template completion (multi-line text when the value has newlines) |
| integer, number | spin box (an optional input without a value shows "default") |
| boolean         | check box                                |
| enum            | combo box                                |
| array of strings | list editor: one item a row, each a text or a template (``list_field``) |
| object, array   | JSON text editor                         |
| any / unions    | line edit read as JSON when it parses, else text |

Any input may hold a template instead of a literal: the ``{}`` button swaps
the widget for a template line edit.  Every change is checked at once and
errors are shown under the field, in a line kept for them so the fields below
do not move as an error comes and goes; only values that pass are committed, except
that emptying a field always commits "no value" (the block default applies,
or validation marks the node if the input is required).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QFontDatabase, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.editor.completer import TemplateLineEdit
from app.editor.document import UNSET
from app.editor.list_field import ListEditor
from app.editor.schema import FieldSpec, format_loose, parse_loose
from app.editor.wrapping import WrappingCheckBox
from automation.templates import check_syntax, is_template

_INT_LIMIT = 2**31 - 1


class ErrorLine(QLabel):
    """A field's error on one line of its own, cut with "…" when longer (the tooltip has it all).

    Always one line high, so an error that comes or goes, long or short, moves no
    field below it; ``text()`` keeps the whole message.
    """

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        shown = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.width()
        )
        painter.drawText(
            self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), shown
        )


class CommitTextEdit(QPlainTextEdit):
    """A multi-line editor that reports when the user is done (focus leaves it)."""

    editing_finished = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 (Qt's name)
        super().focusOutEvent(event)
        self.editing_finished.emit()


class _Spin(QDoubleSpinBox):
    """A number box that shows 0.5, not 0.500000."""

    def textFromValue(self, value: float) -> str:  # noqa: N802
        if value == self.minimum() and self.specialValueText():
            return self.specialValueText()
        return f"{value:.6f}".rstrip("0").rstrip(".")


def _each_item_checked(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """``check`` for a list that first checks each item's template syntax, naming the item.

    Each row of a list may be a template; the schema check alone would pass a
    broken ``{{ x`` inside a list as a plain string.
    """

    def checked(value: Any) -> str | None:
        if isinstance(value, list):
            for number, item in enumerate(value, 1):
                if isinstance(item, str) and is_template(item):
                    error = check_syntax(item)
                    if error is not None:
                        return f"item {number}: {error}"
        return check(value)

    return checked


class FieldEditor(QWidget):
    """Edits one input.  Emits ``committed(value)``; the value is ``UNSET`` to clear the input."""

    committed = Signal(object)

    def __init__(
        self,
        spec: FieldSpec,
        value: Any,
        *,
        check: Callable[[Any], str | None],
        candidates: Callable[[], list[str]],
        error_colour: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.spec = spec
        self._check = _each_item_checked(check) if spec.string_list else check
        self._candidates = candidates
        self._value: Any = value
        self._setting = False
        self.setObjectName(f"field_{spec.name}")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(2)
        header = QHBoxLayout()
        header.setSpacing(4)
        star = f" <span style='color:{error_colour}'>*</span>" if spec.required else ""
        self.label = QLabel(spec.label + star)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        tip = spec.description or spec.title
        if spec.required:
            tip += " (required)"
        self.label.setToolTip(tip)
        header.addWidget(self.label, 1)
        self.template_button = QToolButton()
        self.template_button.setText("{}")
        self.template_button.setCheckable(True)
        self.template_button.setToolTip(
            "Use a template ({{ inputs.x }}, {{ nodes.a.b }}) instead of a fixed value"
        )
        self.template_button.setAccessibleName(f"{spec.label}: use a template")
        self.template_button.setVisible(spec.kind != "string")
        header.addWidget(self.template_button)
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setToolTip("Clear: use the block's default")
        self.reset_button.setAccessibleName(f"{spec.label}: clear")
        header.addWidget(self.reset_button)
        layout.addLayout(header)
        self.stack = QStackedWidget()
        self.literal = self._make_literal()
        self.literal.setToolTip(tip)
        self.template = TemplateLineEdit(candidates)
        self.template.setPlaceholderText("{{ inputs.name }}")
        self.template.setToolTip(tip)
        self.stack.addWidget(self.literal)
        self.stack.addWidget(self.template)
        self.stack.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        if isinstance(self.literal, WrappingCheckBox):
            # as tall as its text wraps to at the panel's width (which typing never changes)
            policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            policy.setHeightForWidth(True)
            self.stack.setSizePolicy(policy)
            self.stack.setMinimumHeight(self.template.sizeHint().height())
        else:
            fixed = self.literal.minimumHeight() == self.literal.maximumHeight()
            literal_height = (
                self.literal.minimumHeight() if fixed else self.literal.sizeHint().height()
            )
            self.stack.setFixedHeight(max(literal_height, self.template.sizeHint().height()))
        layout.addWidget(self.stack)
        self.error = ErrorLine()
        self.error.setStyleSheet(f"color: {error_colour};")
        self.error.setVisible(False)
        # hidden but still taking its line: the form does not shift under the pointer
        policy = self.error.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.error.setSizePolicy(policy)
        self.error.setFixedHeight(self.error.fontMetrics().lineSpacing() + 2)
        layout.addWidget(self.error)
        self.template_button.toggled.connect(self._toggle_template)
        self.reset_button.clicked.connect(self._reset)
        self.template.textEdited.connect(lambda _t: self._live(self.template.text()))
        self.template.editingFinished.connect(lambda: self._commit_text(self.template.text()))
        self.set_value(value)

    # -- widgets --------------------------------------------------------------------
    def _make_literal(self) -> QWidget:
        spec = self.spec
        if spec.kind == "string":
            if isinstance(self._value, str) and "\n" in self._value:
                edit = CommitTextEdit()
                edit.setFixedHeight(90)
                edit.setTabChangesFocus(True)
                edit.textChanged.connect(lambda: self._live(edit.toPlainText()))
                edit.editing_finished.connect(lambda: self._commit_text(edit.toPlainText()))
                return edit
            line = TemplateLineEdit(self._candidates)
            if spec.has_default and spec.default not in (None, ""):
                line.setPlaceholderText(str(spec.default))
            line.textEdited.connect(self._live)
            line.editingFinished.connect(lambda: self._commit_text(line.text()))
            return line
        if spec.kind == "integer":
            spin = QSpinBox()
            low = int(spec.minimum) if spec.minimum is not None else -_INT_LIMIT
            high = int(spec.maximum) if spec.maximum is not None else _INT_LIMIT
            if self._optional_without_default():
                low -= 1
                spin.setSpecialValueText("default")
            spin.setRange(low, high)
            spin.valueChanged.connect(self._spin_changed)
            return spin
        if spec.kind == "number":
            number = _Spin()
            number.setDecimals(6)
            low_f = spec.minimum if spec.minimum is not None else -1e12
            high_f = spec.maximum if spec.maximum is not None else 1e12
            if self._optional_without_default():
                low_f -= 1
                number.setSpecialValueText("default")
            number.setRange(low_f, high_f)
            number.valueChanged.connect(self._spin_changed)
            return number
        if spec.kind == "boolean":
            text = spec.description if 0 < len(spec.description) <= 48 else "on"
            box = WrappingCheckBox(text)
            box.toggled.connect(lambda on: self._commit(on))
            return box
        if spec.kind == "enum":
            combo = QComboBox()
            if not spec.required:
                combo.addItem(
                    f"default ({spec.default})" if spec.default is not None else "default", UNSET
                )
            for option in spec.enum:
                combo.addItem(str(option), option)
            combo.activated.connect(lambda index: self._commit(combo.itemData(index)))
            return combo
        if spec.kind == "json" and spec.string_list:
            rows = ListEditor(self._candidates)
            rows.changed.connect(lambda items: self._commit(items if items else UNSET))
            rows.edited.connect(lambda items: self._live_value(items if items else UNSET))
            return rows
        if spec.kind == "json":
            code = CommitTextEdit()
            code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            code.setFixedHeight(64)
            code.setPlaceholderText(
                json.dumps(spec.default)
                if spec.has_default and spec.default is not None
                else 'JSON, e.g. [1, 2] or {"a": 1}'
            )
            code.setTabChangesFocus(True)
            code.textChanged.connect(lambda: self._live(code.toPlainText()))
            code.editing_finished.connect(lambda: self._commit_text(code.toPlainText()))
            return code
        loose = QLineEdit()
        if spec.has_default and spec.default is not None:
            loose.setPlaceholderText(format_loose(spec.default))
        loose.setToolTip("JSON (42, true, [1, 2]) or text")
        loose.textEdited.connect(self._live)
        loose.editingFinished.connect(lambda: self._commit_text(loose.text()))
        return loose

    def _optional_without_default(self) -> bool:
        return not self.spec.required and (not self.spec.has_default or self.spec.default is None)

    # -- values -----------------------------------------------------------------------
    def value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        """Show ``value`` (UNSET: the default) without committing anything."""
        self._value = value
        self._setting = True
        try:
            templated = isinstance(value, str) and is_template(value) and self.spec.kind != "string"
            self.template_button.setChecked(templated)
            self.stack.setCurrentWidget(self.template if templated else self.literal)
            if templated:
                self.template.setText(str(value))
                self.template.setCursorPosition(0)  # a long template shows its start, "{{ ..."
            else:
                self._show_literal(value)
            self.reset_button.setEnabled(value is not UNSET)
        finally:
            self._setting = False
        self.show_error(self._check(value) if value is not UNSET else self._missing())

    def _show_literal(self, value: Any) -> None:
        shown = self.spec.default if value is UNSET else value
        widget = self.literal
        if isinstance(widget, QSpinBox):
            widget.setValue(
                widget.minimum() if shown is None or not isinstance(shown, int) else shown
            )
        elif isinstance(widget, QDoubleSpinBox):
            number = (
                shown if isinstance(shown, int | float) and not isinstance(shown, bool) else None
            )
            widget.setValue(widget.minimum() if number is None else float(number))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(shown))
        elif isinstance(widget, QComboBox):
            index = 0 if value is UNSET and not self.spec.required else widget.findData(value)
            if index < 0 and value is not UNSET:
                widget.addItem(
                    str(value), value
                )  # a value the schema does not list: keep it visible
                index = widget.count() - 1
            widget.setCurrentIndex(
                max(index, 0) if value is not UNSET or not self.spec.required else -1
            )
        elif isinstance(widget, ListEditor):
            if value is UNSET or value is None:
                widget.set_items([])
            else:
                widget.set_items(list(value) if isinstance(value, list) else [value])
        elif isinstance(widget, CommitTextEdit):
            if self.spec.kind == "json":
                widget.setPlainText("" if value is UNSET else json.dumps(value, ensure_ascii=False))
            else:
                widget.setPlainText("" if value is UNSET else str(value))
        elif isinstance(widget, QLineEdit):
            if value is UNSET or value is None and self.spec.kind == "string":
                widget.setText("")
            elif self.spec.kind == "string":
                widget.setText(str(value))
            else:
                widget.setText(format_loose(value))
            widget.setCursorPosition(0)  # a long value shows its start, not its end

    def _missing(self) -> str | None:
        if self.spec.required:
            return "required: enter a value or link an output to this input"
        return None

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))

    def _parse(self, text: str) -> tuple[Any, str | None]:
        """(value, error) for text typed into the current widget."""
        if not text.strip() and self.spec.kind != "string":
            return UNSET, None
        if not text and self.spec.kind == "string":
            return UNSET, None
        if self.stack.currentWidget() is self.template or self.spec.kind == "string":
            return text, None
        if self.spec.kind == "json":
            try:
                return json.loads(text), None
            except ValueError as exc:
                return UNSET, f"not valid JSON: {exc}"
        return parse_loose(text), None

    def _live(self, text: str) -> None:
        if self._setting:
            return
        value, error = self._parse(text)
        if error is None:
            self._live_value(value)
        else:
            self.show_error(error)

    def _live_value(self, value: Any) -> None:
        """Check a value as it is being typed and show what is wrong, without saving it."""
        if self._setting:
            return
        self.show_error(self._check(value) if value is not UNSET else self._missing())

    def _commit_text(self, text: str) -> None:
        if self._setting:
            return
        value, error = self._parse(text)
        if error is not None:
            self.show_error(error)
            return
        self._commit(value)

    def _spin_changed(self, number: float) -> None:
        if self._setting:
            return
        widget = self.literal
        assert isinstance(widget, QSpinBox | QDoubleSpinBox)
        if widget.specialValueText() and number == widget.minimum():
            self._commit(UNSET)
        else:
            self._commit(int(number) if self.spec.kind == "integer" else float(number))

    def _commit(self, value: Any) -> None:
        if self._setting:
            return
        error = self._check(value) if value is not UNSET else self._missing()
        self.show_error(error)
        if error is not None and value is not UNSET:
            return  # an invalid value is shown with its error, never saved
        if value == self._value and type(value) is type(self._value):
            return
        self._value = value
        self.reset_button.setEnabled(value is not UNSET)
        self.committed.emit(value)

    def _toggle_template(self, on: bool) -> None:
        if self._setting:
            return
        self.stack.setCurrentWidget(self.template if on else self.literal)
        if on:
            self.template.setText(self._value if isinstance(self._value, str) else "")
            self.template.setFocus()
        elif isinstance(self._value, str) and is_template(self._value):
            self._commit(UNSET)
            self.set_value(UNSET)

    def _reset(self) -> None:
        self._commit(UNSET)
        self.set_value(UNSET)

    @property
    def is_spin(self) -> bool:
        return isinstance(self.literal, QSpinBox | QDoubleSpinBox)


class LinkedField(QWidget):
    """An input fed by a link: says from where, with a button to unlink."""

    unlink_requested = Signal()

    def __init__(self, spec: FieldSpec, sources: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName(f"field_{spec.name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        label = QLabel(f"{spec.label}  ←  <b>{', '.join(sources)}</b>")
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setToolTip(spec.description)
        layout.addWidget(label, 1)
        button = QToolButton()
        button.setText("Unlink")
        button.setAccessibleName(f"Unlink {spec.label}")
        button.clicked.connect(self.unlink_requested)
        layout.addWidget(button)
