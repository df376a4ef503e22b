"""Which queued runs start now, and on which idle workers: the dispatch plan.

``plan_dispatch`` is a function of the queue, what is running, the idle
workers, the breakers and the time; the supervisor's shell carries it out
(``Supervisor._dispatch``).  Tests drive it with plain values and a number
for the clock.

The rules, in the order they apply to each run, highest priority first,
then oldest:

* no more runs than ``worker_limit`` are on workers or being handed to one;
* a run waiting out its restart delay (``not_before``) waits; the plan says
  when to look again;
* one run at a time holds the ``desktop`` resource (mouse and keyboard),
  and none while the session cannot be used (``desktop_held``);
* a workflow whose circuit breaker is open waits for its half-open probe
  (a run already chosen as the probe, before an interruption, may go);
* a run starts only on an idle worker; without one the plan stops and asks
  for workers.

A start counts against its workflow's run-rate ceiling: the plan records it
on the breaker (the breaker is the ledger of starts), and a start that opens
the breaker says so, so the shell announces it and later runs of that
workflow in the same plan wait.  In a fleet (``count_starts`` False) the
ledger is the store, which counts every supervisor's starts when each run
is claimed (``HistoryStore.claim_counted``), and the plan counts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from supervisor.breaker import BreakerState, CircuitBreaker
from supervisor.runqueue import QueuedRun

W = TypeVar("W")

#: The resource only one run at a time may hold: the mouse and keyboard.
DESKTOP = "desktop"


@dataclass(frozen=True)
class Start(Generic[W]):
    """One run to hand to one worker; ``opened_breaker`` when this start tripped the rate ceiling.

    ``probe`` when it is its half-open breaker's probe: the hand-over claims
    that in the store, so one probe goes across the fleet.
    """

    entry: QueuedRun
    worker: W
    opened_breaker: bool = False
    probe: bool = False


@dataclass(frozen=True)
class DispatchPlan(Generic[W]):
    """What to do now: the starts, in order; when to look again; whether workers are short."""

    starts: tuple[Start[W], ...]
    #: The earliest time (same clock as ``now``) a waiting run may start; None: nothing waits.
    wake_at: float | None
    #: A run could start but no worker was idle.
    short_of_workers: bool


def plan_dispatch(
    queue: Iterable[QueuedRun],
    *,
    now: float,
    holding: int,
    worker_limit: int,
    desktop_busy: bool,
    idle_workers: Sequence[W],
    breaker: Callable[[str], CircuitBreaker],
    desktop_held: Callable[[QueuedRun], bool] | None = None,
    count_starts: bool = True,
) -> DispatchPlan[W]:
    """Plan which of ``queue`` start now (see the module's rules).

    ``holding`` counts runs on workers and runs being handed to one;
    ``desktop_busy`` says whether one of them holds the desktop.
    ``desktop_held`` says whether a desktop run must wait for the session
    (a locked screen, sleep: ``supervisor.desktop_gate``); it is asked only
    about a desktop run that could otherwise take the desktop now.
    """
    if holding >= worker_limit:
        # Nothing can start, whatever waits: the common case while a backlog runs, where
        # sorting the whole queue on every worker message was most of the plan's cost.
        return DispatchPlan((), None, False)
    starts: list[Start[W]] = []
    workers = iter(idle_workers)
    wake_at: float | None = None
    short = False
    for entry in sorted(queue, key=lambda e: (-e.priority, e.order)):
        if holding + len(starts) >= worker_limit:
            break
        if entry.not_before > now:
            wake_at = entry.not_before if wake_at is None else min(wake_at, entry.not_before)
            continue
        desktop = DESKTOP in entry.resources
        if desktop and desktop_busy:
            continue
        if desktop and desktop_held is not None and desktop_held(entry):
            continue
        gate = breaker(entry.workflow)
        chosen = gate.probe_run == entry.run_id and gate.opened_at is not None
        if not gate.allows(now) and not chosen:
            reopen = gate.reopens_at()
            if reopen is not None:
                wake_at = reopen if wake_at is None else min(wake_at, reopen)
            continue
        worker = next(workers, None)
        if worker is None:
            short = True
            break
        probe = gate.state(now) is BreakerState.HALF_OPEN
        new_run = count_starts and not (entry.resume or entry.restarts)
        opened = gate.started(now, new_run=new_run)
        starts.append(Start(entry, worker, opened_breaker=opened, probe=probe))
        if desktop:
            desktop_busy = True
    return DispatchPlan(tuple(starts), wake_at, short)
