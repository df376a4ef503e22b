"""Webhook triggers against the real keyring: the right secret runs, anything else is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.blocks.registry import BlockRegistry
from automation.secrets import KeyringSecretStore
from supervisor.triggers.errors import (
    WebhookForbidden,
    WebhookNotFound,
    WebhookRejected,
    WebhookUnauthorized,
)
from tests.helpers.common import eventually
from tests.integration.triggers.harness import PASS_NODES, DaemonThread, write_workflow

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


def call(
    daemon: DaemonThread, name: str, secret: str | None, payload: dict[str, Any]
) -> str | None:
    return daemon.call(daemon.triggers.webhook, name, secret, payload)


def test_the_right_secret_starts_a_run_with_the_payload_inputs(daemon: DaemonThread) -> None:
    run_id = call(daemon, "deploy", SECRET, {"who": "alice", "not_an_input": 1})
    assert run_id is not None
    run = daemon.parts.store.get_run(run_id)
    assert run is not None and run.trigger == "webhook:deploy"
    assert run.inputs == {"who": "alice", "payload": {"who": "alice", "not_an_input": 1}}
    assert daemon.trigger_info("deploy:0")["last_fire_at"] is not None


def test_the_async_variant_reads_the_keyring_off_the_loop(daemon: DaemonThread) -> None:
    loop = daemon._loop
    assert loop is not None
    future = asyncio.run_coroutine_threadsafe(
        daemon.triggers.call_webhook("deploy", SECRET, {}), loop
    )
    run_id = future.result(10)
    assert run_id is not None
    run = daemon.parts.store.get_run(run_id)
    assert run is not None and run.inputs is not None and run.inputs["who"] == "trigger"


def test_a_wrong_or_missing_secret_is_rejected_and_nothing_runs(daemon: DaemonThread) -> None:
    with pytest.raises(WebhookForbidden, match="wrong secret for webhook 'deploy'") as wrong:
        call(daemon, "deploy", SECRET + "x", {})
    assert wrong.value.status_code == 403
    with pytest.raises(WebhookUnauthorized) as missing:
        call(daemon, "deploy", None, {})
    assert missing.value.status_code == 401
    with pytest.raises(WebhookUnauthorized):
        call(daemon, "deploy", "", {})
    with pytest.raises(WebhookForbidden, match="'never_set' is not in the keyring"):
        call(daemon, "unset", "anything", {})
    with pytest.raises(WebhookNotFound) as unknown:
        call(daemon, "nobody-has-this", SECRET, {})
    assert unknown.value.status_code == 404
    assert issubclass(WebhookUnauthorized, WebhookRejected)
    assert daemon.runs("deploy") == []


def test_a_paused_webhook_accepts_the_call_but_runs_nothing(daemon: DaemonThread) -> None:
    assert daemon.call(daemon.triggers.pause, "deploy:0") is True
    assert call(daemon, "deploy", SECRET, {}) is None
    with pytest.raises(WebhookForbidden):
        call(daemon, "deploy", "wrong", {})  # pausing does not skip the secret check
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
