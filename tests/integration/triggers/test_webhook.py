"""Webhook triggers against the real keyring: a call signed with the right secret runs,
anything else is refused with one answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.blocks.registry import BlockRegistry
from automation.redaction import process_redactor
from automation.secrets import KeyringSecretStore
from supervisor.rate import RateLimits
from supervisor.triggers.errors import (
    WebhookPayloadInvalid,
    WebhookRejected,
    WebhookReplayed,
    WebhookThrottled,
)
from supervisor.webhook_signature import sign
from tests.helpers.common import eventually
from tests.integration.triggers.harness import (
    PASS_NODES,
    DaemonThread,
    not_run,
    small_config,
    started,
    write_workflow,
)

pytestmark = pytest.mark.keyring

SECRET = "correct horse battery staple ✓"


@pytest.fixture
def daemon(
    tmp_path: Path, registry: BlockRegistry, secret_store: KeyringSecretStore
) -> Iterator[DaemonThread]:
    secret_store.set("deploy_token", SECRET)
    write_workflow(
        tmp_path / "workflows",
        "deploy",
        "inputs:\n  who: {type: string, default: nobody}\n  payload: {type: object}\n"
        + PASS_NODES
        + "triggers:\n"
        + "  - {type: webhook, name: deploy, secret: deploy_token, inputs: {who: trigger}}\n"
        + "  - {type: webhook, name: unset, secret: never_set}\n",
    )
    running = DaemonThread(tmp_path, registry).start()
    try:
        yield running
    finally:
        running.stop()


_LAST = [0]


def fresh_timestamp() -> int:
    """A timestamp no earlier call used, inside the window: the same body signed with the
    same timestamp twice is the same request, a replay."""
    _LAST[0] = max(int(time.time()) - 200, _LAST[0] + 1)
    return _LAST[0]


def signed(secret: str | None, payload: Any, at: float | None = None) -> tuple[str | None, bytes]:
    body = json.dumps(payload).encode()
    if secret is None:
        return None, body
    return sign(secret, body, fresh_timestamp() if at is None else int(at)), body


def call(
    daemon: DaemonThread, name: str, secret: str | None, payload: Any, at: float | None = None
) -> str | None:
    header, body = signed(secret, payload, at)
    return daemon.call(daemon.triggers.webhook, name, header, body)


def test_the_right_secret_starts_a_run_with_the_payload_inputs(daemon: DaemonThread) -> None:
    run_id = call(daemon, "deploy", SECRET, {"who": "alice", "not_an_input": 1})
    assert run_id is not None
    run = daemon.parts.store.get_run(run_id)
    assert run is not None and run.trigger == "webhook:deploy"
    assert run.inputs == {"who": "alice", "payload": {"who": "alice", "not_an_input": 1}}
    assert daemon.trigger_info("deploy:0")["last_fire_at"] is not None
    # read from the keyring by the supervisor itself: its logs and answers mask it now
    assert process_redactor().text(f"x {SECRET}") == "x ***"


def test_the_async_variant_reads_the_keyring_off_the_loop(daemon: DaemonThread) -> None:
    loop = daemon._loop
    assert loop is not None
    future = asyncio.run_coroutine_threadsafe(
        daemon.triggers.call_webhook("deploy", *signed(SECRET, {})), loop
    )
    run_id = future.result(10)
    assert run_id is not None
    run = daemon.parts.store.get_run(run_id)
    assert run is not None and run.inputs is not None and run.inputs["who"] == "trigger"


def test_every_failed_proof_gets_one_answer_and_nothing_runs(daemon: DaemonThread) -> None:
    attempts = [  # (name, secret, seconds from the moment of the call or None: a fresh stamp)
        ("deploy", SECRET + "x", None),  # wrong secret
        ("deploy", None, None),  # no signature
        ("deploy", SECRET, -302.0),  # past the replay window
        ("deploy", SECRET, 302.0),  # too far ahead
        ("unset", "anything", None),  # its secret is not in the keyring
        ("nobody-has-this", SECRET, None),  # unknown name: no 404-vs-401 oracle
    ]
    messages = set()
    for name, secret, offset in attempts:
        # stamped at the call, not when the list was built: on a loaded machine the
        # calls before it can take the second that "+301" had to spare
        at = None if offset is None else time.time() + offset
        with pytest.raises(WebhookRejected) as refused:
            call(daemon, name, secret, {}, at)
        assert refused.value.status_code == 401
        messages.add(str(refused.value))
    assert len(messages) == 1
    header, body = signed(SECRET, {"who": "a"})
    for tampered in (body + b" ", b'{"who": "b"}'):
        with pytest.raises(WebhookRejected):
            daemon.call(daemon.triggers.webhook, "deploy", header, tampered)
    for malformed in ("", "t=1", "v1=00", "t=abc,v1=00", "t=1,v1=zz", "x" * 5000):
        with pytest.raises(WebhookRejected):
            daemon.call(daemon.triggers.webhook, "deploy", malformed, body)
    assert daemon.runs("deploy") == []


def test_a_replayed_request_is_refused(daemon: DaemonThread) -> None:
    header, body = signed(SECRET, {"who": "once"})
    assert daemon.call(daemon.triggers.webhook, "deploy", header, body) is not None
    with pytest.raises(WebhookReplayed) as replayed:
        daemon.call(daemon.triggers.webhook, "deploy", header, body)
    assert replayed.value.status_code == 409
    assert len(daemon.runs("deploy")) == 1
    # a rotated secret: several v1 values, one of them right, is accepted
    header, body = signed(SECRET, {"who": "twice"})
    rotated = header.replace(",v1=", ",v1=" + "0" * 64 + ",v1=")
    assert daemon.call(daemon.triggers.webhook, "deploy", rotated, body) is not None


def test_the_body_is_parsed_only_after_the_signature_holds(daemon: DaemonThread) -> None:
    with pytest.raises(WebhookRejected):
        daemon.call(daemon.triggers.webhook, "deploy", None, b"not json")
    for body in (b"not json", b"[1, 2]", b'{"n": ' + b"9" * 5000 + b"}", b"[" * 100_000):
        header = sign(SECRET, body, int(time.time()))
        with pytest.raises(WebhookPayloadInvalid) as invalid:
            daemon.call(daemon.triggers.webhook, "deploy", header, body)
        assert invalid.value.status_code == 422


def test_a_paused_webhook_accepts_the_call_but_runs_nothing(daemon: DaemonThread) -> None:
    assert daemon.call(daemon.triggers.pause, "deploy:0") is True
    assert call(daemon, "deploy", SECRET, {}) is None
    with pytest.raises(WebhookRejected):
        call(daemon, "deploy", "wrong", {})  # pausing does not skip the signature check
    daemon.call(daemon.triggers.resume_all)
    assert call(daemon, "deploy", SECRET, {}) is not None
    assert len(daemon.runs("deploy")) == 1


def test_a_webhook_name_declared_twice_is_reported_then_handed_over(
    daemon: DaemonThread, tmp_path: Path
) -> None:
    write_workflow(
        tmp_path / "workflows",
        "rival",
        PASS_NODES + "triggers:\n  - {type: webhook, name: deploy, secret: deploy_token}\n",
    )
    eventually(
        lambda: (
            "already used by trigger deploy:0"
            in (daemon.trigger_info("rival:0")["last_error"] or "")
        )
    )
    assert workflow_of(daemon, call(daemon, "deploy", SECRET, {})) == "deploy"
    (tmp_path / "workflows" / "deploy.yaml").unlink()
    eventually(lambda: daemon.trigger_info("rival:0")["last_error"] is None)
    assert workflow_of(daemon, call(daemon, "deploy", SECRET, {})) == "rival"


def workflow_of(daemon: DaemonThread, run_id: str | None) -> str:
    assert run_id is not None
    run = daemon.parts.store.get_run(run_id)
    assert run is not None
    return run.workflow_name


def test_a_signed_call_past_the_run_rate_ceiling_is_refused_and_recorded(
    tmp_path: Path, registry: BlockRegistry, secret_store: KeyringSecretStore
) -> None:
    secret_store.set("deploy_token", SECRET)
    write_workflow(
        tmp_path / "workflows",
        "deploy",
        PASS_NODES + "triggers:\n  - {type: webhook, name: deploy, secret: deploy_token}\n",
    )
    config = small_config(rate_limits=RateLimits(per_trigger=1, total=100, window=600.0))
    daemon = DaemonThread(tmp_path, registry, config).start()
    try:
        assert call(daemon, "deploy", SECRET, {}) is not None
        with pytest.raises(WebhookThrottled, match="its ceiling") as throttled:
            call(daemon, "deploy", SECRET, {})
        assert throttled.value.status_code == 429
        # the record of the refused fire is written behind, on the store lane
        eventually(
            lambda: [r.trigger for r in not_run(daemon.runs("deploy"))] == ["webhook:deploy"],
            timeout=10,
        )
        assert len(started(daemon.runs("deploy"))) == 1
    finally:
        daemon.stop()
