"""Secrets masked in what the supervisor collects itself about a worker: hang evidence.

Workers mask everything they send and log with the secrets their run
resolved (``automation.redaction``).  Evidence of a hung or crashed worker is
different: the supervisor reads it from outside, the worker's log file (where
a crash may have left unmasked text), the command lines and environment of
its process tree, and its stacks.  Workers never send secret values to the
supervisor (no new channel for them); instead the supervisor reads from the
keyring the secrets the run's workflow can reach, the way the worker did, and
masks with those.

Which secrets a run can reach: those its workflow's templates name; and when
the workflow calls a subflow, whose file is read at run time, every secret in
Deskpilot's keyring service.  When the keyring cannot be read, ``None`` says
so: the caller then withholds what may carry a secret rather than write it.
"""

from __future__ import annotations

import logging
from typing import Any

from automation.errors import DeskpilotError
from automation.loader import parse_workflow
from automation.redaction import Redactor, process_redactor
from automation.secrets import SecretStore, secret_store_from_env
from automation.validation import referenced_secrets

logger = logging.getLogger(__name__)

#: What replaces a field that may carry a secret when the secrets are not known.
WITHHELD = "(withheld: the keyring could not be read to mask secrets in it)"

_SUBFLOW_BLOCK = "control.subflow"


def reachable_secret_names(workflow_text: str, store: SecretStore) -> list[str]:
    """The secret names a run of this workflow can read (see the module docstring)."""
    workflow = parse_workflow(workflow_text).workflow
    names = set(referenced_secrets(workflow))
    if any(node.block == _SUBFLOW_BLOCK for node in workflow.nodes.values()):
        names |= set(store.names())
    return sorted(names)


def evidence_redactor(
    workflow_text: str | None, store: SecretStore | None = None
) -> Redactor | None:
    """The process's redactor, taught the secrets a run of this workflow can read.

    Blocking (the keyring is D-Bus calls away): call it in a thread.  ``None``
    when the workflow reads secrets but the keyring could not be read.
    """
    redactor = process_redactor()
    if not workflow_text:
        return redactor
    try:
        secrets = store or secret_store_from_env()
        values = [secrets.get(name) for name in reachable_secret_names(workflow_text, secrets)]
        redactor.add(*(value for value in values if value is not None))
    except DeskpilotError as exc:
        logger.warning("cannot read the keyring to mask secrets in evidence: %s", exc)
        return None
    return redactor


def mask_evidence(data: dict[str, Any], redactor: Redactor | None) -> dict[str, Any]:
    """``data`` with secrets masked; without a redactor, what may carry one withheld."""
    if redactor is not None:
        masked: dict[str, Any] = redactor.value(data)
        return masked
    return {key: _withhold(key, value) for key, value in data.items()}


#: Fields of evidence that never carry a value from a run.
_SAFE = frozenset({"reason", "pid", "at", "worker_id", "heartbeats"})
_SAFE_PROCESS = frozenset(
    {"pid", "ppid", "status", "cpu_user", "cpu_system", "rss", "threads", "name"}
)


def _withhold(key: str, value: Any) -> Any:
    if key in _SAFE:
        return value
    if key == "process_tree" and isinstance(value, list):
        return [
            {k: (v if k in _SAFE_PROCESS else WITHHELD) for k, v in proc.items()}
            for proc in value
            if isinstance(proc, dict)
        ]
    return WITHHELD
