"""Errors raised by the triggers and the workflows catalog.

The hierarchy, root first::

    DeskpilotError                  (automation.errors)
    └── TriggerError                a trigger request cannot be served
        ├── WebhookNotFound         a signed call's workflow left the catalog meanwhile (API: 404)
        ├── WebhookRejected         no valid signature: missing, malformed, wrong, expired,
        │                           an unknown webhook name, or a secret not in the keyring;
        │                           one answer for all, so nobody learns which names exist
        │                           without the secret (API: 401)
        ├── WebhookReplayed         a valid signature that was accepted before (API: 409)
        ├── WebhookThrottled        a valid call past a run-rate ceiling; recorded (API: 429)
        └── WebhookPayloadInvalid   a signed body that is not a JSON object (API: 422)

Each carries its HTTP status in ``status_code`` so the API maps the whole
branch with one ``except``.  Messages never contain a secret value.
"""

from __future__ import annotations

from typing import ClassVar

from automation.errors import DeskpilotError


class TriggerError(DeskpilotError):
    """A trigger request cannot be served."""


class WebhookNotFound(TriggerError):
    """No workflow in the catalog declares a webhook trigger of that name."""

    status_code: ClassVar[int] = 404

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"no workflow has a webhook named '{name}'; check the URL, or add a "
            f"'type: webhook' trigger with 'name: {name}' to a workflow in the workflows folder"
        )


class WebhookRejected(TriggerError):
    """The call has no valid signature for a webhook of that name (one message for every cause)."""

    status_code: ClassVar[int] = 401

    def __init__(self) -> None:
        super().__init__(
            "webhook call refused: it needs a valid X-Deskpilot-Signature header, "
            "'t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed with the webhook's "
            "secret>', signed within the last 5 minutes (see the README for a curl example)"
        )


class WebhookReplayed(TriggerError):
    """A correctly signed request that was already accepted: the sender must sign anew."""

    status_code: ClassVar[int] = 409

    def __init__(self) -> None:
        super().__init__(
            "this signed webhook request was already accepted; a replay runs nothing "
            "(sign each call with a fresh timestamp)"
        )


class WebhookThrottled(TriggerError):
    """A valid call past a run-rate ceiling (``supervisor.rate``): recorded as skipped."""

    status_code: ClassVar[int] = 429


class WebhookPayloadInvalid(TriggerError):
    status_code: ClassVar[int] = 422
