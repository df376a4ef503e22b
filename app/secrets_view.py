"""Secrets in the OS keyring, by name: list, add, change, delete.

Values go in and never come out: the form's value field is a password
field that is cleared as soon as the value is stored, nothing here ever
reads a value back, and names are all the list shows.  Keyring calls run
on a pool thread (a D-Bus keyring can be slow, or locked), and every
keyring failure is shown as the sentence ``automation.secrets`` makes of it.

Workflows use a secret as ``{{ secrets.<name> }}``; the editor's completion
gets the names from the same store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.supervisor_link import run_job
from app.theme import Theme
from automation.errors import SecretError
from automation.secrets import (
    SecretStore,
    secret_store_from_env,
    validate_secret_name,
    value_problem,
)

log = logging.getLogger(__name__)


class SecretDialog(QDialog):
    """Ask for a secret's name (when adding) and its value, typed twice, never shown."""

    def __init__(
        self,
        theme: Theme,
        *,
        name: str | None = None,
        taken: set[str] | frozenset[str] = frozenset(),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.theme = theme
        self.taken = set(taken)
        self.changing = name is not None
        self.setWindowTitle(f"Change secret '{name}'" if name else "Add secret")
        self.name = QLineEdit(name or "")
        self.name.setAccessibleName("Secret name")
        self.name.setPlaceholderText("mail_password")
        self.name.setReadOnly(self.changing)
        self.value = QLineEdit()
        self.value.setAccessibleName("Secret value")
        self.value.setEchoMode(QLineEdit.EchoMode.Password)
        self.again = QLineEdit()
        self.again.setAccessibleName("Secret value again")
        self.again.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.usage = QLabel()
        self.usage.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("Value:", self.value)
        form.addRow("Again:", self.again)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.usage)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        for field in (self.name, self.value, self.again):
            field.textChanged.connect(lambda _t: self._check())
        (self.value if self.changing else self.name).setFocus()
        self._check()
        self.resize(420, 0)

    def check(self) -> str:
        """What stops saving, or '' when the form can be saved."""
        name = self.name.text().strip()
        try:
            validate_secret_name(name)
        except SecretError as exc:
            return str(exc) if name else "Give the secret a name."
        if not self.changing and name in self.taken:
            return f"A secret named '{name}' exists; select it and choose Change to replace it."
        if not self.value.text():
            return "Type the value (it is not shown, and never shown again)."
        if self.value.text() != self.again.text():
            return "The two values differ."
        problem = value_problem(name, self.value.text())
        if problem is not None:
            return problem[0].upper() + problem[1:] + "."
        return ""

    def _check(self) -> None:
        problem = self.check()
        self.problem.setText(
            f"<span style='color:{self.theme.muted if not problem else self.theme.error}'>"
            f"{problem}</span>"
            if problem
            else ""
        )
        name = self.name.text().strip() or "name"
        self.usage.setText(
            f"<span style='color:{self.theme.muted}'>Use it in a workflow as "
            f"<code>{{{{ secrets.{name} }}}}</code></span>"
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not problem)

    def take(self) -> tuple[str, str]:
        """Name and value, and forget the value here at once."""
        name, value = self.name.text().strip(), self.value.text()
        self.value.clear()
        self.again.clear()
        return name, value


class SecretsView(QWidget):
    """The keyring's Deskpilot secrets, by name."""

    message = Signal(str)
    #: the names changed (the editor's completion should read them again)
    changed = Signal()

    def __init__(
        self,
        theme: Theme,
        store_factory: Callable[[], SecretStore] = secret_store_from_env,
        *,
        ask: Callable[[SecretDialog], bool] | None = None,
        confirm: Callable[[str], bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.theme = theme
        self.store_factory = store_factory
        self.ask = ask or (lambda dialog: dialog.exec() == QDialog.DialogCode.Accepted)
        self.confirm = confirm or self._confirm
        self.names: list[str] = []
        self.error = ""
        self.busy = False
        self.list = QListWidget()
        self.list.setObjectName("secret_names")
        self.list.setAccessibleName("Secret names")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.currentItemChanged.connect(lambda *_a: self._update_buttons())
        self.list.itemDoubleClicked.connect(lambda *_a: self.change_selected())
        self.add_button = QPushButton("Add…")
        self.change_button = QPushButton("Change value…")
        self.delete_button = QPushButton("Delete")
        self.refresh_button = QPushButton("Refresh")
        self.add_button.clicked.connect(lambda _c=False: self.add())
        self.change_button.clicked.connect(lambda _c=False: self.change_selected())
        self.delete_button.clicked.connect(lambda _c=False: self.delete_selected())
        self.refresh_button.clicked.connect(lambda _c=False: self.reload())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = QLabel(
            "Secrets are kept in your system keyring and are never written to workflow files, "
            "the run history or logs. Values cannot be shown here: to check one, change it."
        )
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {theme.muted};")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.change_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(note)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.status)
        self._update_buttons()

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        self._run(lambda store: store.names(), self._loaded)

    def _loaded(self, names: list[str]) -> None:
        selected = self.selected()
        self.names = list(names)
        self.error = ""
        self.list.clear()
        for name in self.names:
            item = QListWidgetItem(name)
            item.setToolTip(f"{{{{ secrets.{name} }}}}")
            self.list.addItem(item)
            if name == selected:
                self.list.setCurrentItem(item)
        count = len(self.names)
        self.status.setText(
            f"{count} secret{'s' if count != 1 else ''}" if count else "No secrets yet."
        )
        self._update_buttons()

    def _run(self, action: Callable[[SecretStore], Any], done: Callable[[Any], None]) -> None:
        factory = self.store_factory
        self.busy = True
        self._update_buttons()

        def work() -> Any:
            return action(factory())

        run_job(work, lambda result: self._finished(done, result), self._failed, owner=self)

    def _finished(self, done: Callable[[Any], None], result: Any) -> None:
        self.busy = False
        done(result)
        self._update_buttons()

    def _failed(self, error: Exception) -> None:
        self.busy = False
        self.error = str(error)
        self.status.setText(f"<span style='color:{self.theme.error}'>{self.error}</span>")
        if self.isVisible():
            self.message.emit(f"Keyring: {self.error}")
        self._update_buttons()

    # -- actions ---------------------------------------------------------------------------
    def selected(self) -> str | None:
        item = self.list.currentItem()
        return item.text() if item is not None else None

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None
        self.add_button.setEnabled(not self.busy)
        self.change_button.setEnabled(chosen and not self.busy)
        self.delete_button.setEnabled(chosen and not self.busy)

    def add(self) -> None:
        dialog = SecretDialog(self.theme, taken=set(self.names), parent=self)
        if self.ask(dialog) and not dialog.check():
            self._store(*dialog.take(), verb="Added")

    def change_selected(self) -> None:
        name = self.selected()
        if name is None:
            return
        dialog = SecretDialog(self.theme, name=name, parent=self)
        if self.ask(dialog) and not dialog.check():
            self._store(*dialog.take(), verb="Changed")

    def _store(self, name: str, value: str, *, verb: str) -> None:
        def action(store: SecretStore) -> list[str]:
            store.set(name, value)
            return store.names()

        self._run(action, lambda names: self._stored(names, f"{verb} secret '{name}'"))

    def _stored(self, names: list[str], text: str) -> None:
        self._loaded(names)
        self.message.emit(text)
        self.changed.emit()

    def delete_selected(self) -> None:
        name = self.selected()
        if name is None or not self.confirm(name):
            return

        def action(store: SecretStore) -> list[str]:
            store.delete(name)
            return store.names()

        self._run(action, lambda names: self._stored(names, f"Deleted secret '{name}'"))

    def _confirm(self, name: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Delete secret",
            f"Delete secret '{name}' from the keyring?\n\nWorkflows that use "
            f"{{{{ secrets.{name} }}}} will fail until it is added again.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self.names and not self.busy:
            self.reload()
