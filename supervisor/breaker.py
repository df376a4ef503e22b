"""Per-workflow circuit breakers: stop a workflow that keeps failing from failing forever.

A breaker counts failures in a sliding window.  At ``threshold`` failures it
opens: the workflow's triggers pause and its queued runs wait.  After
``cooldown`` it is half-open: one probe run may go; success closes it,
failure opens it again for another cool-down.  State is a pure function of
(recorded failures and starts, now), so tests drive it with plain numbers.

It also opens on run rate: more than ``max_starts`` runs of the workflow
started within ``rate_window`` seconds (a flood from any source: triggers,
chains, scripts calling the API).  Runs that succeed do not close a breaker
opened that way; only its half-open probe does, after the cool-down.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class OpenedFor(StrEnum):
    """Why a breaker opened."""

    FAILURES = "failures"
    RUN_RATE = "run rate"


@dataclass(frozen=True, kw_only=True)
class BreakerPolicy:
    threshold: int = 5
    window: float = 600.0
    cooldown: float = 300.0
    #: Runs of one workflow that may start within ``rate_window`` before the breaker opens.
    max_starts: int = 600
    rate_window: float = 60.0

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"breaker threshold must be at least 1, got {self.threshold}")
        if self.max_starts < 1 or self.rate_window <= 0:
            raise ValueError("breaker max_starts must be at least 1 and rate_window positive")
        if self.window <= 0 or self.cooldown <= 0:
            raise ValueError("breaker window and cooldown must be longer than zero")


@dataclass
class CircuitBreaker:
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    failures: deque[float] = field(default_factory=deque)
    starts: deque[float] = field(default_factory=deque)
    opened_at: float | None = None
    opened_for: OpenedFor | None = None
    probing: bool = False
    #: The run probing it while half-open, when known (a fleet shares one probe).
    probe_run: str | None = None

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now - self.opened_at >= self.policy.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows(self, now: float) -> bool:
        """Whether a run may start now (a half-open breaker lets one probe through)."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self.probing

    def started(self, now: float, *, new_run: bool = True) -> bool:
        """Record a run's start; True if the start rate opened the breaker.

        Only a run's first start counts toward the rate: a run resumed after
        a crash, a hang or a takeover is the same run going on, and counting
        it made a supervisor that took back a dead one's runs trip the
        ceiling on work that was never a flood.
        """
        if self.state(now) is BreakerState.HALF_OPEN:
            self.probing = True
            return False
        if not new_run:
            return False
        self.starts.append(now)
        while self.starts and now - self.starts[0] >= self.policy.rate_window:
            self.starts.popleft()
        if self.opened_at is None and len(self.starts) > self.policy.max_starts:
            self.opened_at, self.opened_for = now, OpenedFor.RUN_RATE
            self.starts.clear()
            return True
        return False

    def record_success(self, now: float) -> bool:
        """Returns True if this closed an open breaker."""
        if self.opened_for is OpenedFor.RUN_RATE and not self.probing:
            return False  # a run started before the flood was stopped; the probe decides
        was_open = self.opened_at is not None
        self.failures.clear()
        self.opened_at = None
        self.opened_for = None
        self.probing = False
        self.probe_run = None
        return was_open

    def record_failure(self, now: float) -> bool:
        """Returns True if this failure opened (or re-opened) the breaker."""
        if self.probing or self.state(now) is BreakerState.HALF_OPEN:
            self.opened_at = now
            self.probing = False
            self.probe_run = None
            return True
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.policy.window:
            self.failures.popleft()
        if self.opened_at is None and len(self.failures) >= self.policy.threshold:
            self.opened_at, self.opened_for = now, OpenedFor.FAILURES
            return True
        return False

    def reset(self) -> None:
        self.failures.clear()
        self.starts.clear()
        self.opened_at = None
        self.opened_for = None
        self.probing = False
        self.probe_run = None

    def reopens_at(self) -> float | None:
        return None if self.opened_at is None else self.opened_at + self.policy.cooldown
