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
from pathlib import Path

from PySide6.QtCore import Qt
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


class ConnectDialog(QDialog):
    """Address, certificate and token of another machine's supervisor API."""

    def __init__(self, link: SupervisorLink, url: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.setWindowTitle("Connect to a supervisor")
        self.setObjectName("connect_dialog")
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
        self.status = QLabel()
        self.status.setObjectName("connect_status")
        self.status.setWordWrap(True)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("API address", self.url_edit)
        form.addRow("Trusted certificate", ca_row)
        form.addRow("Pinned fingerprint", self.pin_edit)
        form.addRow("API token", self.token_edit)
        self.trust_box = self._trust_box()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.try_connect)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.trust_box)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())

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
        self.try_connect()

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Certificate to trust", "", "PEM certificates (*.pem *.crt);;All files (*)"
        )
        if chosen:
            self.ca_edit.setText(chosen)

    def remote(self) -> RemoteApi:
        """What the fields say; raises ``DeskpilotError`` with what to fix."""
        url = normalize_url(self.url_edit.text())
        check_transport_security(url, os.environ)
        ca_text = self.ca_edit.text().strip()
        token = self.token_edit.text().strip() or os.environ.get(TOKEN_VARIABLE, "").strip()
        if not token:
            token = keyring_token(url) or ""
        if not token:
            raise DeskpilotError(
                f"no token for {url}: paste the supervisor's DESKPILOT_API_TOKEN above"
            )
        ca = Path(ca_text).expanduser() if ca_text else None
        pin_text = self.pin_edit.text().strip()
        if ca is not None and pin_text:
            raise DeskpilotError(
                "give a trusted certificate or a pinned fingerprint, not both: a pin replaces "
                "the certificate check"
            )
        try:
            pin = normalize_pin(pin_text) if pin_text else None
        except PinSettingError as exc:
            raise DeskpilotError(str(exc)) from None
        return RemoteApi(url=url, ca_file=ca, pin=pin, token=token, source="the window")

    def try_connect(self) -> None:
        """Check the connection off the GUI thread; save and switch once it answered."""
        try:
            remote = self.remote()
        except DeskpilotError as exc:
            self._problem(exc)
            return
        self.status.setText(f"Connecting to {remote.url}…")
        self.trust_box.hide()
        self.buttons.setEnabled(False)
        run_job(
            lambda: probe(self.link, remote),
            lambda health: self._answered(remote, health),
            self._problem,
            owner=self,
        )

    def _answered(self, remote: RemoteApi, health: Health) -> None:
        self.buttons.setEnabled(True)
        try:
            adopt(self.link, remote)
        except DeskpilotError as exc:  # the keyring refused the token
            self._problem(exc)
            return
        log.info("the window now talks to %s (Deskpilot %s)", remote.url, health.version)
        self.accept()

    def _problem(self, error: Exception) -> None:
        self.buttons.setEnabled(True)
        self.status.setText(str(error))
        if isinstance(error, SupervisorTlsError):
            self._show_presented(error)
        else:
            self.trust_box.hide()
