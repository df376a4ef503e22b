"""The secrets view lists, adds, changes and deletes secrets in a real keyring, never showing values."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QListWidget, QWidget
from pytestqt.qtbot import QtBot

from app.secrets_view import SecretDialog, SecretsView
from app.theme import LIGHT
from automation.secrets import KeyringSecretStore
from tests.unit.app.runkit import wait_until

pytestmark = pytest.mark.keyring

VALUE = "s3cr3t-Value-never-shown"


def fill(name: str | None, value: str, again: str | None = None):  # noqa: ANN201
    def ask(dialog: SecretDialog) -> bool:
        if name is not None:
            dialog.name.setText(name)
        dialog.value.setText(value)
        dialog.again.setText(value if again is None else again)
        return not dialog.check()

    return ask


def visible_texts(root: QWidget) -> str:
    parts = [w.text() for w in root.findChildren(QLineEdit)]
    parts += [w.text() for w in root.findChildren(QLabel)]
    for lst in root.findChildren(QListWidget):
        parts += [lst.item(i).text() + (lst.item(i).toolTip() or "") for i in range(lst.count())]
    return "\n".join(parts)


@pytest.fixture
def view(qtbot: QtBot, qapp: QApplication, secret_store: KeyringSecretStore) -> SecretsView:
    secret_store.set("api_token", "first")
    made = SecretsView(LIGHT)  # uses secret_store_from_env(): the fixture's keyring service
    qtbot.addWidget(made)
    made.show()
    wait_until(qapp, lambda: made.names == ["api_token"])
    return made


def test_lists_adds_changes_and_deletes(
    qapp: QApplication, view: SecretsView, secret_store: KeyringSecretStore
) -> None:
    assert [view.list.item(i).text() for i in range(view.list.count())] == ["api_token"]
    messages: list[str] = []
    view.message.connect(messages.append)
    view.ask = fill("mail_password", VALUE)
    view.add()
    wait_until(qapp, lambda: "mail_password" in view.names)
    assert secret_store.get("mail_password") == VALUE
    assert messages[-1] == "Added secret 'mail_password'"
    assert VALUE not in visible_texts(view)

    view.list.setCurrentRow(view.names.index("mail_password"))
    view.ask = fill(None, "changed-" + VALUE)
    view.change_selected()
    wait_until(qapp, lambda: messages[-1] == "Changed secret 'mail_password'")
    assert secret_store.get("mail_password") == "changed-" + VALUE
    assert VALUE not in visible_texts(view)

    view.confirm = lambda name: name == "mail_password"
    view.delete_selected()
    wait_until(qapp, lambda: view.names == ["api_token"])
    assert secret_store.get("mail_password") is None


def test_the_dialog_checks_names_and_values_and_forgets_them(qtbot: QtBot) -> None:
    dialog = SecretDialog(LIGHT, taken={"api_token"})
    qtbot.addWidget(dialog)
    assert dialog.value.echoMode() == QLineEdit.EchoMode.Password
    dialog.name.setText("2fa")
    assert "invalid secret name" in dialog.check()
    dialog.name.setText("api_token")
    assert "exists" in dialog.check()
    dialog.name.setText("smtp")
    dialog.value.setText("a")
    dialog.again.setText("b")
    assert dialog.check() == "The two values differ."
    dialog.again.setText("a")
    assert "shorter than 8 characters" in dialog.check()
    dialog.value.setText("long-enough")
    dialog.again.setText("long-enough")
    assert dialog.check() == ""
    assert "{{ secrets.smtp }}" in dialog.usage.text()
    assert dialog.take() == ("smtp", "long-enough")
    assert dialog.value.text() == "" and dialog.again.text() == ""


def test_a_disabled_keyring_is_reported_plainly(
    qtbot: QtBot, qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    view = SecretsView(LIGHT)
    qtbot.addWidget(view)
    view.show()
    wait_until(qapp, lambda: bool(view.error))
    assert "keyring is disabled" in view.status.text()
    assert view.add_button.isEnabled()
