"""What follows a run's end or interruption: pure functions of what is known."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from automation.engine.events import (
    RunStatus,
)
from supervisor.debugging import Pause
from supervisor.runqueue import QueuedRun
from supervisor.workers import (
    ExitReason,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settlement:
    """How an interrupted run's history changes, and how it ends (None: it resumes)."""

    statuses: tuple[tuple[RunStatus, str | None], ...]
    outcome: RunStatus | None
    restarts: int


def settlement(
    reason: ExitReason,
    *,
    cancelled: bool,
    restarts: int,
    max_restarts: int,
    run_limit_hit: bool,
    detail: str,
) -> Settlement:
    """Decide what follows a run's interruption: a pure function of what is known.

    A shutdown leaves it interrupted (the next start resumes it); a cancel ends
    it cancelled; otherwise it resumes, unless it was interrupted more than
    ``max_restarts`` times or its time limit passed, and then it fails.
    """
    interrupted = (RunStatus.INTERRUPTED, detail)
    if reason is ExitReason.SHUTDOWN:
        return Settlement((interrupted,), None, restarts)
    if cancelled or reason is ExitReason.CANCELLED:
        stop = (RunStatus.CANCELLED, "cancelled; the worker was stopped")
        return Settlement((interrupted, stop), RunStatus.CANCELLED, restarts)
    restarts += 1
    if restarts <= max_restarts and not run_limit_hit:
        return Settlement((interrupted, (RunStatus.QUEUED, None)), None, restarts)
    why = "its time limit passed" if run_limit_hit else f"it was interrupted {restarts} times"
    failed = (RunStatus.FAILED, f"{detail}; gave up because {why}")
    return Settlement((interrupted, failed), RunStatus.FAILED, restarts)


def describe_exit(reason: ExitReason, returncode: int | None) -> str:
    if reason is ExitReason.HUNG:
        return "worker hung: no heartbeat within its lease; evidence saved, process tree killed"
    if reason is ExitReason.NOT_STARTED:
        return (
            "its hand-over was lost: the worker never reported the run started; "
            "evidence saved, process tree killed"
        )
    if reason is ExitReason.TIMED_OUT:
        return "worker timed out: a step or the run outlived its deadline and did not stop; killed"
    if reason is ExitReason.SHUTDOWN:
        return "the supervisor shut down while the run was in progress"
    if reason is ExitReason.CANCELLED:
        return "cancelled; the worker did not stop in time and was killed"
    if returncode is not None and returncode < 0:
        import signal

        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"worker crashed: killed by {name}"
    return f"worker crashed: exited with code {returncode} before the run finished"


def run_deadline(
    entry: QueuedRun,
    *,
    started: float,
    pause: Pause | None,
    now: float,
    kill_grace: float,
    held: bool = False,
) -> float:
    """When a run on a worker is killed as timed out (monotonic): inf without a time limit.

    Its limit counts from its first start (``started`` if this is it), plus the
    time the debugger paused it and a locked screen held it; while paused, the
    engine's clock stops too and the pause ends by its own timeout.  While
    ``held`` (its engine waits for the screen to unlock, with its clock
    stopped) nothing bounds the wait but the unlock or a cancel: inf.  The
    kill comes ``2 * kill_grace + 1`` after the limit: the engine stops a run
    that outlives it by itself, and this is the backstop for one that does not.
    """
    if entry.deadline_seconds is None or held:
        return float("inf")
    first = started if entry.first_started is None else entry.first_started
    limit = first + entry.deadline_seconds + entry.paused_seconds
    if pause is not None:
        limit += max(0.0, now - pause.since) + pause.event.timeout
    return limit + 2 * kill_grace + 1.0
