"""Another machine's API over TLS: the real listener, real certificates, the real CLI.

One supervisor serves its API on 127.0.0.1 with a self-signed certificate
made here (``DESKPILOT_API_LISTEN`` + ``DESKPILOT_API_TLS_CERT/KEY``) and a
canary fleet token.  ``deskpilot`` runs as a subprocess in another home (no
supervisor of its own), pointed at that URL the ways a user would: ``--api``
with ``--ca``, the environment, and the connection saved with the token in a
real (private) keyring.  Refusals must say what happened and what to do; the
canary token must not appear in any file either home holds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.daemon import CLI_BOOT, short_home, write_workflow
from tests.helpers.keyring_session import RealKeyring
from tests.helpers.tls import TlsDaemon, der_of, tls_daemon

CANARY = "canary-remote-token-7f3a9c1e5b2d4680aa11bb22cc33dd44"


@dataclass
class Served(TlsDaemon):
    client_home: Path


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    client_home = short_home()
    try:
        with tls_daemon(CANARY) as served:
            yield Served(
                served.daemon, served.url, served.cert, served.stranger, served.files, client_home
            )
    finally:
        shutil.rmtree(client_home, ignore_errors=True)


def cli(
    served: Served, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DESKPILOT_API", "DESKPILOT_REMOTE"))
    }
    return subprocess.run(
        [sys.executable, "-c", CLI_BOOT, *args],
        env={**base, "DESKPILOT_HOME": str(served.client_home), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_reaches_the_remote_api_with_the_pinned_certificate(
    served: Served, tmp_path: Path
) -> None:
    done = cli(
        served,
        "--api",
        served.url,
        "--ca",
        str(served.cert.cert),
        "machines",
        "--json",
        env={"DESKPILOT_API_TOKEN": CANARY},
    )
    assert done.returncode == 0, done.stderr
    assert '"this": true' in done.stdout
    remote = {
        "DESKPILOT_REMOTE": served.url,
        "DESKPILOT_API_CA": str(served.cert.cert),
        "DESKPILOT_API_TOKEN": CANARY,
    }
    # a file of this machine: the other one would read that path on its own disk
    refused = cli(served, "submit", str(write_workflow(tmp_path, "mine")), env=remote)
    assert refused.returncode == 1
    assert "is a file on this machine" in refused.stderr, refused.stderr
    # a file of its catalog runs there
    theirs = served.daemon.paths.workflows_dir / "far.yaml"
    done = cli(served, "submit", str(theirs), "--wait", env=remote)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "succeeded" in done.stdout + done.stderr


def test_a_certificate_nobody_vouched_for_is_refused(served: Served) -> None:
    token = {"DESKPILOT_API_TOKEN": CANARY}
    wrong = cli(
        served, "--api", served.url, "--ca", str(served.stranger.cert), "runs", "list", env=token
    )
    assert wrong.returncode == 1
    assert "TLS: the certificate of" in wrong.stderr and "not trusted" in wrong.stderr
    assert "--ca FILE" in wrong.stderr, wrong.stderr
    system_only = cli(served, "--api", served.url, "runs", "list", env=token)
    assert system_only.returncode == 1
    assert "checked against the system's CAs" in system_only.stderr, system_only.stderr


def test_the_untrusted_error_shows_the_fingerprint_to_pin(served: Served) -> None:
    from supervisor.pinning import fingerprint

    token = {"DESKPILOT_API_TOKEN": CANARY}
    theirs = fingerprint(der_of(served.cert))
    untrusted = cli(served, "--api", served.url, "workers", env=token)
    assert untrusted.returncode == 1
    assert f"it presents {theirs} (CN=localhost, self-signed, valid" in untrusted.stderr
    assert f"pin it with --pin {theirs}" in untrusted.stderr, untrusted.stderr
    pinned = cli(served, "--api", served.url, "--pin", theirs, "workers", env=token)
    assert pinned.returncode == 0, pinned.stderr
    stranger = fingerprint(der_of(served.stranger))
    changed = cli(served, "--api", served.url, "--pin", stranger, "workers", env=token)
    assert changed.returncode == 1
    assert f"expected {stranger}, presented {theirs}" in changed.stderr, changed.stderr
    bad = cli(served, "--api", served.url, "--pin", "sha256:12", "workers", env=token)
    assert bad.returncode == 2 and "not a SHA-256 certificate fingerprint" in bad.stderr


def test_connection_set_saves_the_pin_with_the_address(
    served: Served, real_keyring: RealKeyring
) -> None:
    import json

    from supervisor.pinning import fingerprint

    keyring_env = {**real_keyring.env, "DESKPILOT_KEYRING_SERVICE": "dp-remote-pin-test"}
    theirs = fingerprint(der_of(served.cert))
    colons = ":".join(theirs[7:][i : i + 2] for i in range(0, 64, 2)).upper()
    saved = cli(
        served,
        "connection",
        "set",
        served.url,
        "--pin",
        f"sha256 Fingerprint={colons}",  # as openssl prints it
        "--token-stdin",
        env=keyring_env,
        stdin=CANARY + "\n",
    )
    assert saved.returncode == 0, saved.stderr
    try:
        body = json.loads((served.client_home / "config" / "connection.json").read_text())
        assert body["pin"] == theirs and body["ca_file"] is None
        shown = cli(served, "connection", "show", env=keyring_env)  # asks its /health
        assert shown.returncode == 0, shown.stderr
        assert f"pin: {theirs}" in shown.stdout and "answering: True" in shown.stdout
        stranger = fingerprint(der_of(served.stranger))
        body["pin"] = stranger  # as if the machine now presented another certificate
        (served.client_home / "config" / "connection.json").write_text(json.dumps(body))
        refused = cli(served, "workers", env=keyring_env)
        assert refused.returncode == 1
        assert f"expected {stranger}, presented {theirs}" in refused.stderr
    finally:
        cli(served, "connection", "clear", env=keyring_env)


def test_a_wrong_token_is_refused_with_what_to_do(served: Served) -> None:
    done = cli(
        served,
        "--api",
        served.url,
        "--ca",
        str(served.cert.cert),
        "runs",
        "list",
        env={"DESKPILOT_API_TOKEN": "w" * 40},
    )
    assert done.returncode == 1
    assert "refused the API token (401)" in done.stderr, done.stderr
    assert "deskpilot connection set" in done.stderr
    missing = cli(served, "--api", served.url, "--ca", str(served.cert.cert), "runs", "list")
    assert missing.returncode == 1
    assert "no API token for" in missing.stderr, missing.stderr


def test_unreachable_and_plain_http_say_what_to_do(served: Served) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    token = {"DESKPILOT_API_TOKEN": CANARY}
    down = cli(served, "--api", f"https://127.0.0.1:{closed}", "runs", "list", env=token)
    assert down.returncode == 1
    assert "cannot reach the supervisor at" in down.stderr, down.stderr
    assert "DESKPILOT_API_LISTEN" in down.stderr
    plain = cli(served, "--api", served.url.replace("https", "http"), "runs", "list", env=token)
    assert plain.returncode == 1
    assert "if it serves TLS, connect with https://" in plain.stderr, plain.stderr
    far = cli(served, "--api", "http://robot-2.invalid:8750", "runs", "list", env=token)
    assert far.returncode == 1 and "plain HTTP to another machine" in far.stderr, far.stderr


def test_the_saved_connection_takes_its_token_from_the_keyring(
    served: Served, real_keyring: RealKeyring
) -> None:
    keyring_env = {**real_keyring.env, "DESKPILOT_KEYRING_SERVICE": "dp-remote-test"}
    saved = cli(
        served,
        "connection",
        "set",
        served.url,
        "--ca",
        str(served.cert.cert),
        "--token-stdin",
        env=keyring_env,
        stdin=CANARY + "\n",
    )
    assert saved.returncode == 0, saved.stderr
    assert "connected to" in saved.stdout
    try:
        listed = cli(served, "runs", "list", env=keyring_env)
        assert listed.returncode == 0, listed.stderr
        assert "far" in listed.stdout  # the served machine's history, not this home's
        shown = cli(served, "connection", "show", env=keyring_env)
        assert shown.returncode == 0, shown.stderr
        assert f"target: {served.url}" in shown.stdout and "token: set" in shown.stdout
        assert CANARY not in shown.stdout
        here = cli(served, "--api", "local", "workers", env=keyring_env)
        assert here.returncode == 1 and "not running" in here.stderr, here.stderr
    finally:
        cleared = cli(served, "connection", "clear", env=keyring_env)
    assert cleared.returncode == 0, cleared.stderr
    assert not (served.client_home / "config" / "connection.json").exists()


def test_machine_names_a_fleet_member_by_its_advertised_address(served: Served) -> None:
    """--machine HOST: the address from the supervisors table, asked of the local API."""
    store = served.daemon.parts.store
    store.register_supervisor("a" * 32, host="robot-tls", api_url=served.url, version="0")
    store.register_supervisor("b" * 32, host="robot-quiet", api_url="/run/x/api.sock")
    home = {"DESKPILOT_HOME": str(served.daemon.home), "DESKPILOT_API_TOKEN": CANARY}
    done = cli(served, "--machine", "robot-tls", "--ca", str(served.cert.cert), "workers", env=home)
    assert done.returncode == 0, done.stderr
    unknown = cli(served, "--machine", "robot-none", "workers", env=home)
    assert unknown.returncode == 1 and "no machine named 'robot-none'" in unknown.stderr
    assert "robot-tls" in unknown.stderr  # the known ones are listed
    quiet = cli(served, "--machine", "robot-quiet", "workers", env=home)
    assert quiet.returncode == 1 and "answers on that machine only" in quiet.stderr


def test_a_supervisor_of_another_release_is_refused_with_what_to_do(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import supervisor.api.routes_system as routes_system

    # the served supervisor runs in this process: its /health now reports another release
    monkeypatch.setattr(routes_system, "_version", lambda: "99.0.0")
    done = cli(
        served,
        "--api",
        served.url,
        "--ca",
        str(served.cert.cert),
        "workers",
        env={"DESKPILOT_API_TOKEN": CANARY},
    )
    assert done.returncode == 1
    assert f"the supervisor at {served.url} runs Deskpilot 99.0.0" in done.stderr, done.stderr
    assert "install the same release on both machines" in done.stderr


def test_the_canary_token_is_nowhere_on_disk(served: Served) -> None:
    """Logs, events, the database, the settings: run last, after the others used the token."""
    debug = cli(
        served,
        "--debug",
        "--api",
        served.url,
        "--ca",
        str(served.cert.cert),
        "runs",
        "list",
        env={"DESKPILOT_API_TOKEN": CANARY},
    )
    assert debug.returncode == 0, debug.stderr
    assert CANARY not in debug.stdout + debug.stderr
    found = []
    for root in (served.daemon.home, served.client_home):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_socket() and CANARY.encode() in path.read_bytes():
                found.append(path)
    assert found == []
