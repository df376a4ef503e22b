"""Choosing another machine's API: the URL, the saved file, the order of the settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor.client import SupervisorClient, compatible_versions
from supervisor.paths import DeskpilotPaths
from supervisor.remote import (
    ConnectionSettingError,
    RemoteApi,
    SavedConnection,
    check_transport_security,
    connection_path,
    load_saved,
    normalize_url,
    resolve,
    save,
    token_entry,
)

TOKEN = "t" * 40


def test_urls_are_normalized_and_bad_ones_refused() -> None:
    assert normalize_url("robot-2:8750") == "https://robot-2:8750"
    assert (
        normalize_url(" https://robot-2.example.com:8750/ ") == "https://robot-2.example.com:8750"
    )
    for bad in ("ftp://robot", "https://", "https://robot:99999", "https://u:p@robot"):
        with pytest.raises(ConnectionSettingError):
            normalize_url(bad)
    assert token_entry("https://robot-2:8750/") == token_entry("https://robot-2:8750")


def test_plain_http_beyond_loopback_is_refused_unless_asked_for() -> None:
    check_transport_security("https://robot-2:8750", {})
    check_transport_security("http://127.0.0.1:8750", {})
    with pytest.raises(ConnectionSettingError, match="unencrypted.*DESKPILOT_API_TLS_CERT"):
        check_transport_security("http://robot-2:8750", {})
    check_transport_security("http://robot-2:8750", {"DESKPILOT_ALLOW_PLAIN_HTTP": "1"})


def test_the_option_beats_the_saved_connection_and_local_beats_both(tmp_path: Path) -> None:
    assert resolve(tmp_path, {}) is None
    save(tmp_path, SavedConnection(url="https://saved:8750", ca_file=tmp_path / "ca.pem"))
    saved = resolve(tmp_path, {"DESKPILOT_API_TOKEN": TOKEN})
    assert saved is not None and saved.url == "https://saved:8750"
    assert saved.ca_file == tmp_path / "ca.pem" and saved.token == TOKEN
    chosen = resolve(
        tmp_path, {"DESKPILOT_REMOTE": "https://other:1", "DESKPILOT_API_TOKEN": TOKEN}
    )
    assert chosen is not None and chosen.url == "https://other:1" and chosen.ca_file is None
    assert resolve(tmp_path, {"DESKPILOT_REMOTE": "local"}) is None
    assert TOKEN not in repr(saved)
    assert TOKEN not in connection_path(tmp_path).read_text()
    save(tmp_path, None)
    assert load_saved(tmp_path) is None


def test_a_pin_is_saved_with_the_connection_and_an_option_replaces_the_saved_trust(
    tmp_path: Path,
) -> None:
    pin = "sha256:" + "ab" * 32
    save(tmp_path, SavedConnection(url="https://saved:8750", pin=pin.upper()[7:]))
    assert json.loads(connection_path(tmp_path).read_text())["pin"] == pin.upper()[7:]
    saved = resolve(tmp_path, {})
    assert saved is not None and saved.pin == pin and saved.ca_file is None
    assert saved.ssl_context().verify_mode.name == "CERT_NONE"  # the pin is the whole trust
    with_ca = resolve(tmp_path, {"DESKPILOT_API_CA": str(tmp_path / "ca.pem")})
    assert with_ca is not None and with_ca.pin is None
    other = "sha256:" + "cd" * 32
    with_pin = resolve(tmp_path, {"DESKPILOT_API_PIN": other})
    assert with_pin is not None and with_pin.pin == other
    with pytest.raises(ConnectionSettingError, match="DESKPILOT_API_PIN: 'nope' is not a SHA"):
        resolve(tmp_path, {"DESKPILOT_API_PIN": "nope"})
    connection_path(tmp_path).write_text(json.dumps({"url": "https://x:1", "pin": "12"}))
    with pytest.raises(ConnectionSettingError, match="bad 'pin'"):
        load_saved(tmp_path)


def test_a_damaged_saved_connection_says_how_to_fix_it(tmp_path: Path) -> None:
    connection_path(tmp_path).write_text(json.dumps({"address": "x"}))
    with pytest.raises(ConnectionSettingError, match="connection clear"):
        load_saved(tmp_path)


def test_a_missing_token_is_reported_at_the_first_request(tmp_path: Path) -> None:
    paths = DeskpilotPaths.under(tmp_path)
    client = SupervisorClient(paths, remote=RemoteApi(url="https://127.0.0.1:9", token=None))
    with pytest.raises(ConnectionSettingError, match="no API token for https://127.0.0.1:9"):
        client.health()


def test_a_ca_file_that_is_not_pem_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConnectionSettingError, match="ca.pem as the CA file"):
        RemoteApi(url="https://robot:1", ca_file=bad).ssl_context()


def test_versions_must_share_major_and_minor() -> None:
    assert compatible_versions("1.4.2", "1.4.0")
    assert not compatible_versions("1.5.0", "1.4.9")
    assert compatible_versions("unknown", "1.4.0")


def test_https_to_a_plain_http_server_says_so(tmp_path: Path) -> None:
    """A real plain-HTTP listener on loopback answers a TLS hello with HTTP."""
    import socket
    import threading

    from supervisor.client import SupervisorTlsError

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_once() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    remote = RemoteApi(url=f"https://127.0.0.1:{port}", token=TOKEN)
    try:
        with (
            SupervisorClient(DeskpilotPaths.under(tmp_path), remote=remote) as client,
            pytest.raises(SupervisorTlsError, match="does not answer with TLS.*use http://"),
        ):
            client.health()
    finally:
        thread.join(10)
        listener.close()
