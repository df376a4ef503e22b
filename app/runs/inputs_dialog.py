"""Ask for a workflow's inputs before a run, one field per declared input.

Fields start from what was typed for the same workflow last time, else the
input's default.  Strings are typed as they are; numbers and booleans get
their own widgets; objects, arrays and untyped inputs are read as YAML (so
``[a, b]`` and ``{k: v}`` work) by ``automation.inputs.read_input_text``, as
the command line reads ``--input``.  Required inputs must be filled in.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.editor.document import WorkflowDocument
from app.theme import Theme
from automation.inputs import read_input_text
from automation.model import InputSpec

#: Last values typed per workflow file, for this session.
_REMEMBERED: dict[str, dict[str, Any]] = {}


def declared_inputs(document: WorkflowDocument) -> dict[str, InputSpec]:
    """The document's inputs; declarations that do not parse are offered as untyped text."""
    raw = document.value("inputs")
    specs: dict[str, InputSpec] = {}
    if not isinstance(raw, dict):
        return specs
    for name, value in raw.items():
        try:
            specs[str(name)] = InputSpec.model_validate(value)
        except ValidationError:
            specs[str(name)] = InputSpec()
    return specs


class InputsDialog(QDialog):
    def __init__(
        self,
        document: WorkflowDocument,
        theme: Theme,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.theme = theme
        self.specs = declared_inputs(document)
        self.setWindowTitle(f"Run {document.name}")
        remembered = _REMEMBERED.get(str(document.path), {})
        self.fields: dict[str, QWidget] = {}
        form = QFormLayout()
        for name, spec in self.specs.items():
            value = remembered.get(name, spec.default)
            field = self._field(spec, value)
            field.setAccessibleName(name)
            field.setToolTip(spec.description or f"{spec.type} input")
            self.fields[name] = field
            label = name + (" *" if spec.required else "")
            form.addRow(label + ":", field)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.values: dict[str, Any] = {}
        self.resize(440, 0)

    def _field(self, spec: InputSpec, value: Any) -> QWidget:
        if spec.type == "boolean":
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if spec.type == "integer":
            spin = QSpinBox()
            spin.setRange(-(2**31), 2**31 - 1)
            spin.setValue(int(value) if isinstance(value, int) else 0)
            return spin
        if spec.type == "number":
            double = QDoubleSpinBox()
            double.setRange(-1e12, 1e12)
            double.setDecimals(6)
            double.setValue(float(value) if isinstance(value, (int, float)) else 0.0)
            return double
        line = QLineEdit()
        if spec.type == "string":
            line.setText("" if value is None else str(value))
        elif value is not None:
            line.setText(yaml.safe_dump(value, default_flow_style=True).strip())
        if spec.description:
            line.setPlaceholderText(spec.description)
        return line

    def collect(self) -> dict[str, Any]:
        """The typed values; ValueError names the input that is wrong."""
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            field = self.fields[name]
            if isinstance(field, QCheckBox):
                values[name] = field.isChecked()
            elif isinstance(field, QSpinBox | QDoubleSpinBox):
                values[name] = field.value()
            elif isinstance(field, QLineEdit):
                text = field.text()
                if text == "":
                    if spec.required:
                        raise ValueError(f"'{name}' is required")
                    continue
                # the one reading of text inputs that 'deskpilot run' and 'submit' use
                values[name] = read_input_text(name, spec, text)
        return values

    def _accept(self) -> None:
        try:
            self.values = self.collect()
        except ValueError as exc:
            self.problem.setText(f"<span style='color:{self.theme.error}'>{exc}</span>")
            return
        _REMEMBERED[str(self.document.path)] = dict(self.values)
        self.accept()


def ask_inputs(
    document: WorkflowDocument, theme: Theme, parent: QWidget | None
) -> dict[str, Any] | None:
    """The inputs to run ``document`` with: {} without a question when it declares none,
    None when the user cancelled."""
    if not declared_inputs(document):
        return {}
    dialog = InputsDialog(document, theme, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.values
