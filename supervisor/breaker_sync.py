"""One workflow's circuit breaker kept in the store: what each change does to its row.

The breaker's rules are ``supervisor.breaker``'s, unchanged; here they are
applied to the stored row (``store.breaker_rows``), in seconds on the
store's clock (``supervisor.store_time``), so that every supervisor on the database sees one breaker per workflow:

* a failure anywhere counts towards the threshold, and a success anywhere
  clears the count;
* the breaker opens (on failures, or on a supervisor's run rate) for all;
* half-open, one probe run goes, fleet-wide: the first supervisor to write
  itself into ``probe_run`` sends it, the others wait for its end;
* a reset through any machine's API closes it everywhere, and the fleet's
  run-rate count of the workflow starts afresh (``starts_since``).

The key is the workflow's name, on every machine: what trips a breaker (a
workflow that keeps failing, or floods the queue) is the workflow's, and a
per-machine key would let a broken workflow fail ``threshold`` times on
each machine before it stops.  The run-rate ceiling is the fleet's too:
each run's first start is in the store already (``runs.started_at``), and a
supervisor of a fleet counts its workflow's first starts in the window when
it claims the run, in the claim's transaction (``HistoryStore.claim_counted``),
adding no write.  A lone supervisor (SQLite) keeps its ledger of starts in
memory, as the breaker's ``starts``.

Each supervisor keeps a local ``CircuitBreaker`` per workflow as its view of
the row, on its own monotonic clock: the dispatch plan reads that, with no
round trip.  A change is applied to the view at once (one desktop behaves as
before) and then to the row; the row as written replaces the view.  Changes
others made reach the view with each lease renewal (``renew_every``).
These functions are pure: tests drive them with plain numbers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from enum import StrEnum

from supervisor.breaker import BreakerPolicy, BreakerState, CircuitBreaker, OpenedFor
from supervisor.store.breaker_rows import BreakerRow


class Change(StrEnum):
    """What happened to a workflow's breaker, as recorded in the store."""

    FAILED = "failed"
    SUCCEEDED = "succeeded"
    RATE_OPENED = "rate opened"
    PROBE = "probe"
    RESET = "reset"


def breaker_of(row: BreakerRow, policy: BreakerPolicy, *, shift: float = 0.0) -> CircuitBreaker:
    """The row as a breaker; ``shift`` is added to each time (wall clock to a local clock)."""
    breaker = CircuitBreaker(policy)
    breaker.failures = deque(at + shift for at in row.failures)
    breaker.opened_at = None if row.opened_at is None else row.opened_at + shift
    breaker.opened_for = None if row.opened_for is None else OpenedFor(row.opened_for)
    breaker.probing = row.probe_run is not None
    breaker.probe_run = row.probe_run
    return breaker


def row_of(breaker: CircuitBreaker, row: BreakerRow) -> BreakerRow:
    """``row`` holding the breaker's state (its times on the wall clock)."""
    return replace(
        row,
        failures=tuple(breaker.failures),
        opened_at=breaker.opened_at,
        opened_for=None if breaker.opened_for is None else str(breaker.opened_for),
        probe_run=breaker.probe_run if breaker.probing else None,
    )


def changed(
    row: BreakerRow, change: Change, *, policy: BreakerPolicy, now: float, run_id: str | None = None
) -> BreakerRow | None:
    """The row after ``change`` at ``now`` (wall clock); None when it stays as it is.

    A ``PROBE`` is refused (None) when the breaker is not half-open or another
    run probes it already; ``probe_holds`` tells the two apart.
    """
    breaker = breaker_of(row, policy)
    if change is Change.FAILED:
        breaker.record_failure(now)
    elif change is Change.SUCCEEDED:
        if not breaker.failures and breaker.opened_at is None:
            return None
        breaker.record_success(now)
    elif change is Change.RATE_OPENED:
        if breaker.opened_at is not None:
            return None
        breaker.opened_at, breaker.opened_for = now, OpenedFor.RUN_RATE
    elif change is Change.PROBE:
        if row.probe_run is not None or breaker.state(now) is not BreakerState.HALF_OPEN:
            return None
        breaker.probing, breaker.probe_run = True, run_id
    elif change is Change.RESET:
        # Always a change, even of a closed breaker: the run-rate count starts afresh now.
        breaker.reset()
        return replace(row_of(breaker, row), starts_since=now)
    new = row_of(breaker, row)
    return None if new == row else new


def probe_holds(row: BreakerRow, run_id: str, *, policy: BreakerPolicy, now: float) -> bool:
    """Whether ``run_id`` may start as the breaker stands in ``row`` (after a ``PROBE``)."""
    breaker = breaker_of(row, policy)
    return breaker.allows(now) or row.probe_run == run_id
