"""What blocks remember from step to step (``BlockContext.run_state``), kept across a resume.

A desktop step remembers the window it acted on, and the next key step
without ``window:`` holds the focus to it (``automation.blocks.desktop.focus``).
That memory must survive the worker: after a crash or a hang, the run
resumes on a new worker, which replays the finished steps, and a resumed key
step must check the focus exactly as it would have on the first worker.  So
each finished step records what it changed in the run state, beside the
variables it set (the ``vars_set`` history keeps), under ``RUN_STATE``, and a
replayed step puts it back.  Variable names are identifiers, so the key
cannot clash with one.

The run state's values are therefore JSON values (the focus check keeps its
window as a mapping).  A value that is removed is recorded as None.  Strings
in it are masked like anything else a step records: a secret in a window
title never reaches the history (the title only names the window in
messages; the check compares ids).

What a step's failed attempts changed is not recorded (history keeps
``vars_set`` for finished attempts only): a step resumed after a crash
starts from the state its previous finished steps left.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from automation.redaction import Redactor

#: The key, in a recorded step's ``vars_set``, holding the run-state changes it made.
RUN_STATE = "$run_state"


def state_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``before`` to ``after``: {key: new value, or None if removed}.

    A pure function of the two states, so the replay of every finished step
    in order ends with the state the run had.
    """
    changes = {key: value for key, value in after.items() if before.get(key) != value}
    changes.update({key: None for key in before if key not in after})
    return changes


def record_changes(
    vars_set: dict[str, Any], changes: Mapping[str, Any], redactor: Redactor | None
) -> dict[str, Any]:
    """``vars_set`` as history stores it, with the step's run-state ``changes`` (masked)."""
    if not changes:
        return vars_set
    shown = redactor.value(dict(changes)) if redactor else dict(changes)
    return {**vars_set, RUN_STATE: shown}


def replay_changes(state: MutableMapping[str, Any], vars_set: Mapping[str, Any]) -> None:
    """Apply the run-state changes a recorded step's ``vars_set`` holds, if any."""
    changes = vars_set.get(RUN_STATE)
    if not isinstance(changes, Mapping):
        return
    for key, value in changes.items():
        if value is None:
            state.pop(str(key), None)
        else:
            state[str(key)] = value
