"""Trusting one supervisor's certificate by its SHA-256 fingerprint (a pin).

A self-signed certificate can be trusted by giving the file itself as the CA
(``--ca``), or, without copying any file, by its fingerprint:
``--pin sha256:HEX`` (``openssl x509 -in api-cert.pem -noout -fingerprint
-sha256`` on the serving machine prints it; colons and case do not matter).

How the check works: a ``PinnedContext`` makes TLS sockets (and, for
asynchronous clients, TLS objects) whose ``do_handshake`` compares the SHA-256
of the peer certificate's DER bytes with the pin as soon as the handshake
ends, and closes the connection on a mismatch.  httpx (httpcore) calls
``wrap_socket`` on a connected socket, which runs the handshake there, so the
check happens before a single byte of HTTP (headers, token, body) is written.
With a pin, the pin is the whole trust: no CA, host name or date check, as
SSH's known hosts (the pinned certificate is exactly the one the user looked
at; a new certificate on that machine means pinning it again).

``presented_certificate`` fetches the certificate a server presents with a
handshake and nothing else, so an "untrusted certificate" error can show what
to pin and the window can ask the user (trust on first use).

Nothing here imports httpx or Qt; ``cryptography`` loads only to describe a
certificate (subject, validity).
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from automation.errors import DeskpilotError

PIN_VARIABLE = "DESKPILOT_API_PIN"
PIN_PREFIX = "sha256:"
FINGERPRINT_COMMAND = "openssl x509 -in api-cert.pem -noout -fingerprint -sha256"


class PinSettingError(DeskpilotError):
    """A pin that is not a SHA-256 fingerprint."""


class CertificatePinMismatch(ssl.SSLError):
    """The server presented a certificate other than the pinned one; nothing was sent.

    An ``ssl.SSLError`` so that HTTP clients treat it as the failed handshake it is
    (httpx raises ``ConnectError`` from it).
    """

    def __init__(self, expected: str, presented: str, der: bytes) -> None:
        super().__init__(f"certificate pin mismatch: expected {expected}, presented {presented}")
        self.expected = expected
        self.presented = presented
        self.der = der


def fingerprint(der: bytes) -> str:
    """``sha256:`` and the lowercase hex SHA-256 of a certificate's DER bytes."""
    return PIN_PREFIX + hashlib.sha256(der).hexdigest()


def normalize_pin(text: str) -> str:
    """``text`` as ``sha256:<64 lowercase hex>``; accepts openssl's ``AB:CD:…`` form.

    Raises ``PinSettingError`` naming what is wrong.
    """
    value = text.strip()
    lowered = value.lower()
    for prefix in ("sha256:", "sha256=", "sha256 fingerprint=", "sha2-256:"):
        if lowered.startswith(prefix):
            value = value[len(prefix) :]
            break
    digits = re.sub(r"[\s:]", "", value).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise PinSettingError(
            f"{text.strip()!r} is not a SHA-256 certificate fingerprint: give sha256: and 64 hex "
            f"digits (colons allowed), as '{FINGERPRINT_COMMAND}' prints it on the serving "
            "machine, or as the 'not trusted' error shows it"
        )
    return PIN_PREFIX + digits


def _check(context: ssl.SSLContext, der: bytes | None) -> None:
    pin = getattr(context, "pin", None)
    if pin is None:
        return
    presented = fingerprint(der) if der else "no certificate"
    if presented != pin:
        raise CertificatePinMismatch(pin, presented, der or b"")


class _PinnedSocket(ssl.SSLSocket):
    """A TLS socket that checks its context's pin as soon as its handshake ends."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        try:
            _check(self.context, self.getpeercert(binary_form=True))
        except CertificatePinMismatch:
            self.close()
            raise


class _PinnedObject(ssl.SSLObject):
    """The same for memory-BIO TLS (asynchronous clients): the check follows the handshake."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check(self.context, self.getpeercert(binary_form=True))


class PinnedContext(ssl.SSLContext):
    """A client context that trusts exactly the certificate whose fingerprint is ``pin``."""

    pin: str
    sslsocket_class = _PinnedSocket
    sslobject_class = _PinnedObject


def pinned_context(pin: str) -> PinnedContext:
    """A client context for ``pin`` (already normalised or not)."""
    context = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.pin = normalize_pin(pin)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The pin replaces the CA and host name checks: the chain of a self-signed
    # certificate cannot be verified, and the pinned bytes name one server.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# -- what a server presents -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CertificateInfo:
    """A certificate as shown to a person deciding whether to trust it."""

    fingerprint: str
    subject: str
    issuer: str
    not_before: datetime | None
    not_after: datetime | None
    der: bytes

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def validity(self) -> str:
        def day(value: datetime | None) -> str:
            return "?" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")

        return f"{day(self.not_before)} to {day(self.not_after)}"

    def describe(self) -> str:
        """One line: subject, issuer (or self-signed), validity."""
        issued = "self-signed" if self.self_signed else f"issued by {self.issuer}"
        return f"{self.subject}, {issued}, valid {self.validity()}"


def certificate_info(der: bytes) -> CertificateInfo:
    """Fingerprint, subject, issuer and validity of a DER certificate."""
    found = fingerprint(der)
    try:
        from cryptography import x509

        certificate = x509.load_der_x509_certificate(der)
    except Exception:  # a certificate cryptography cannot parse is still pinned by bytes
        return CertificateInfo(
            fingerprint=found, subject="?", issuer="?", not_before=None, not_after=None, der=der
        )
    return CertificateInfo(
        fingerprint=found,
        subject=certificate.subject.rfc4514_string() or "(empty subject)",
        issuer=certificate.issuer.rfc4514_string() or "(empty issuer)",
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        der=der,
    )


def presented_certificate(url: str, *, timeout: float = 5.0) -> bytes:
    """The DER certificate the TLS server at ``url`` presents: a handshake, nothing sent.

    Raises ``OSError`` (``ssl.SSLError`` included) when there is no TLS there.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to read it: nothing is sent over this
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError(f"{url} presented no certificate")
    return der
