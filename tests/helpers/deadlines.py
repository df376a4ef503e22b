"""Deadlines of waits on real work, stretched while the machine is loaded.

A wait's deadline says how long its event may take on a quiet machine,
with room to spare.  On 2 cores shared with other work (a load of 20 to
60) each process gets a small share of a core, and the same event comes
several times later: a fixed deadline then fails a test whose code is
right.  ``scaled`` stretches a deadline by the load per core when the wait
starts, at most ``MAX_FACTOR`` times, so a wait for an event that never
comes still fails, later, well inside the test's pytest timeout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable

#: A deadline is stretched at most this many times.
MAX_FACTOR = 4.0


def load_factor() -> float:
    """The 1-minute load per core, between 1 and ``MAX_FACTOR``."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average here: treat the machine as quiet
        return 1.0
    return min(MAX_FACTOR, max(1.0, load / (os.cpu_count() or 1)))


def scaled(seconds: float) -> float:
    """``seconds`` on a quiet machine, as a deadline on this one now."""
    return seconds * load_factor()


#: What a supervisor's stop takes on a quiet machine, with room (fake workers: well under 1 s).
STOP_SECONDS = 20.0


async def stopped(stop: Awaitable[None], what: str, seconds: float = STOP_SECONDS) -> None:
    """Await ``stop`` within ``scaled(seconds)``; past that, fail saying what did not stop.

    A stop that hangs (a cancel lost by the loop) otherwise shows only as the
    test's pytest timeout, with every thread idle in its dump.
    """
    allowed = scaled(seconds)
    try:
        async with asyncio.timeout(allowed):
            await stop
    except TimeoutError:
        raise AssertionError(f"{what} did not stop within {allowed:.0f} s") from None
