"""Real self-signed certificates for TLS tests, made with ``cryptography``.

``self_signed(folder, name)`` writes ``name.pem`` (certificate) and
``name.key`` (unencrypted private key) for ``127.0.0.1`` and ``localhost``,
as the README's openssl command makes them: the certificate is its own CA,
so a client that trusts the file has pinned this one server.

``tls_daemon(token)`` runs a real supervisor whose API also listens on
127.0.0.1 with such a certificate and ``token`` as the fleet token; its
catalog holds one workflow, ``far``.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.helpers.daemon import RunningDaemon


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def self_signed(folder: Path, name: str, *, common_name: str = "localhost") -> CertFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = CertFiles(cert=folder / f"{name}.pem", key=folder / f"{name}.key")
    files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


@dataclass
class TlsDaemon:
    """A supervisor whose API also listens on 127.0.0.1 with TLS and a fleet token."""

    daemon: RunningDaemon
    url: str
    cert: CertFiles
    #: a certificate nobody vouched for: trusting it must not let a client in
    stranger: CertFiles
    files: Path


@contextlib.contextmanager
def tls_daemon(token: str) -> Iterator[TlsDaemon]:
    """A real daemon (in this process) serving HTTPS with a certificate made here."""
    from supervisor.client import SupervisorClient
    from tests.helpers.daemon import TINY_WORKFLOW, RunningDaemon, short_home

    files = short_home("dp-tls-")
    cert = self_signed(files, "server")
    stranger = self_signed(files, "stranger")
    home = short_home()
    # with its catalog: another machine may submit the paths the catalog lists
    daemon = RunningDaemon(home, triggers=True, workflows={"far": TINY_WORKFLOW.format(name="far")})
    try:
        with pytest.MonkeyPatch.context() as patch:  # read once, when the API starts
            patch.setenv("DESKPILOT_API_LISTEN", "127.0.0.1:0")
            patch.setenv("DESKPILOT_API_TOKEN", token)
            patch.setenv("DESKPILOT_API_TLS_CERT", str(cert.cert))
            patch.setenv("DESKPILOT_API_TLS_KEY", str(cert.key))
            daemon.start()
        with SupervisorClient(daemon.paths, remote=None) as local:
            url = next(m.api_url for m in local.machines() if m.this)
        assert url is not None and url.startswith("https://127.0.0.1:"), url
        yield TlsDaemon(daemon, url, cert, stranger, files)
    finally:
        daemon.stop()
        for folder in (home, files):
            shutil.rmtree(folder, ignore_errors=True)


def der_of(cert: CertFiles) -> bytes:
    """The DER bytes of a certificate file, what a pin is the SHA-256 of."""
    import ssl

    return ssl.PEM_cert_to_DER_cert(cert.cert.read_text())


@dataclass
class RecordingListener:
    """A real uvicorn HTTPS listener that records every request that reaches it."""

    url: str
    #: (method, path, headers, body) of each request, in order
    seen: list[tuple[str, str, dict[str, str], bytes]]


@contextlib.contextmanager
def recording_listener(cert: CertFiles) -> Iterator[RecordingListener]:
    """uvicorn on 127.0.0.1 (a free port) with ``cert``; every request is recorded and
    answered 503, so a client that gets a request through learns nothing from it."""
    import threading
    from typing import Any

    import uvicorn

    from tests.helpers.common import eventually

    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        seen.append((scope["method"], scope["path"], headers, body))
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ssl_certfile=str(cert.cert),
        ssl_keyfile=str(cert.key),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="recording-listener", daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, timeout=20)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield RecordingListener(url=f"https://127.0.0.1:{port}", seen=seen)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
