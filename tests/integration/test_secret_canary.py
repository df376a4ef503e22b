"""A canary secret, used every way a workflow can use one, must never leave the keyring.

Real keyring (gnome-keyring in a private D-Bus session), real CLI subprocess,
real HTTP server echoing the secret back in several encodings; then every
byte Deskpilot wrote is searched: stdout, stderr, the SQLite database and its
WAL, log files and artifacts.
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from automation.secrets import KeyringSecretStore
from tests.integration.test_cli import deskpilot

CANARY = "Canary/Value+7f3a9c?"

pytestmark = pytest.mark.keyring


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def test_canary_secret_never_reaches_output_history_or_logs(
    secret_store: KeyringSecretStore, http_server, tmp_path: Path
) -> None:
    secret_store.set("canary", CANARY)
    basic = base64.b64encode(f"user:{CANARY}".encode()).decode()
    http_server.add(
        "/echo",
        json={
            "echo": CANARY,
            "quoted": quote(CANARY, safe=""),
            "b64": base64.b64encode(CANARY.encode()).decode(),
            "basic": basic,
        },
    )
    workflow = tmp_path / "canary.yaml"
    workflow.write_text(
        textwrap.dedent(
            f"""
            name: canary
            nodes:
              say:
                block: notify.log
                with: {{message: "the token is {{{{ secrets.canary }}}}"}}
              call:
                block: http.request
                with:
                  url: "{http_server.url}/echo?token={{{{ secrets.canary | urlencode }}}}"
                  headers: {{Authorization: "Bearer {{{{ secrets.canary }}}}"}}
              keep:
                block: data.set_var
                with: {{name: seen, value: "{{{{ nodes.call.json }}}}"}}
              boom:
                block: control.fail
                with: {{message: "giving up with {{{{ secrets.canary }}}} in hand"}}
            links:
              - say -> call
              - call -> keep
              - keep -> boom
            outputs:
              leaked: "{{{{ secrets.canary }}}}"
            """
        )
    )
    home = tmp_path / "home"
    home.mkdir()

    result = deskpilot("run", str(workflow), "--json", home=home)

    # the run really used the secret: the server saw it, and the run failed where intended
    assert http_server.requests[-1].headers["authorization"] == f"Bearer {CANARY}"
    assert http_server.requests[-1].query["token"] == [CANARY]
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["failed_node"] == "boom"
    assert "***" in summary["error"]

    shown = deskpilot("runs", "show", summary["run_id"], "--json", home=home)
    listed = deskpilot("runs", "list", "--json", home=home)
    texts = {
        "run stdout": result.stdout,
        "run stderr": result.stderr,
        "runs show": shown.stdout + shown.stderr,
        "runs list": listed.stdout + listed.stderr,
    }
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("history.sqlite3") for p in files)
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        texts[str(path.relative_to(home))] = path.read_bytes().decode("latin-1")
    for where, text in texts.items():
        for form in forms(CANARY):
            assert form not in text, f"secret (as {form!r}) leaked into {where}"
        assert base64.b64encode(f"user:{CANARY}".encode()).decode()[8:20] not in text, where
