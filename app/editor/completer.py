"""Completion inside ``{{ … }}`` in any text field: inputs, vars, secrets, upstream outputs.

Completion only starts inside an open ``{{`` so that plain text is never
interrupted by a popup.  Ctrl+Space outside braces inserts ``{{  }}`` and
opens the list, so a template can be written without remembering the names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from app.editor.document import WorkflowDocument
from app.editor.pins import block_pins
from automation.blocks.registry import BlockRegistry
from automation.model import DONE_PIN

_WORD = re.compile(r"[A-Za-z_][\w.]*$")


def template_candidates(
    document: WorkflowDocument,
    registry: BlockRegistry,
    node_id: str | None,
    secret_names: Sequence[str] = (),
) -> list[str]:
    """Every name a template in ``node_id`` may read (all nodes when ``node_id`` is None)."""
    names: list[str] = []
    inputs = document.value("inputs")
    if isinstance(inputs, dict):
        names += [f"inputs.{name}" for name in inputs]
    variables = document.value("vars")
    if isinstance(variables, dict):
        names += [f"vars.{name}" for name in variables]
    names += [f"secrets.{name}" for name in sorted(set(secret_names))]
    upstream = document.ancestors(node_id) if node_id is not None else list(document.nodes)
    for other in upstream:
        block = registry.get(str(document.nodes[other]["block"]))
        if block is None:
            continue
        for pin in block_pins(block).outputs:
            if pin.name == DONE_PIN:
                continue
            names.append(f"nodes.{other}.{pin.name}")
            if pin.name == "error":
                names.append(f"nodes.{other}.error.message")
    names += ["run.id", "run.workflow", "run.trigger", "env."]
    return names


class TemplateLineEdit(QLineEdit):
    """A line edit whose completer fills in template names."""

    def __init__(self, candidates: Callable[[], list[str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._candidates = candidates
        self._model = QStringListModel()
        self.completer_ = QCompleter(self._model, self)
        self.completer_.setWidget(self)
        self.completer_.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer_.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer_.activated.connect(self._insert)
        self.textEdited.connect(self._maybe_complete)

    def _prefix(self) -> str | None:
        """The name being typed at the cursor, when the cursor is inside ``{{ … }}``."""
        before = self.text()[: self.cursorPosition()]
        if before.rfind("{{") <= before.rfind("}}"):
            return None
        match = _WORD.search(before)
        return match.group(0) if match else ""

    def _maybe_complete(self, _text: str = "") -> None:
        prefix = self._prefix()
        popup = self.completer_.popup()
        if prefix is None:
            if popup is not None:
                popup.hide()
            return
        self._model.setStringList(self._candidates())
        self.completer_.setCompletionPrefix(prefix)
        if self.completer_.completionCount() == 0:
            if popup is not None:
                popup.hide()
            return
        self.completer_.complete()

    def _insert(self, completion: str) -> None:
        prefix = self._prefix() or ""
        cursor = self.cursorPosition()
        text = self.text()
        start = cursor - len(prefix)
        self.setText(text[:start] + completion + text[cursor:])
        self.setCursorPosition(start + len(completion))
        self.editingFinished.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        popup = self.completer_.popup()
        if popup is not None and popup.isVisible() and event.key() in (
            Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Tab,
        ):  # fmt: skip
            event.ignore()  # the popup handles these
            return
        if (
            event.key() == Qt.Key.Key_Space
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            if self._prefix() is None:
                cursor = self.cursorPosition()
                self.insert("{{  }}")
                self.setCursorPosition(cursor + 3)
            self._maybe_complete()
            return
        super().keyPressEvent(event)
