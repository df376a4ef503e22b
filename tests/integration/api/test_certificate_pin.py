"""A pinned certificate: the client checks the peer's DER SHA-256 before it sends anything.

A real uvicorn HTTPS listener serves one self-signed certificate and records
every request that reaches it.  A client pinned to another certificate must
be refused with both fingerprints named, and the listener must have seen no
request at all: no token, no body.  The same client pinned to the listener's
own certificate gets through (its request, token included, is recorded).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supervisor.client import SupervisorApiError, SupervisorClient, SupervisorTlsError
from supervisor.paths import DeskpilotPaths
from supervisor.pinning import (
    CertificatePinMismatch,
    certificate_info,
    fingerprint,
    normalize_pin,
    pinned_context,
    presented_certificate,
)
from supervisor.remote import RemoteApi
from tests.helpers.daemon import short_home
from tests.helpers.tls import (
    CertFiles,
    RecordingListener,
    der_of,
    recording_listener,
    self_signed,
)

CANARY = "canary-pin-token-3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e2b"


@dataclass
class Listening:
    listener: RecordingListener
    served: CertFiles
    other: CertFiles


@pytest.fixture(scope="module")
def listening() -> Iterator[Listening]:
    folder = short_home("dp-pin-")
    try:
        served = self_signed(folder, "served")
        other = self_signed(folder, "other")
        with recording_listener(served) as listener:
            yield Listening(listener, served, other)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def client(tmp_path: Path, url: str, pin: str) -> SupervisorClient:
    remote = RemoteApi(url=url, pin=pin, token=CANARY, source="--pin")
    return SupervisorClient(DeskpilotPaths.under(tmp_path), remote=remote, timeout=10.0)


def test_pins_are_read_in_every_usual_spelling() -> None:
    der = b"not really a certificate"
    pin = fingerprint(der)
    colons = ":".join(pin[7:][i : i + 2] for i in range(0, 64, 2)).upper()
    assert normalize_pin(f"SHA256 Fingerprint={colons}") == pin  # openssl's output
    assert normalize_pin(pin.upper()) == pin and normalize_pin(pin[7:]) == pin
    with pytest.raises(Exception, match="not a SHA-256 certificate fingerprint"):
        normalize_pin("sha256:abc")


def test_a_changed_certificate_is_refused_before_the_token_is_sent(
    listening: Listening, tmp_path: Path
) -> None:
    expected = fingerprint(der_of(listening.other))
    presented = fingerprint(der_of(listening.served))
    with (
        client(tmp_path, listening.listener.url, expected) as wrong,
        pytest.raises(SupervisorTlsError) as refused,
    ):
        wrong.submit(workflow="far", inputs={"secret": CANARY})
    message = str(refused.value)
    assert f"expected {expected}, presented {presented}" in message, message
    assert "Nothing was sent to it" in message and f"--pin {presented}" in message
    assert "CN=localhost" in message  # what is there now, for the person deciding
    assert refused.value.expected == expected
    assert refused.value.presented is not None
    assert refused.value.presented.fingerprint == presented
    assert listening.listener.seen == []  # no request line, no header, no token, no body


def test_the_pinned_certificate_gets_the_request(listening: Listening, tmp_path: Path) -> None:
    pin = fingerprint(der_of(listening.served))
    before = len(listening.listener.seen)
    with client(tmp_path, listening.listener.url, pin) as right, pytest.raises(SupervisorApiError):
        right.health()  # the listener answers 503 to everything
    method, path, headers, _ = listening.listener.seen[before]
    assert (method, path) == ("GET", "/health")
    assert headers["authorization"] == f"Bearer {CANARY}"


def test_the_handshake_alone_fails_on_a_mismatch(listening: Listening) -> None:
    """The check sits in the TLS socket: any client using the context gets it."""
    import socket

    context = pinned_context(fingerprint(der_of(listening.other)))
    host, port = "127.0.0.1", int(listening.listener.url.rsplit(":", 1)[1])
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        pytest.raises(CertificatePinMismatch),
    ):
        context.wrap_socket(raw, server_hostname=host)


def test_what_a_server_presents_is_described(listening: Listening) -> None:
    shown = certificate_info(presented_certificate(listening.listener.url))
    assert shown.fingerprint == fingerprint(der_of(listening.served))
    assert shown.subject == "CN=localhost" and shown.self_signed
    assert shown.not_before is not None and shown.not_after is not None
    assert shown.not_before < shown.not_after
