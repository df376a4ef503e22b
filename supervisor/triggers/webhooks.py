"""Webhook calls: the signature check, the body, and the inputs a call gives its run.

A webhook trigger names a keyring secret; a call proves it knows it by
signing (``supervisor.webhook_signature``: HMAC-SHA256 of the timestamp and
the body, a replay window and a nonce cache).  Every way of failing that
proof (no header, a malformed or wrong signature, an expired timestamp, an
unknown webhook name, a secret missing from the keyring) gets the same
answer, ``WebhookRejected`` (401), so a caller without the secret learns
nothing, not even which names exist; the log says which it was.  Only a
verified body is parsed.  Messages never contain a value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automation.loader import LoadedWorkflow
from automation.model import Trigger, WebhookTrigger
from automation.redaction import process_redactor
from supervisor import webhook_signature as signature
from supervisor.triggers.active import ActiveTrigger
from supervisor.triggers.errors import (
    WebhookNotFound,
    WebhookPayloadInvalid,
    WebhookRejected,
    WebhookReplayed,
    WebhookThrottled,
)
from supervisor.triggers.specs import fit

if TYPE_CHECKING:
    from supervisor.triggers.manager import TriggerManager

logger = logging.getLogger(__name__)

#: Keyed HMACs for unknown names use this key, so they cost what a real check costs.
_NO_SECRET = "deskpilot: no such webhook"


def verify_call(
    name: str,
    spec: WebhookTrigger | None,
    header: str | None,
    body: bytes,
    expected: str | None,
    *,
    now: float,
    replays: signature.ReplayCache,
) -> None:
    """Raise ``WebhookRejected`` unless ``header`` signs ``body`` for webhook ``spec`` now.

    ``spec`` is None for an unknown name; ``expected`` is the secret read from
    the keyring (None when it is not there); ``now`` is unix time.  A valid
    signature seen before raises ``WebhookReplayed``.
    """
    parsed = signature.parse(header)
    key = expected if spec is not None and expected is not None else _NO_SECRET
    found = signature.matches(parsed, key, body) if parsed is not None else None
    if spec is None:
        reason = "no webhook has this name"
    elif expected is None:
        reason = f"its secret '{spec.secret}' is not in the keyring (deskpilot secrets set {spec.secret})"
    elif header is None:
        reason = f"no {signature.HEADER} header"
    elif parsed is None:
        reason = f"the {signature.HEADER} header is malformed"
    elif found is None:
        reason = "the signature does not match (wrong secret, or the body changed)"
    elif abs(now - parsed.timestamp) > replays.window:
        reason = f"its timestamp is {now - parsed.timestamp:+.0f} s from now, outside the window"
    else:
        reason = None
    if reason is not None:
        logger.warning("webhook call to %r refused: %s", name[:100], reason)
        raise WebhookRejected()
    assert found is not None
    if not replays.first_time(found, now):
        logger.warning("webhook %s: a replayed request was refused", name)
        raise WebhookReplayed()


def parse_payload(body: bytes) -> dict[str, Any]:
    """A verified body as the JSON object it must be (empty: no payload)."""
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # also integers past the digit limit
        payload = None
    if not isinstance(payload, dict):
        raise WebhookPayloadInvalid(
            "the webhook payload must be a JSON object (or empty), "
            "with whole numbers of at most 4300 digits and nesting Python can read"
        )
    return payload


def webhook_inputs(
    spec: WebhookTrigger, declared: Mapping[str, Any], payload: Mapping[str, Any]
) -> dict[str, Any]:
    """The trigger's inputs, overridden by payload keys the workflow declares as inputs.

    A declared input named ``payload`` receives the whole payload, unless
    the payload has a ``payload`` key of its own.  Other keys are ignored.
    """
    inputs = dict(spec.inputs)
    inputs.update({key: value for key, value in payload.items() if key in declared})
    if "payload" in declared and "payload" not in payload:
        inputs["payload"] = dict(payload)
    return inputs


def bind_webhooks(
    bound: Mapping[str, str], specs: Mapping[str, Trigger]
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Bind each webhook name to one trigger: the one holding it keeps it, else the first.

    ``bound`` maps webhook names to the trigger keys holding them now;
    ``specs`` is every trigger by key, in list order.  Returns the new
    binding and, for every webhook trigger, its problem (None when it holds
    its name).  A second trigger declaring a bound name cannot be called; it
    takes the name over when the holder goes away.
    """
    kept: dict[str, str] = {}
    for name, key in bound.items():
        spec = specs.get(key)
        if isinstance(spec, WebhookTrigger) and spec.name == name:
            kept[name] = key
    problems: dict[str, str | None] = {}
    for key, spec in specs.items():
        if not isinstance(spec, WebhookTrigger):
            continue
        holder = kept.setdefault(spec.name, key)
        problems[key] = (
            None
            if holder == key
            else f"webhook name '{spec.name}' is already used by trigger "
            f"{holder}; this one cannot be called until one of them is renamed"
        )
    return kept, problems


def webhook_secret(manager: TriggerManager, name: str) -> str | None:
    """The keyring secret of webhook ``name`` (blocking: D-Bus); masked from now on."""
    # an unknown name reads the keyring too: both answers take about as long
    trigger = manager._webhook(name)
    spec = trigger.spec if trigger is not None else None
    value = manager.secrets().get(spec.secret if isinstance(spec, WebhookTrigger) else "no_webhook")
    if value is not None:
        # resolved in this process: masked in whatever it logs or answers from now on
        process_redactor().add(value)
    return value


def admit_call(
    manager: TriggerManager, name: str, header: str | None, body: bytes, expected: str | None
) -> tuple[ActiveTrigger, LoadedWorkflow, dict[str, Any], str] | None:
    """The verified call's trigger, workflow, inputs and label; None if not to run.

    Raises the errors of ``verify_call``, ``WebhookNotFound`` or ``WebhookThrottled``
    (the fire is recorded as skipped).
    """
    trigger = manager._webhook(name)
    spec = trigger.spec if trigger is not None else None
    assert spec is None or isinstance(spec, WebhookTrigger)
    now = manager.clock.wall().timestamp()  # the caller signed on a clock like this one
    verify_call(name, spec, header, body, expected, now=now, replays=manager._replays)
    payload = parse_payload(body)  # only a verified body is parsed
    assert trigger is not None and spec is not None
    if not trigger.active:
        logger.info(
            "webhook %s called while its trigger is %s; not running",
            spec.name,
            "disabled" if not spec.enabled else f"paused ({trigger.paused_reason})",
        )
        return None
    loaded = manager.catalog.get(trigger.workflow)
    if loaded is None:
        raise WebhookNotFound(spec.name)
    inputs = webhook_inputs(spec, loaded.workflow.inputs, payload)
    label = fit(f"webhook:{spec.name}")
    refused = manager.rate.admit(trigger.key, manager.supervisor.clock())
    if refused is not None:
        manager._skip(trigger, loaded, inputs, label, manager.now(), refused)
        raise WebhookThrottled(refused)
    return trigger, loaded, inputs, label
