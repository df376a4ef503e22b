"""What a resumed run is told about the step its last worker left in flight.

When a worker dies mid-step, the history closes that attempt as failed with
``failure == "interrupted"``.  The next worker gets it in its ``start``
message (``"interrupted": {"step", "node_id", "attempt"}``) so the engine can
check the step's postcondition before running it again: an action that
already took effect is not repeated.  A pure function of the step records, so
tests drive it with plain values.
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
