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

Across a fleet, the end of a run that a trigger chains from is written to
the chain outbox with the end itself (``supervisor.store.chain_fires``).
The supervisor that recorded the end fires its chains at once
(``drain_chains`` for that run); any supervisor drains what is left (after
its own start, and with each lease renewal), so a chain outlives the death
of the supervisor that ran the upstream run.  Each chained run's id comes
from (upstream run, trigger), so a chain drained twice starts one run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from automation.errors import DeskpilotError
from automation.model import WorkflowFinishedTrigger
from supervisor.store.chain_fires import chained_run_id
from supervisor.store.store import HistoryStore
from supervisor.triggers.specs import after_label, parse_after_label
from supervisor.triggers.state import NotRun

if TYPE_CHECKING:
    from supervisor.triggers.active import ActiveTrigger
    from supervisor.triggers.manager import TriggerManager

logger = logging.getLogger(__name__)

CHAIN_WINDOW = 60.0
#: A supervisor firing a run's chains holds them this long; then another may.
CHAIN_CLAIM_SECONDS = 30.0
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


def run_finished(manager: TriggerManager, workflow: str, run_id: str, status: str) -> None:
    """A run ended: fire the chains waiting on it, just after.

    Its end is in the chain outbox (written with the end), so the chains are
    fired from there: exactly once, here or by another supervisor.
    """
    keys = chained_keys(manager._triggers.values(), workflow, status)
    if not keys or manager._loop is None:
        return
    if workflow in manager.store.chain_sources:
        manager._spawn(drain_chains(manager, run_id))
    else:  # a trigger added since the end was recorded: fire from memory, as before
        manager._spawn(start_chained(manager, keys, workflow, run_id))


def chained_keys(triggers: Iterable[ActiveTrigger], workflow: str, status: str) -> list[str]:
    """The ``after`` triggers that start a run when ``workflow`` ends with ``status``."""
    return [
        t.key
        for t in triggers
        if isinstance(t.spec, WorkflowFinishedTrigger)
        and t.spec.workflow == workflow
        and status in t.spec.status
    ]


def chain_sources(triggers: Iterable[ActiveTrigger]) -> frozenset[str]:
    """Workflows the loaded ``after`` triggers chain from: their ends go to the outbox."""
    return frozenset(
        t.spec.workflow for t in triggers if isinstance(t.spec, WorkflowFinishedTrigger)
    )


async def drain_chains(manager: TriggerManager, run_id: str | None = None) -> None:
    """Fire the chains waiting in the outbox: ``run_id``'s end, or every outstanding one.

    Only ends of workflows this supervisor's triggers chain from are claimed;
    each is claimed for ``CHAIN_CLAIM_SECONDS``, its chained runs submitted,
    and the row marked done once they are written.
    """
    supervisor = manager.supervisor
    sources = chain_sources(manager._triggers.values())
    if not sources or manager._stopped:
        return
    me = supervisor.membership.id
    store = manager.store
    try:
        fires = await supervisor.store_behind(
            lambda: store.claim_chain_fires(
                me, seconds=CHAIN_CLAIM_SECONDS, run_id=run_id, workflows=sources
            )
        )
    except DeskpilotError as exc:
        logger.warning("could not read the chained triggers waiting to fire: %s", exc)
        return
    for fire in fires:
        if run_id is None:
            logger.info(
                "firing the chained triggers of run %s (%s), left waiting",
                fire.run_id,
                fire.workflow,
            )
        keys = chained_keys(manager._triggers.values(), fire.workflow, str(fire.status))
        started = await start_chained(manager, keys, fire.workflow, fire.run_id)
        supervisor.store_behind(_mark_done, store, fire.run_id, me, started)


def _mark_done(store: HistoryStore, run_id: str, claimant: str, started: list[str]) -> None:
    """Store lane, after the chained submits: done if every chained run is in the history.

    A run whose write failed leaves the row for the next drain, once this
    claim runs out; that drain starts only the runs still missing.
    """
    if all(store.get_run(chained) is not None for chained in started):
        store.chain_fire_done(run_id, claimant)
    else:
        logger.warning("chained runs of run %s were not all written; they are tried again", run_id)


async def start_chained(
    manager: TriggerManager, keys: list[str], workflow: str, run_id: str
) -> list[str]:
    """Start the runs of ``after`` triggers ``keys`` once run ``run_id`` of ``workflow`` ended.

    The chain is read on the store lane, off the loop; a run whose workflow is
    already in it is refused and recorded (``loop_refusal``).  Each run's id
    is its fire key (``chained_run_id``).  Returns the ids of the runs submitted.
    """
    started: list[str] = []
    if not any((t := manager._triggers.get(key)) is not None and t.active for key in keys):
        return started
    try:
        chain = await manager.supervisor.store_behind(
            # runs are queued on the store's clock, whichever machine queued them
            recent_chain,
            manager.store,
            run_id,
            manager.supervisor.store_now(),
            manager.chain_window,
        )
    except DeskpilotError as exc:
        logger.error("cannot read the chain of run %s: %s", run_id, exc)
        chain = []
    label = after_label(workflow, run_id)
    for key in keys:
        trigger = manager._triggers.get(key)
        if trigger is None or not trigger.active:
            continue
        loaded = manager.catalog.get(trigger.workflow)
        refusal = loop_refusal(chain, trigger.workflow, manager.chain_window)
        if refusal is None:
            chained = manager._submit(
                trigger,
                loaded,
                dict(trigger.spec.inputs),
                label,
                at=manager.now(),
                run_id=chained_run_id(run_id, key),
            )
            if chained is not None:
                started.append(chained)
            continue
        logger.warning("trigger %s: %s", key, refusal)
        trigger.state.last_error = refusal
        manager._save(trigger.state)
        row = NotRun(
            workflow=trigger.workflow,
            trigger=label,
            error=f"not started: {refusal}",
            at=manager.now(),
            inputs=trigger.spec.inputs,
        )
        manager._record(loaded, [row])
    return started
