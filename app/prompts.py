"""The questions the main window asks the user, behind one small class.

Modal dialogs block a test, so the window asks through a ``Prompts`` object;
end-to-end tests drive the real dialogs, unit tests pass a ``Prompts`` whose
answers are decided in advance.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QWidget,
)

WORKFLOW_FILTER = "Workflows (*.yaml *.yml *.json)"


class Prompts:
    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent

    def ask_text(self, title: str, label: str, default: str = "") -> str | None:
        text, ok = QInputDialog.getText(
            self.parent, title, label, QLineEdit.EchoMode.Normal, default
        )
        return text if ok else None

    def choose(self, title: str, label: str, items: list[str]) -> str | None:
        """One of ``items`` (the first is preselected), or ``None`` when cancelled."""
        text, ok = QInputDialog.getItem(self.parent, title, label, items, 0, False)
        return text if ok else None

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.parent, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def save_discard_cancel(self, title: str, text: str) -> str:
        """'save', 'discard' or 'cancel'."""
        buttons = (
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        answer = QMessageBox.question(self.parent, title, text, buttons)
        if answer == QMessageBox.StandardButton.Save:
            return "save"
        if answer == QMessageBox.StandardButton.Discard:
            return "discard"
        return "cancel"

    def open_file(self, title: str, directory: Path | None = None) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(
            self.parent, title, str(directory or ""), WORKFLOW_FILTER
        )
        return Path(name) if name else None

    def save_file(self, title: str, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, title, str(suggested), WORKFLOW_FILTER)
        return Path(name) if name else None

    def quit_choice(self, title: str, text: str) -> tuple[str, bool]:
        """('keep' | 'stop' | 'cancel', whether to remember the answer)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self.parent)
        keep = box.addButton("Quit, keep it running", QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Quit and stop it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        remember = QCheckBox("Do not ask again")
        box.setCheckBox(remember)
        box.exec()
        clicked = box.clickedButton()
        choice = "keep" if clicked is keep else "stop" if clicked is stop else "cancel"
        return choice, remember.isChecked() and choice != "cancel"

    def error(self, title: str, text: str) -> None:
        QMessageBox.warning(self.parent, title, text)
