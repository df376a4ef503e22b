"""Errors raised by the triggers and the workflows catalog.

The hierarchy, root first::

    DeskpilotError                  (automation.errors)
    └── TriggerError                a trigger request cannot be served
        ├── WebhookNotFound         no enabled workflow declares a webhook of that name (API: 404)
        └── WebhookRejected         the caller did not prove it knows the webhook's secret
            ├── WebhookUnauthorized no secret was presented at all (API: 401)
            └── WebhookForbidden    a secret was presented and it is wrong, or the
                                    webhook's secret is not in the keyring (API: 403)

``WebhookRejected.status_code`` carries the HTTP status so the API maps the
whole branch with one ``except``.  Messages never contain a secret value.
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
    """The caller did not present the webhook's secret."""

    status_code: ClassVar[int] = 403


class WebhookUnauthorized(WebhookRejected):
    status_code: ClassVar[int] = 401


class WebhookForbidden(WebhookRejected):
    status_code: ClassVar[int] = 403
