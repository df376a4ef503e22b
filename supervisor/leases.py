"""A worker's lease and deadline, checked: a pure function of its state and the time.

Heartbeats are leases (DESIGN.md): every message from a busy worker pushes
``lease_expires`` forward, and a worker still silent when it passes is hung.
A new worker has until its start-up lease to say hello.  A run or step that
outlives ``hard_deadline`` (its time limit plus the engine's grace) is killed
as timed out.  A busy worker whose run has not reported it started by
``start_due`` lost its hand-over (the start never reached the engine).
``check_lease`` says which; the supervisor's timer acts on it
(``Running._check_worker``).

``unheld_claims`` is the same watch from the store's side: runs the store
says this supervisor claimed, and renews with its heartbeat, that nothing in
the supervisor holds (no worker, no hand-over, no settlement) would stay
``running`` for ever.  Found so at every look for ``deadline`` seconds, they
are released back to the queue (``FleetLink._release_unheld``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum

from supervisor.workers import WorkerState

#: A lease timer that fires this much later than due means the supervisor itself was stalled
#: (a long write on its loop), not that the worker was silent: heartbeats may be waiting unread.
STALL_TOLERANCE = 0.5


class LeaseVerdict(StrEnum):
    """What a worker's timer finds."""

    #: Nothing is due yet: look again at the next deadline.
    WAIT = "wait"
    #: The timer fired late because the supervisor was stalled: a fresh lease, not a kill.
    STALLED = "stalled"
    #: A new worker never said hello within its start-up time.
    NEVER_STARTED = "never_started"
    #: The run or step outlived its hard deadline.
    DEADLINE_PASSED = "deadline_passed"
    #: A busy worker sent nothing within its lease.
    LEASE_EXPIRED = "lease_expired"
    #: A busy worker beats, but its run never reported it started: the hand-over was lost.
    START_NOT_REPORTED = "start_not_reported"
    #: Nothing to watch (idle, stopping or gone).
    NOTHING = "nothing"


def check_lease(
    state: WorkerState,
    *,
    now: float,
    due: float,
    lease_expires: float,
    hard_deadline: float,
    start_due: float = float("inf"),
    stall_tolerance: float = STALL_TOLERANCE,
) -> LeaseVerdict:
    """Judge a worker whose timer, due at ``due``, fired at ``now`` (monotonic seconds).

    ``start_due``: when the run handed to it must have reported it started
    (inf once it has, or when no run was handed over).
    """
    if now - due > stall_tolerance and now >= min(lease_expires, start_due):
        # Woken late: its heartbeats may be sitting unread in the pipe.  Read them first;
        # a worker that really is silent is caught one lease later.
        return LeaseVerdict.STALLED
    if state is WorkerState.STARTING:
        return LeaseVerdict.WAIT if now < lease_expires else LeaseVerdict.NEVER_STARTED
    if state is not WorkerState.BUSY:
        return LeaseVerdict.NOTHING
    if now >= hard_deadline:
        return LeaseVerdict.DEADLINE_PASSED
    if now >= lease_expires:
        return LeaseVerdict.LEASE_EXPIRED
    if now >= start_due:
        return LeaseVerdict.START_NOT_REPORTED
    return LeaseVerdict.WAIT


def unheld_claims(
    claimed: Iterable[str],
    held: Collection[str],
    first_seen: Mapping[str, float],
    *,
    now: float,
    deadline: float,
) -> tuple[dict[str, float], list[str]]:
    """Runs the store says are this supervisor's that it does not hold: which to release.

    ``claimed``: the runs the store renewed for it (``running``, its claim, a
    live lease); ``held``: those on its workers, being handed over, settled or
    finishing, and those in its queue; ``first_seen``: what the last look
    answered.  Returns when each run unheld now was first found so, and the
    runs unheld at every look for ``deadline`` seconds (sorted).  A run held
    again, or no longer claimed, is forgotten: a brief gap (a claim that
    committed while the look was on its way) never adds up to a release.
    """
    seen: dict[str, float] = {}
    due: list[str] = []
    for run_id in sorted(set(claimed) - set(held)):
        since = first_seen.get(run_id, now)
        seen[run_id] = since
        if now - since >= deadline:
            due.append(run_id)
    return seen, due
