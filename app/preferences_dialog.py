"""Edit › Preferences… (Ctrl+,): the connection and the window's defaults in one place.

Two pages:

- **Connection**: this machine's supervisor or another machine's API (address,
  a trusted CA file or a pinned fingerprint, the token), the same settings as
  ``deskpilot connection set``.  Another machine is adopted only once its
  supervisor answered (and a certificate nothing vouches for can be trusted
  on first use, as in the Connect dialog).  The token goes to the OS keyring,
  never to a file; **Forget saved token** removes it from there.
- **General**: the time zone of new schedules, which failed runs notify and
  through what, and what Quit does with the supervisor (``app.preferences``).

Apply and OK write at once; readers load the settings when they need them,
so nothing waits for a restart.  A value that cannot be used (a time zone
that does not exist, a malformed pin) is named on a line of its own under its
field, which is always there, so nothing moves under the pointer, and OK and
Apply stay off until it is fixed.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.connection import SupervisorConnection
from app.preferences import (
    NotifyVia,
    NotifyWhen,
    OnQuit,
    Preferences,
    check_timezone,
    load,
    store,
)
from app.remote_connect import ConnectionForm, adopt, connect_local, reserved_line
from app.supervisor_link import SupervisorLink
from app.trigger_form import timezones
from automation.errors import DeskpilotError
from automation.timezones import local_zone
from supervisor.api.models import Health
from supervisor.remote import RemoteApi, forget_token, keyring_token, normalize_url

log = logging.getLogger(__name__)

_WHEN = (
    (NotifyWhen.UNATTENDED, "when a run nobody started by hand fails (schedules, files, webhooks)"),
    (NotifyWhen.ALL, "when any run fails"),
    (NotifyWhen.NEVER, "never"),
)
_VIA = (
    (NotifyVia.DESKTOP, "desktop notifications (the tray icon if the desktop has none)"),
    (NotifyVia.TRAY, "the tray icon's messages only"),
)
_QUIT = (
    (OnQuit.ASK, "ask each time"),
    (OnQuit.KEEP, "keep the supervisor running (schedules go on)"),
    (OnQuit.STOP, "stop this machine's supervisor"),
)


def _combo(name: str, choices: tuple[tuple[str, str], ...], current: str) -> QComboBox:
    box = QComboBox()
    box.setObjectName(name)
    for value, text in choices:
        box.addItem(text, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


class PreferencesDialog(QDialog):
    """The Preferences window; ``apply()`` is what Apply and OK do."""

    def __init__(
        self,
        settings: QSettings,
        connection: SupervisorConnection | None,
        *,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("preferences_dialog")
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.link = connection if isinstance(connection, SupervisorLink) else None
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Apply
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.form: ConnectionForm | None = None
        self.tabs = QTabWidget()
        self.tabs.addTab(self._general_page(load(settings)), "General")
        self.tabs.addTab(self._connection_page(), "Connection")
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        self.apply_button.clicked.connect(lambda _c=False: self.apply())
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.buttons)
        self._close_when_connected = False
        self._update_buttons()
        self.resize(640, 520)

    # -- general ------------------------------------------------------------------------------
    def _general_page(self, current: Preferences) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.timezone = QComboBox()
        self.timezone.setObjectName("pref_timezone")
        self.timezone.setEditable(True)
        self.timezone.addItems(timezones())
        self.timezone.setCurrentText(current.schedule_timezone)
        self.timezone.setToolTip(f"'local' is this computer's zone: {local_zone().key}")
        self.timezone_error = reserved_line(QLabel(), 2)
        self.timezone_error.setObjectName("pref_timezone_error")
        self.notify_when = _combo("pref_notify_when", _WHEN, current.notify_when)
        self.notify_via = _combo("pref_notify_via", _VIA, current.notify_via)
        self.on_quit = _combo("pref_on_quit", _QUIT, current.on_quit)
        form.addRow(f"Time zone of new schedules (here: {local_zone().key}):", self.timezone)
        form.addRow("", self.timezone_error)
        form.addRow("Notify:", self.notify_when)
        form.addRow("Notify through:", self.notify_via)
        form.addRow("When Deskpilot quits:", self.on_quit)
        self.timezone.currentTextChanged.connect(lambda _t: self._update_buttons())
        return page

    def preferences(self) -> Preferences:
        """What the General page says; raises ``DeskpilotError`` for a bad time zone."""
        return Preferences(
            schedule_timezone=check_timezone(self.timezone.currentText()),
            notify_when=NotifyWhen(self.notify_when.currentData()),
            notify_via=NotifyVia(self.notify_via.currentData()),
            on_quit=OnQuit(self.on_quit.currentData()),
        )

    # -- connection ---------------------------------------------------------------------------
    def _connection_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.target = QLabel()
        self.target.setObjectName("pref_target")
        self.target.setWordWrap(True)
        self.local_choice = QRadioButton("This machine's supervisor")
        self.local_choice.setObjectName("pref_local")
        self.remote_choice = QRadioButton("Another machine's supervisor:")
        self.remote_choice.setObjectName("pref_remote")
        group = QButtonGroup(page)
        group.addButton(self.local_choice)
        group.addButton(self.remote_choice)
        layout.addWidget(self.target)
        layout.addWidget(self.local_choice)
        layout.addWidget(self.remote_choice)
        if self.link is None:  # a window without a supervisor link (tests, previews)
            page.setEnabled(False)
            self.target.setText("This window has no supervisor connection.")
            layout.addStretch(1)
            return page
        link = self.link
        url = link.remote.url if link.remote is not None else ""
        self.form = form = ConnectionForm(link, url, page)
        form.setObjectName("pref_connection_form")
        if link.remote is not None:  # what is in use, which may come from --api or the variable
            form.ca_edit.setText(str(link.remote.ca_file) if link.remote.ca_file else "")
            form.pin_edit.setText(link.remote.pin or "")
        self.token_state = QLabel()
        self.token_state.setObjectName("pref_token_state")
        self.token_state.setWordWrap(True)
        self.forget_button = QPushButton("Forget saved token")
        self.forget_button.setObjectName("pref_forget_token")
        self.forget_button.clicked.connect(lambda _c=False: self.forget_saved_token())
        token_row = QHBoxLayout()
        token_row.addWidget(self.token_state, 1)
        token_row.addWidget(self.forget_button)
        form.fields.addRow("Saved token", token_row)
        layout.addWidget(form)
        layout.addStretch(1)
        self.local_choice.setChecked(link.remote is None)
        self.remote_choice.setChecked(link.remote is not None)
        self.remote_choice.toggled.connect(lambda _on: self._choice_changed())
        form.validity_changed.connect(lambda _v: self._update_buttons())
        form.url_edit.textChanged.connect(lambda _t: self._show_token_state())
        form.failed.connect(self._connect_failed)
        form.trusted.connect(self.apply)
        # a bound slot: Qt drops the connection when this dialog is deleted
        link.signals.target_changed.connect(self._target_changed)
        self._show_target()
        self._choice_changed()
        return page

    def _target_changed(self, _target: str) -> None:
        self._show_target()

    def _show_target(self) -> None:
        if self.link is not None:
            self.target.setText(f"The window and the tray talk to {self.link.target}.")

    def _choice_changed(self) -> None:
        if self.form is not None:
            self.form.setEnabled(self.remote_choice.isChecked())
            self._show_token_state()
        self._update_buttons()

    def _token_url(self) -> str | None:
        if self.form is None:
            return None
        try:
            return normalize_url(self.form.url_edit.text())
        except DeskpilotError:
            return None

    def _show_token_state(self) -> None:
        url = self._token_url()
        saved = False
        if url is not None:
            try:
                saved = keyring_token(url) is not None
            except DeskpilotError as exc:  # a locked or missing keyring: say so, do not fail
                self.token_state.setText("the OS keyring cannot be read (point here for why)")
                self.token_state.setToolTip(str(exc))
                self.forget_button.setEnabled(False)
                return
        self.token_state.setToolTip("")
        self.token_state.setText(
            "one is in the OS keyring for this address" if saved else "none for this address"
        )
        self.forget_button.setEnabled(saved)

    def forget_saved_token(self) -> None:
        """Remove the token of the address in the field from the keyring."""
        url = self._token_url()
        if url is None or self.form is None:
            return
        try:
            forget_token(url)
        except DeskpilotError as exc:
            self.form.status.setText(str(exc))
            return
        self.form.status.setText(f"Forgot the token for {url}.")
        self._show_token_state()

    def _connection_wanted(self) -> RemoteApi | None | bool:
        """The remote to connect to, None for this machine, False for no change."""
        link, form = self.link, self.form
        if link is None or form is None:
            return False
        if self.local_choice.isChecked():
            return None if link.remote is not None else False
        remote = form.remote()
        current = link.remote
        same = (
            current is not None
            and (current.url, current.ca_file, current.pin)
            == (remote.url, remote.ca_file, remote.pin)
            and not form.token_edit.text().strip()
        )
        return False if same else remote

    # -- applying -----------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        problem = ""
        try:
            check_timezone(self.timezone.currentText())
        except DeskpilotError as exc:
            problem = str(exc)
        self.timezone_error.setText(problem)
        form_ok = self.form is None or not self.remote_choice.isChecked() or self.form.valid
        usable = not problem and form_ok
        for button in (self.ok_button, self.apply_button):
            if button is not None:
                button.setEnabled(usable)

    def apply(self) -> bool:
        """Write the general settings, and connect if the connection changed.

        True when everything is applied now; False when a connection is being
        tried (the form shows how it went) or a value is refused.
        """
        try:
            store(self.settings, self.preferences())
        except DeskpilotError as exc:
            self.timezone_error.setText(str(exc))
            return False
        try:
            wanted = self._connection_wanted()
        except DeskpilotError as exc:
            if self.form is not None:
                self.form.show_problem(exc)
            return False
        if wanted is False:
            return True
        if wanted is None:
            assert self.link is not None
            connect_local(self.link, self)
            return True
        assert self.form is not None
        if self.form.try_connect(self._connected):
            self.buttons.setEnabled(False)
        return False

    def _connected(self, remote: RemoteApi, health: Health) -> None:
        self.buttons.setEnabled(True)
        assert self.link is not None and self.form is not None
        try:
            adopt(self.link, remote)
        except DeskpilotError as exc:
            self.form.show_problem(exc)
            return
        self.form.token_edit.clear()  # it is in the keyring now; the field keeps nothing
        self.form.status.setText(f"Connected: Deskpilot {health.version} at {remote.url}.")
        self._show_token_state()
        log.info("the window now talks to %s (Deskpilot %s)", remote.url, health.version)
        if self._close_when_connected:
            self.accept()

    def _connect_failed(self) -> None:
        self.buttons.setEnabled(True)
        self._close_when_connected = False
        self.tabs.setCurrentIndex(1)

    def _ok(self) -> None:
        self._close_when_connected = True
        if self.apply():
            self.accept()
