"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives.

    def test_mail(smtp_server):
        ... send to smtp_server.host, smtp_server.port ...
        message = smtp_server.wait_for(1)[0]
        assert message.message["Subject"] == "Report"

AUTH PLAIN/LOGIN is offered without TLS and accepts the pairs in
``smtp_server.users``; sending without logging in is allowed too.  STARTTLS is
not offered.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers.common import eventually


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    #: The user name the client logged in with, or None.
    login: str | None


class MailServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port(self.host)
        self.messages: list[ReceivedMail] = []
        self.users: dict[str, str] = {}
        self.failed_logins: list[str] = []
        self._lock = threading.Lock()
        self.controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Poll until ``count`` messages arrived; returns them all."""

        def arrived() -> list[ReceivedMail]:
            with self._lock:
                return list(self.messages) if len(self.messages) >= count else []

        return eventually(arrived, timeout=timeout)

    # -- aiosmtpd hooks ----------------------------------------------------------
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self._lock:
            self.messages.append(
                ReceivedMail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=parsed,
                    login=login,
                )
            )
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        if not ok and isinstance(auth_data, LoginPassword):
            with self._lock:
                self.failed_logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def _free_port(host: str) -> int:
    # aiosmtpd's Controller checks readiness by connecting to its port, so it
    # needs a concrete port rather than 0.
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    server = MailServer()
    # aiosmtpd logs a deprecation notice (Session.login_data) on every AUTH
    # through the "mail.log" logger; it is about aiosmtpd's own API, not ours.
    mail_log = logging.getLogger("mail.log")
    previous_level = mail_log.level
    mail_log.setLevel(logging.ERROR)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
        mail_log.setLevel(previous_level)
