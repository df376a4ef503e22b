"""Supervisor settings: a frozen value checked where it is made."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from supervisor.breaker import BreakerPolicy
from supervisor.rate import RateLimits

#: Seconds a new worker may take to say hello (imports can be slow on a busy machine).
WORKER_START_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class SupervisorConfig:
    #: Runs executing at once; each has its own worker process.
    worker_limit: int = field(default_factory=lambda: os.cpu_count() or 2)
    heartbeat_interval: float = 0.5
    #: No heartbeat for this long means hung; default three intervals.
    heartbeat_timeout: float | None = None
    #: After asking a worker to stop, how long before it is killed.
    kill_grace: float = 2.0
    #: Workers started ahead of need, so a run (or a restart) starts in milliseconds.
    spare_workers: int = 1
    #: Crashes or hangs a run survives before it is failed for good.
    max_restarts: int = 3
    restart_delay: float = 0.5
    restart_delay_max: float = 30.0
    restart_jitter: float = 0.2
    #: On SIGTERM: how long running steps may take to finish before they are interrupted.
    shutdown_grace: float = 10.0
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    #: Run-rate ceilings of the triggers, per trigger and in total.
    rate_limits: RateLimits = field(default_factory=RateLimits)
    #: Seconds a signed webhook call stays acceptable around its timestamp (replay window).
    webhook_window: float = 300.0
    #: Seconds a run paused by the debugger waits for a command before it continues
    #: without its breakpoints (a submit may give its own).
    pause_timeout: float = 600.0
    #: Seconds a run this supervisor claimed may go without a worker reporting it started
    #: before it is released back to the queue (its hand-over was lost).  None: a worker's
    #: start-up time plus two heartbeat leases (``handover_deadline``).
    handover_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.pause_timeout <= 0:
            raise ValueError(f"the pause timeout must be positive, got {self.pause_timeout}")
        if self.worker_limit < 1:
            raise ValueError(f"worker limit must be at least 1, got {self.worker_limit}")
        if self.heartbeat_interval <= 0:
            raise ValueError(f"heartbeat interval must be positive, got {self.heartbeat_interval}")
        if self.heartbeat_timeout is not None and self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("heartbeat timeout must be longer than the heartbeat interval")
        if self.webhook_window <= 0:
            raise ValueError(
                f"the webhook replay window must be positive, got {self.webhook_window}"
            )
        if self.handover_timeout is not None and self.handover_timeout <= 0:
            raise ValueError(f"the hand-over timeout must be positive, got {self.handover_timeout}")
        if self.max_restarts < 0 or self.spare_workers < 0:
            raise ValueError("max_restarts and spare_workers cannot be negative")

    @property
    def lease(self) -> float:
        return self.heartbeat_timeout or 3 * self.heartbeat_interval

    @property
    def handover_deadline(self) -> float:
        """How long a claimed run may wait for a worker to report it started.

        A healthy hand-over takes milliseconds: the worker is warm and only
        parses the workflow.  On a loaded machine it may take as long as a
        worker's start, plus a lease or two of heartbeats stuck behind it.
        """
        if self.handover_timeout is not None:
            return self.handover_timeout
        return WORKER_START_TIMEOUT + 2 * self.lease

    def restart_backoff(self, restarts: int, random_unit: float) -> float:
        """Delay before restart number ``restarts`` (1-based): the first is immediate."""
        if restarts <= 1:
            return 0.0
        base = min(self.restart_delay * 2.0 ** (restarts - 2), self.restart_delay_max)
        return max(0.0, base * (1 + self.restart_jitter * (2 * random_unit - 1)))
