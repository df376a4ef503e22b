"""The shared store's clock as this supervisor reads it, without a round trip per reading.

Supervisors of a fleet run on machines whose clocks disagree, sometimes by
minutes.  A time one of them writes into the shared store for another to
compare with its own "now" (a restart delay's end, a retry's wait, a
breaker's opening and failures, the reset its run-rate count starts from, a
run's first start) means the same moment to both only if both read one
clock: the database's, as every lease decision already does
(``supervisor.store.leasing``).  Inside a store transaction that clock is
read in SQL; the event loop (the dispatch plan, the breaker's view) cannot
afford a round trip per reading, so it keeps ``StoreTime``: the database's
time observed at each registration and lease renewal, carried forward on
the monotonic clock.

The error of a reading is at most half the round trip of the observation
it is carried from (a few milliseconds; a renewal that waited on row locks
is not used when a quicker one is known), and the monotonic clock's drift
since then, which is tiny between renewals seconds apart.  Before any
observation (a lone supervisor, which never has one) it reads this
machine's wall clock, which is then the only clock there is.

Times that never leave one process (timeouts, heartbeats of workers, the
pause clock) stay on the monotonic clock; history's own stamps (when a step
started) stay this machine's wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: An observation whose round trip is this many times the best one known is not used, unless
#: the best is older than ``STALE_SECONDS`` (the monotonic clock drifts; the database's not).
SLOW_FACTOR = 4.0
STALE_SECONDS = 60.0


class StoreTime:
    """The store's clock, estimated from observations of it (see the module)."""

    def __init__(self, wall: Callable[[], datetime], monotonic: Callable[[], float]) -> None:
        #: This machine's wall clock (the store's ``clock``): what a time is read on before
        #: any observation, and what ``from_wall`` converts from.
        self.wall = wall
        self.monotonic = monotonic
        #: The store's time (epoch seconds) minus the monotonic clock; None: never observed.
        self._offset: float | None = None
        self._round_trip = float("inf")
        self._observed_at = float("-inf")

    @property
    def observed(self) -> bool:
        return self._offset is not None

    def observe(self, store_at: datetime, sent: float, received: float) -> None:
        """The store said its time was ``store_at`` to a request sent and answered then (monotonic).

        The reading was taken somewhere between the two: the midpoint is
        the guess, off by at most half the round trip.
        """
        round_trip = max(0.0, received - sent)
        stale = received - self._observed_at > STALE_SECONDS
        if (
            self._offset is not None
            and not stale
            and round_trip > SLOW_FACTOR * max(self._round_trip, 0.001)
        ):
            return  # it waited (row locks, a busy server): the last quick one is better
        self._offset = store_at.timestamp() - (sent + received) / 2
        self._round_trip = round_trip
        self._observed_at = received

    def seconds(self) -> float:
        """The store's time now, in seconds since the epoch."""
        if self._offset is None:
            return self.wall().timestamp()
        return self.monotonic() + self._offset

    def now(self) -> datetime:
        """The store's time now, as an aware UTC datetime."""
        if self._offset is None:
            return self.wall()
        return datetime.fromtimestamp(self.seconds(), UTC)

    def from_wall(self, at: datetime) -> datetime:
        """``at``, read on this machine's wall clock, as the store's clock reads that moment."""
        if self._offset is None:
            return at
        return at + timedelta(seconds=self.seconds() - self.wall().timestamp())

    def to_local(self, at: datetime) -> float:
        """``at``, a time on the store's clock, as a reading of the monotonic clock."""
        return self.monotonic() + (at.timestamp() - self.seconds())
