"""Time as the engine sees it, passed in so tests never sleep.

``monotonic`` measures every interval, timeout and deadline; ``now`` stamps
history with aware UTC datetimes; ``sleep`` waits and may be cut short by a
cancellation event.  ``FakeClock`` advances instantly when slept on.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float, interrupt: threading.Event | None = None) -> bool:
        """Wait ``seconds``; return True if ``interrupt`` was set before the time passed."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, interrupt: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return bool(interrupt and interrupt.is_set())
        if interrupt is None:
            time.sleep(seconds)
            return False
        return interrupt.wait(seconds)


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that jumps forward when slept on; records every sleep for assertions."""

    def __init__(self, start: datetime | None = None) -> None:
        self._t = 1000.0
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._origin = self._t
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t - self._origin)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float, interrupt: threading.Event | None = None) -> bool:
        if interrupt is not None and interrupt.is_set():
            return True
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        return False
