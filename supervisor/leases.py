"""A worker's lease and deadline, checked: a pure function of its state and the time.

Heartbeats are leases (DESIGN.md): every message from a busy worker pushes
``lease_expires`` forward, and a worker still silent when it passes is hung.
A new worker has until its start-up lease to say hello.  A run or step that
outlives ``hard_deadline`` (its time limit plus the engine's grace) is killed
as timed out.  ``check_lease`` says which; the supervisor's timer acts on it
(``Running._check_worker``).
"""

from __future__ import annotations

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
    #: Nothing to watch (idle, stopping or gone).
    NOTHING = "nothing"


def check_lease(
    state: WorkerState,
    *,
    now: float,
    due: float,
    lease_expires: float,
    hard_deadline: float,
    stall_tolerance: float = STALL_TOLERANCE,
) -> LeaseVerdict:
    """Judge a worker whose timer, due at ``due``, fired at ``now`` (monotonic seconds)."""
    if now - due > stall_tolerance and now >= lease_expires:
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
    return LeaseVerdict.WAIT
