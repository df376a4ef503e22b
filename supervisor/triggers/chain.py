"""The guard against chained workflows that start each other forever.

``after`` triggers chain workflows: B runs when A finishes.  If A also runs
after B (or A after A), every run starts the next one at once and nothing
ever stops.  Each chained run's trigger label names the run that started it
(``after:<workflow>:<run id>``), so the chain can be walked back through the
history.  A chained run is refused when its workflow already appears among
the runs of that chain queued in the last ``window`` seconds (60 by
default): a loop that comes around that fast is a runaway, not a plan.  A
slower cycle (each workflow taking minutes) is allowed to continue.  The
refusal is recorded in the history as a cancelled run, not dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from supervisor.store.store import HistoryStore
from supervisor.triggers.specs import parse_after_label

CHAIN_WINDOW = 60.0
#: Runs walked back at most, so a long (legitimate) chain costs bounded reads.
MAX_WALK = 50


def recent_chain(store: HistoryStore, run_id: str, now: datetime, window: float) -> list[str]:
    """Workflow names along the chain ending with ``run_id``, newest first, within ``window``."""
    cutoff = now - timedelta(seconds=window)
    names: list[str] = []
    seen: set[str] = set()
    current: str | None = run_id
    while current is not None and current not in seen and len(names) < MAX_WALK:
        seen.add(current)
        record = store.get_run(current)
        if record is None or record.queued_at < cutoff:
            break
        names.append(record.workflow_name)
        current = parse_after_label(record.trigger)
    return names


def loop_refusal(chain: list[str], target: str, window: float) -> str | None:
    """Why starting ``target`` after this chain would be a runaway loop, or None if it is not."""
    if target not in chain:
        return None
    back = chain[: chain.index(target) + 1]
    path = " → ".join([*reversed(back), target])
    return (
        f"chained runs loop back to '{target}' ({path}) within {window:g}s; "
        "stopped so they do not start each other forever. Remove one of the 'after' triggers, "
        "or give it a status filter that breaks the loop"
    )
