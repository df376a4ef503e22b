"""Webhook calls: the secret check and the inputs a call gives its run.

A webhook trigger names a keyring secret; the caller presents a value, which
is compared with the secret in constant time (``hmac.compare_digest`` on the
UTF-8 bytes, so a non-ASCII secret works too).  The API maps the errors:
no value presented → 401, a wrong value or a secret missing from the
keyring → 403, an unknown webhook → 404.  Messages never contain a value.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

from automation.model import Trigger, WebhookTrigger
from supervisor.triggers.errors import WebhookForbidden, WebhookUnauthorized

logger = logging.getLogger(__name__)


def check_secret(spec: WebhookTrigger, presented: str | None, expected: str | None) -> None:
    """Raise unless ``presented`` is the secret ``expected`` (read from the keyring)."""
    if not presented:
        raise WebhookUnauthorized(f"webhook '{spec.name}' was called without its secret")
    if expected is None:
        logger.warning(
            "webhook %s was called but its secret '%s' is not in the keyring",
            spec.name,
            spec.secret,
        )
        raise WebhookForbidden(
            f"webhook '{spec.name}' cannot be called yet: its secret '{spec.secret}' is not "
            f"in the keyring; set it with 'deskpilot secrets set {spec.secret}'"
        )
    if not hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8")):
        logger.warning("webhook %s was called with a wrong secret", spec.name)
        raise WebhookForbidden(f"wrong secret for webhook '{spec.name}'")


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
