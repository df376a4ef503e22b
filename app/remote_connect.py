"""Choosing which machine's supervisor the window talks to.

``ConnectDialog`` asks for an API address, the certificate to trust (a CA,
the supervisor's own self-signed certificate, or its SHA-256 fingerprint as
a pin) and the token, tries them off the GUI thread, and only when the
supervisor answered saves them the way ``deskpilot connection set`` does: the
address and pin in ``connection.json``, the token in the OS keyring.

Trust on first use: when the supervisor presents a certificate nothing
vouches for, the dialog shows its fingerprint, subject and validity, and
**Trust this certificate** pins exactly that one.  A pinned certificate that
later changes is refused (the banner names both fingerprints); the dialog
never offers to trust a changed one with one click: the user clears the pin
first, having checked the new fingerprint on that machine.  The CLI and the window then agree on the target.
``connect_local`` goes back to this machine's supervisor.

The window talks to the supervisor only through ``SupervisorClient``, here
as everywhere in ``app/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.supervisor_link import SupervisorLink, run_job
from automation.errors import DeskpilotError
from supervisor.api.models import Health
from supervisor.client import SupervisorClient, SupervisorTlsError
from supervisor.pinning import FINGERPRINT_COMMAND, CertificateInfo, PinSettingError, normalize_pin
from supervisor.remote import (
    TOKEN_VARIABLE,
    RemoteApi,
    SavedConnection,
    check_transport_security,
    keyring_token,
    load_saved,
    normalize_url,
    save,
    store_token,
)

log = logging.getLogger(__name__)


def probe(link: SupervisorLink, remote: RemoteApi) -> Health:
    """Ask ``remote`` for its health with a client of its own (runs in the job pool)."""
    with SupervisorClient(link.paths, remote=remote, timeout=10.0) as client:
        return client.health()


def adopt(link: SupervisorLink, remote: RemoteApi) -> None:
    """Save ``remote`` as the connection (token to the keyring) and switch the link to it."""
    if remote.token:
        store_token(remote.url, remote.token)
    save(
        link.paths.config_dir,
        SavedConnection(url=remote.url, ca_file=remote.ca_file, pin=remote.pin),
    )
    link.switch(remote)


def connect_local(link: SupervisorLink, parent: QWidget | None = None) -> None:
    """Talk to this machine's supervisor again (the saved address is forgotten, the
    keyring keeps the token for the next Connect)."""
    save(link.paths.config_dir, None)
    link.switch(None)


def reserved_line(label: QLabel, lines: int = 2) -> QLabel:
    """``label`` with room for ``lines`` wrapped lines kept whether it shows text or not,
    so a message appearing or going never moves the fields under the pointer."""
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    return label


class ConnectionForm(QWidget):
    """The fields of a remote connection, the trust-on-first-use box, and the outcome.

    Used by ``ConnectDialog`` and by the Preferences dialog's Connection page.
    ``problem`` says, as you type, what is wrong with a field (it has a line of its
    own); ``status`` what connecting gave.
    """

    #: the fields' validity changed: True when they can be tried
    validity_changed = Signal(bool)
    #: connecting failed (the status says why)
    failed = Signal()
    #: the user chose to trust the presented certificate (the pin field holds it now)
    trusted = Signal()

    def __init__(self, link: SupervisorLink, url: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        saved = None
        try:
            saved = load_saved(link.paths.config_dir)
        except DeskpilotError as exc:
            log.warning("%s", exc)
        self.url_edit = QLineEdit(url or (saved.url if saved else ""))
        self.url_edit.setObjectName("connect_url")
        self.url_edit.setPlaceholderText("https://robot-2.example.com:8750")
        self.ca_edit = QLineEdit(str(saved.ca_file) if saved and saved.ca_file else "")
        self.ca_edit.setObjectName("connect_ca")
        self.ca_edit.setPlaceholderText("the system's CAs")
        self.ca_edit.setToolTip(
            "A PEM file to trust: your CA, or the supervisor's own self-signed certificate "
            "(its DESKPILOT_API_TLS_CERT file; never its key)"
        )
        self.pin_edit = QLineEdit(saved.pin if saved and saved.pin else "")
        self.pin_edit.setObjectName("connect_pin")
        self.pin_edit.setPlaceholderText("sha256:… (instead of a certificate file)")
        self.pin_edit.setToolTip(
            "The SHA-256 fingerprint of the supervisor's certificate; on that machine: "
            + FINGERPRINT_COMMAND
        )
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda _c=False: self._browse())
        self.token_edit = QLineEdit()
        self.token_edit.setObjectName("connect_token")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("from the keyring or DESKPILOT_API_TOKEN, if saved")
        self.problem = reserved_line(QLabel(), 3)
        self.problem.setObjectName("connect_problem")
        self.status = QLabel()
        self.status.setObjectName("connect_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(browse)
        self.fields = QFormLayout()
        self.fields.addRow("API address", self.url_edit)
        self.fields.addRow("Trusted certificate", ca_row)
        self.fields.addRow("Pinned fingerprint", self.pin_edit)
        self.fields.addRow("API token", self.token_edit)
        self.fields.addRow("", self.problem)
        self.trust_box = self._trust_box()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.fields)
        layout.addWidget(self.trust_box)
        layout.addWidget(self.status)
        for edit in (self.url_edit, self.ca_edit, self.pin_edit):
            edit.textChanged.connect(lambda _t: self.check_fields())
        self.valid = True

    def check_fields(self) -> bool:
        """Say what is wrong with the fields as typed (not the token: the keyring may hold it)."""
        try:
            self._settings()
            problem = ""
        except DeskpilotError as exc:
            problem = str(exc)
        if not self.url_edit.text().strip():
            problem = ""  # nothing typed yet is not an error
        self.problem.setText(problem)
        self.problem.setToolTip(problem)
        valid = not problem
        if valid != self.valid:
            self.valid = valid
            self.validity_changed.emit(valid)
        return valid

    def _settings(self) -> tuple[str, Path | None, str | None]:
        url = normalize_url(self.url_edit.text())
        check_transport_security(url, os.environ)
        ca_text = self.ca_edit.text().strip()
        ca = Path(ca_text).expanduser() if ca_text else None
        pin_text = self.pin_edit.text().strip()
        if ca is not None and pin_text:
            raise DeskpilotError(
                "give a trusted certificate or a pinned fingerprint, not both: a pin replaces "
                "the certificate check"
            )
        if ca is not None and not ca.is_file():
            raise DeskpilotError(f"{ca} is not a file: give the PEM file to trust")
        try:
            pin = normalize_pin(pin_text) if pin_text else None
        except PinSettingError as exc:
            raise DeskpilotError(str(exc)) from None
        return url, ca, pin

    def remote(self) -> RemoteApi:
        """What the fields say; raises ``DeskpilotError`` with what to fix."""
        url, ca, pin = self._settings()
        token = self.token_edit.text().strip() or os.environ.get(TOKEN_VARIABLE, "").strip()
        if not token:
            token = keyring_token(url) or ""
        if not token:
            raise DeskpilotError(
                f"no token for {url}: paste the supervisor's DESKPILOT_API_TOKEN above"
            )
        return RemoteApi(url=url, ca_file=ca, pin=pin, token=token, source="the window")

    def try_connect(self, connected: Callable[[RemoteApi, Health], None]) -> bool:
        """Check the connection off the GUI thread; ``connected`` runs once it answered.

        False when the fields are wrong (the status says why).
        """
        try:
            remote = self.remote()
        except DeskpilotError as exc:
            self.show_problem(exc)
            return False
        self.status.setText(f"Connecting to {remote.url}…")
        self.trust_box.hide()
        run_job(
            lambda: probe(self.link, remote),
            lambda health: connected(remote, health),
            self.show_problem,
            owner=self,
        )
        return True

    def show_problem(self, error: Exception) -> None:
        self.status.setText(self._in_window_words(error))
        self.status.setToolTip(str(error))
        if isinstance(error, SupervisorTlsError):
            self._show_presented(error)
        else:
            self.trust_box.hide()
        self.failed.emit()

    def _in_window_words(self, error: Exception) -> str:
        """The CLI's certificate messages name options; here the fields and buttons instead."""
        if not isinstance(error, SupervisorTlsError) or error.presented is None:
            return str(error)
        where = self.url_edit.text().strip()
        if error.expected is not None:
            return (
                f"The certificate of {where} is not the pinned one: expected {error.expected}, "
                f"presented {error.presented.fingerprint}. Nothing was sent to it. If that "
                "machine got a new certificate, compare the fingerprint shown with the one it "
                "shows, clear the pinned fingerprint and connect again; if it did not, "
                "something else answers at that address."
            )
        ca = self.ca_edit.text().strip()
        vouch = (
            f"the certificate file {ca} does not vouch for it"
            if ca
            else "nothing this computer trusts vouches for it"
        )
        return (
            f"The certificate of {where} is not trusted: {vouch}. Compare the fingerprint "
            "shown with the one the supervisor's machine prints, then Trust this certificate, "
            "or give the CA file that signed it."
        )

    def _trust_box(self) -> QFrame:
        """What an untrusted certificate is, and the button that pins it (hidden until then)."""
        box = QFrame()
        box.setObjectName("connect_trust")
        box.setFrameShape(QFrame.Shape.StyledPanel)
        self.trust_title = QLabel()
        self.trust_title.setWordWrap(True)
        self.trust_fingerprint = QLabel()
        self.trust_fingerprint.setObjectName("connect_fingerprint")
        self.trust_fingerprint.setWordWrap(True)
        self.trust_fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.trust_subject = QLabel()
        self.trust_subject.setWordWrap(True)
        self.trust_validity = QLabel()
        self.trust_button = QPushButton("Trust this certificate")
        self.trust_button.setObjectName("connect_trust_button")
        self.trust_button.setToolTip(
            "Pin exactly this certificate: compare the fingerprint with the one the supervisor's "
            f"machine prints ({FINGERPRINT_COMMAND}) first"
        )
        self.trust_button.clicked.connect(lambda _c=False: self.trust_presented())
        details = QFormLayout()
        details.addRow("SHA-256", self.trust_fingerprint)
        details.addRow("Subject", self.trust_subject)
        details.addRow("Valid", self.trust_validity)
        inner = QVBoxLayout(box)
        inner.addWidget(self.trust_title)
        inner.addLayout(details)
        inner.addWidget(self.trust_button, 0, Qt.AlignmentFlag.AlignRight)
        box.hide()
        self.presented: CertificateInfo | None = None
        return box

    def _show_presented(self, error: SupervisorTlsError) -> None:
        shown = error.presented
        self.presented = shown
        if shown is None:
            self.trust_box.hide()
            return
        changed = error.expected is not None
        self.trust_title.setText(
            "The supervisor now presents another certificate than the pinned one. If that "
            "machine really got a new certificate, clear the pinned fingerprint and connect "
            "again."
            if changed
            else "Nothing vouches for this certificate. Trust it only if its fingerprint is "
            f"the one the supervisor's machine shows ({FINGERPRINT_COMMAND})."
        )
        self.trust_fingerprint.setText(shown.fingerprint)
        issued = "self-signed" if shown.self_signed else f"issued by {shown.issuer}"
        self.trust_subject.setText(f"{shown.subject} ({issued})")
        self.trust_validity.setText(shown.validity())
        self.trust_button.setVisible(not changed)
        self.trust_box.show()

    def trust_presented(self) -> None:
        """Pin the certificate just shown, and connect with it."""
        if self.presented is None:
            return
        self.pin_edit.setText(self.presented.fingerprint)
        self.ca_edit.clear()
        self.trust_box.hide()
        self.trusted.emit()

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Certificate to trust", "", "PEM certificates (*.pem *.crt);;All files (*)"
        )
        if chosen:
            self.ca_edit.setText(chosen)


class ConnectDialog(QDialog):
    """Address, certificate and token of another machine's supervisor API."""

    def __init__(self, link: SupervisorLink, url: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.setWindowTitle("Connect to a supervisor")
        self.setObjectName("connect_dialog")
        self.form = ConnectionForm(link, url, self)
        form = self.form
        self.url_edit, self.ca_edit, self.pin_edit = form.url_edit, form.ca_edit, form.pin_edit
        self.token_edit, self.status, self.trust_box = form.token_edit, form.status, form.trust_box
        self.trust_title, self.trust_fingerprint = form.trust_title, form.trust_fingerprint
        self.trust_subject, self.trust_validity = form.trust_subject, form.trust_validity
        self.trust_button = form.trust_button
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.try_connect)
        self.buttons.rejected.connect(self.reject)
        form.failed.connect(lambda: self.buttons.setEnabled(True))
        form.trusted.connect(self.try_connect)
        layout = QVBoxLayout(self)
        layout.addWidget(form)
        layout.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())

    def try_connect(self) -> None:
        """Check the connection off the GUI thread; save and switch once it answered."""
        if self.form.try_connect(self._answered):
            self.buttons.setEnabled(False)

    def _answered(self, remote: RemoteApi, health: Health) -> None:
        self.buttons.setEnabled(True)
        try:
            adopt(self.link, remote)
        except DeskpilotError as exc:  # the keyring refused the token
            self.form.show_problem(exc)
            return
        log.info("the window now talks to %s (Deskpilot %s)", remote.url, health.version)
        self.accept()
