"""What a resumed run is told about the step its last worker left in flight.

When a worker dies mid-step, the history closes that attempt as failed with
``failure == "interrupted"``.  The next worker gets it in its ``start``
message (``"interrupted": {"step", "node_id", "attempt"}``) so the engine can
check the step's postcondition before running it again: an action that
already took effect is not repeated.  A pure function of the step records, so
tests drive it with plain values.

``spent_attempts`` says how many attempts of each unfinished step count
against its retries, so a resumed step does not get its retries afresh
(``automation.engine.resume.attempt_budget``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from supervisor.store.records import StepRecord


def interrupted_step(
    records: Iterable[StepRecord], finished: Collection[int]
) -> dict[str, Any] | None:
    """The last step whose latest attempt was cut short by the worker's death, if any.

    ``finished`` holds the steps the checkpoint replays.  A step whose latest
    attempt failed on its own (an error, a timeout) before the worker died is
    not in flight: it was between retries, and simply runs its next attempt.
    """
    latest: dict[int, StepRecord] = {}
    for record in records:
        if record.step in finished:
            continue
        known = latest.get(record.step)
        if known is None or record.attempt >= known.attempt:
            latest[record.step] = record
    cut = [r for r in latest.values() if r.failure == "interrupted"]
    if not cut:
        return None
    last = max(cut, key=lambda r: r.step)
    return {"step": last.step, "node_id": last.node_id, "attempt": last.attempt}


#: The error of an attempt a locked screen cut short (``automation.errors.SessionInterrupted``).
_LOCK_CUT = "SessionInterrupted"


def spent_attempts(records: Iterable[StepRecord], finished: Collection[int]) -> dict[int, int]:
    """Attempts of each step not in ``finished`` that count against its retries.

    Every recorded attempt counts, the one a worker's death cut short
    (``failure == "interrupted"``) included: it ran.  An attempt a locked
    screen cut short does not: the engine does not count it either.
    """
    spent: dict[int, int] = {}
    for record in records:
        if record.step in finished or record.error_type == _LOCK_CUT:
            continue
        spent[record.step] = spent.get(record.step, 0) + 1
    return spent
