"""Trigger keys, labels, hashes and one-line summaries.

A trigger's key is ``<workflow>:<index>``, its position in the workflow's
``triggers`` list: what a user sees in the file.  Moving triggers around in
the list therefore gives them new keys (and fresh schedule state).

A run's ``trigger`` field says what started it:

* ``schedule:<key>@<fire time, UTC ISO>``
* ``file:<key>:<event>:<file name>``
* ``webhook:<name>``
* ``hotkey:<chord>`` (``hotkey:ctrl+alt+r``)
* ``after:<workflow>:<run id>`` (the run whose end started this one)
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from automation.model import FileTrigger, HotkeyTrigger, ScheduleTrigger, Trigger, WebhookTrigger
from automation.timezones import describe as describe_timezone
from supervisor.triggers.misfire import iso

#: Width of the history's ``trigger`` column.
LABEL_WIDTH = 200


def trigger_key(workflow: str, index: int) -> str:
    return f"{workflow}:{index}"


def fit(label: str) -> str:
    """A label cut to the history column's width (long workflow names, deep paths)."""
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"


def schedule_label(key: str, fire: datetime) -> str:
    return fit(f"schedule:{key}@{iso(fire)}")


def gap_label(key: str, start: datetime, end: datetime) -> str:
    return fit(f"schedule:{key}@{iso(start)}..{iso(end)}")


def after_label(workflow: str, run_id: str) -> str:
    # cut the workflow name, never the run id: the chain guard parses it from the end
    room = LABEL_WIDTH - len("after:") - len(run_id) - 1
    return f"after:{workflow[:room]}:{run_id}"


def hotkey_label(chord: str) -> str:
    return fit(f"hotkey:{chord}")


def parse_after_label(label: str) -> str | None:
    """The run id an ``after:`` label points back to, or None for any other label."""
    if not label.startswith("after:"):
        return None
    _, _, run_id = label.rpartition(":")
    return run_id or None


def spec_dump(trigger: Trigger) -> dict[str, Any]:
    return trigger.model_dump(mode="json")


def spec_hash(trigger: Trigger) -> str:
    """For schedules, a hash of the timing only; for the others, of the whole spec.

    Editing a schedule's inputs or misfire policy keeps its history (no fresh
    start, no spurious misfires); changing when it fires starts it afresh.
    """
    data = spec_dump(trigger)
    if data.get("on") is None:
        data.pop("on", None)  # as before the option existed: saved states stay valid
    if isinstance(trigger, ScheduleTrigger):
        data = {k: data[k] for k in ("type", "cron", "interval", "at", "timezone")}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summary(trigger: Trigger) -> str:
    """How a trigger reads in a list: ``cron '0 9 * * mon-fri' (Europe/Paris)``."""
    if isinstance(trigger, ScheduleTrigger):
        if trigger.cron is not None:
            what = f"cron '{trigger.cron}' ({describe_timezone(trigger.timezone)})"
        elif trigger.interval is not None:
            what = f"every {trigger.interval:g}s"
        else:
            assert trigger.at is not None
            what = f"once at {trigger.at.isoformat()}"
            if trigger.at.tzinfo is None:
                what += f" ({describe_timezone(trigger.timezone)})"
        return f"{what}, misfire {trigger.misfire} within {trigger.misfire_grace:g}s"
    if isinstance(trigger, FileTrigger):
        where = f"{trigger.path}{'/**' if trigger.recursive else ''}/{trigger.glob}"
        return f"file {'/'.join(trigger.events)} {where} (debounce {trigger.debounce:g}s)"
    if isinstance(trigger, WebhookTrigger):
        return f"webhook '{trigger.name}' (secret '{trigger.secret}')"
    if isinstance(trigger, HotkeyTrigger):
        return f"hotkey {trigger.keys}"
    return f"after '{trigger.workflow}' {'/'.join(trigger.status)}"
