"""Triggers: schedules, file changes, webhooks and chained workflows, plus the workflows folder.

``TriggerManager`` (``manager``) is what the daemon starts; ``WorkflowCatalog``
(``catalog``) is the live, validated view of the workflows folder it follows.
Errors are drawn in ``errors``.
"""

from supervisor.triggers.catalog import WorkflowCatalog
from supervisor.triggers.errors import (
    TriggerError,
    WebhookNotFound,
    WebhookPayloadInvalid,
    WebhookRejected,
    WebhookReplayed,
)
from supervisor.triggers.manager import TriggerManager

__all__ = [
    "TriggerError",
    "TriggerManager",
    "WebhookNotFound",
    "WebhookPayloadInvalid",
    "WebhookRejected",
    "WebhookReplayed",
    "WorkflowCatalog",
]
