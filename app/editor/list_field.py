"""A list input edited as rows: one item a row, added, removed and moved in place.

Used for inputs that hold a list of strings (``process.run``'s ``args``), which
used to be typed as a shell line.  Each row is a template line edit, so one
item may be ``{{ inputs.path }}`` while the others stay fixed text.

Keyboard: Enter ends the row and opens a new one below it; Delete or Backspace
in an empty row removes it; Alt+Up / Alt+Down move the row; Tab leaves.  The
buttons beside each row do the same for the mouse.

The widget reports a whole list with ``changed`` once per finished edit (a row
left or confirmed, a row removed or moved), so the form turns each into one
undo step.  Empty rows are a place to type, not items: they are left out of
the list, and a list with no items is "no value" (the block default applies).
The widget keeps one fixed height and scrolls its rows, so adding a row never
moves the fields below it under the pointer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.editor.completer import TemplateLineEdit

#: rows shown before the list scrolls
VISIBLE_ROWS = 4


def item_text(item: Any) -> str:
    """How one item reads in its row: text as it is, other values as JSON."""
    if isinstance(item, str):
        return item
    return json.dumps(item, ensure_ascii=False)


class ItemEdit(TemplateLineEdit):
    """One row's text; turns the list's keys into requests to the list."""

    #: the row around this edit (with its buttons), the unit the list lays out
    line: QWidget

    enter_pressed = Signal()
    remove_requested = Signal(bool)  # True: Backspace, focus goes to the row above
    move_requested = Signal(int)  # -1 up, +1 down

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        popup = self.completer_.popup()
        if popup is not None and popup.isVisible():
            super().keyPressEvent(event)
            return
        key = event.key()
        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.editingFinished.emit()
            self.enter_pressed.emit()
            return
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and not self.text():
            self.remove_requested.emit(key == Qt.Key.Key_Backspace)
            return
        if alt and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.move_requested.emit(-1 if key == Qt.Key.Key_Up else 1)
            return
        super().keyPressEvent(event)


class ListEditor(QWidget):
    """Rows of items; ``changed(list)`` after each finished edit, ``edited(list)`` as one types."""

    changed = Signal(list)
    edited = Signal(list)

    def __init__(self, candidates: Callable[[], list[str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._candidates = candidates
        self.rows: list[ItemEdit] = []
        self._committed: list[Any] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        self.area = QScrollArea()
        self.area.setWidgetResizable(True)
        self.area.setFrameShape(QFrame.Shape.StyledPanel)
        self.area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._body = QWidget()
        self._rows_layout = QVBoxLayout(self._body)
        self._rows_layout.setContentsMargins(2, 2, 2, 2)
        self._rows_layout.setSpacing(2)
        self._rows_layout.addStretch(1)
        self.area.setWidget(self._body)
        outer.addWidget(self.area)
        self.add_button = QToolButton()
        self.add_button.setText("+ Add item")
        self.add_button.setToolTip("Add an item at the end (Enter in a row adds one below it)")
        self.add_button.setAccessibleName("Add item")
        self.add_button.clicked.connect(lambda: self.insert_row(len(self.rows)))
        outer.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        probe = TemplateLineEdit(list)
        row_height = probe.sizeHint().height()
        probe.deleteLater()
        self._row_height = row_height
        height = (
            VISIBLE_ROWS * (row_height + 2)
            + 6
            + 2 * self.area.frameWidth()
            + 2
            + self.add_button.sizeHint().height()
        )
        self.setFixedHeight(height)  # the form below never moves as rows come and go
        # nor does its width follow the rows: a scroll bar that comes with the fifth row
        # must not widen the form and rewrap every label above
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.area.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    # -- values ---------------------------------------------------------------------------
    def items(self) -> list[str]:
        """The list the rows say now, empty rows left out.

        Every item is text, as a list of strings wants: a ``1`` written in the
        file becomes ``"1"`` once the list is edited.
        """
        return [row.text() for row in self.rows if row.text()]

    def set_items(self, items: list[Any]) -> None:
        """Show ``items`` as rows, without reporting a change."""
        self._committed = list(items)
        self._rebuild(list(items), focus=None)

    # -- rows -----------------------------------------------------------------------------
    def _rebuild(self, items: list[Any], focus: int | None) -> None:
        had_focus = focus is not None
        while self._rows_layout.count() > 1:
            taken = self._rows_layout.takeAt(0)
            widget = taken.widget() if taken is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.rows = []
        for item in items:
            self._add_row_widget(len(self.rows), item)
        if had_focus and self.rows:
            assert focus is not None
            self._focus_row(max(0, min(focus, len(self.rows) - 1)))

    def _add_row_widget(self, index: int, item: Any) -> ItemEdit:
        line = QWidget()
        layout = QHBoxLayout(line)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        edit = ItemEdit(self._candidates)
        edit.line = line
        edit.setText(item_text(item) if item is not None else "")
        edit.setCursorPosition(0)
        edit.setPlaceholderText("item, or {{ a template }}")
        layout.addWidget(edit, 1)
        buttons = (("↑", "Move up (Alt+Up)", -1), ("↓", "Move down (Alt+Down)", 1))
        for text, tip, step in buttons:
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setAccessibleName(tip.split(" (")[0])
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes row to row
            button.clicked.connect(lambda _c=False, e=edit, s=step: self._move(e, s))
            layout.addWidget(button)
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Remove this item (Delete in an empty row)")
        remove.setAccessibleName("Remove item")
        remove.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        remove.clicked.connect(lambda _c=False, e=edit: self._remove(e, back=False))
        layout.addWidget(remove)
        edit.editingFinished.connect(self._finish)
        edit.textEdited.connect(lambda _t: self.edited.emit(self.items()))
        edit.enter_pressed.connect(lambda e=edit: self.insert_row(self.rows.index(e) + 1))
        edit.remove_requested.connect(lambda back, e=edit: self._remove(e, back=back))
        edit.move_requested.connect(lambda step, e=edit: self._move(e, step))
        self.rows.insert(index, edit)
        self._rows_layout.insertWidget(index, line)
        return edit

    def _focus_row(self, index: int) -> None:
        row = self.rows[index]
        row.setFocus(Qt.FocusReason.OtherFocusReason)
        row.setCursorPosition(len(row.text()))
        # once laid out, scroll the row into the visible part of the list
        QTimer.singleShot(0, lambda r=row: self._ensure_visible(r))

    def _ensure_visible(self, row: ItemEdit) -> None:
        if row in self.rows:
            self.area.ensureWidgetVisible(row.line, 0, 2)

    def insert_row(self, index: int) -> None:
        """Open an empty row at ``index`` and put the cursor in it."""
        self._add_row_widget(index, None)
        self._focus_row(index)

    def _remove(self, edit: ItemEdit, *, back: bool) -> None:
        if edit not in self.rows:
            return
        index = self.rows.index(edit)
        self.rows.pop(index)
        line = edit.line
        self._rows_layout.removeWidget(line)
        line.hide()
        line.deleteLater()
        if self.rows:
            self._focus_row(max(0, index - 1) if back else min(index, len(self.rows) - 1))
        else:
            self.add_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self._finish()

    def _move(self, edit: ItemEdit, step: int) -> None:
        if edit not in self.rows:
            return
        index = self.rows.index(edit)
        target = index + step
        if not 0 <= target < len(self.rows):
            return
        self.rows.pop(index)
        self.rows.insert(target, edit)
        line = edit.line
        self._rows_layout.removeWidget(line)
        self._rows_layout.insertWidget(target, line)
        self._focus_row(target)
        self._finish()

    def _finish(self) -> None:
        items = self.items()
        if items == [item_text(i) for i in self._committed]:
            return  # the same words: a file's `[sleep, 1]` is not rewritten as `[sleep, '1']`
        self._committed = items
        self.changed.emit(items)
