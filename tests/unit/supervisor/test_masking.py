"""Hang evidence is masked against the secrets the run's workflow can read, or withheld."""

from __future__ import annotations

import json
from pathlib import Path

from automation.redaction import MASK, Redactor
from automation.secrets import MemorySecretStore
from supervisor.masking import WITHHELD, evidence_redactor, mask_evidence, reachable_secret_names
from supervisor.workers import save_evidence, tail

USES_ONE = """\
deskpilot: 1
name: uses-one
nodes:
  call:
    block: notify.log
    with: {message: "{{ secrets.api_token }}"}
"""

CALLS_A_SUBFLOW = """\
deskpilot: 1
name: calls-sub
nodes:
  sub:
    block: control.subflow
    with: {path: other.yaml}
"""

STORE = {"api_token": "token-value-1234", "mail_password": "mail-value-5678"}


def test_the_names_a_workflow_reads() -> None:
    store = MemorySecretStore(STORE)

    assert reachable_secret_names(USES_ONE, store) == ["api_token"]


def test_a_subflow_can_read_any_secret_so_all_are_reachable() -> None:
    store = MemorySecretStore(STORE)

    assert reachable_secret_names(CALLS_A_SUBFLOW, store) == ["api_token", "mail_password"]


def test_the_redactor_learns_the_values_from_the_store() -> None:
    redactor = evidence_redactor(USES_ONE, MemorySecretStore(STORE))

    assert redactor is not None
    assert redactor.text("tok: token-value-1234") == f"tok: {MASK}"


def test_an_unreadable_keyring_withholds_what_may_carry_a_secret(tmp_path: Path) -> None:
    class Broken(MemorySecretStore):
        def get(self, name: str) -> str | None:
            from automation.errors import SecretError

            raise SecretError("the keyring is locked")

    assert evidence_redactor(USES_ONE, Broken()) is None
    data = {
        "reason": "hung",
        "pid": 7,
        "process_tree": [{"pid": 7, "cmdline": ["curl", "secret"], "rss": 1}],
        "worker_log_tail": "secret",
        "python_stacks": {"threads": []},
    }

    masked = mask_evidence(data, None)

    assert masked["reason"] == "hung" and masked["pid"] == 7
    assert masked["process_tree"] == [{"pid": 7, "cmdline": WITHHELD, "rss": 1}]
    assert masked["worker_log_tail"] == WITHHELD and masked["python_stacks"] == WITHHELD


def test_saved_evidence_is_masked_in_every_field(tmp_path: Path) -> None:
    secret = "Can/ary+Val=ue wörd"
    log = tmp_path / "worker.log"
    # the tail starts inside the secret: masked before the cut, no suffix of it is left
    log.write_text("x" * 50 + json.dumps({"msg": f"GET ?t={secret}"}) + "\n", encoding="utf-8")
    redactor = Redactor([secret])
    written = log.read_text(encoding="utf-8")
    limit = len(written) - (written.index("Can/") + 5)  # the tail starts at 'ry+Val...'

    path = save_evidence(
        tmp_path / "evidence.json",
        pid=1,
        reason="hung",
        log_tail=tail(log, limit, redactor=redactor),
        extra={"python_stacks": {"locals": {"password": secret}}},
        redactor=redactor,
    )

    text = path.read_text(encoding="utf-8")
    assert "ry+Val=ue" not in text and "wörd" not in text and "w\\u00f6rd" not in text
    assert json.loads(text)["python_stacks"] == {"locals": {"password": MASK}}
