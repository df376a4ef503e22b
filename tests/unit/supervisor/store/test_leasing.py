"""Which leases a renewal renews: a pure function of (lease ends, now); and whose clock is "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from automation.clock import FakeClock
from supervisor.store import HistoryStore
from supervisor.store.leasing import database_now, lease_now, split_renewals

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_lease_that_ends_at_or_before_now_is_not_renewed() -> None:
    leases = [
        ("later", NOW + timedelta(microseconds=1)),
        ("now", NOW),
        ("earlier", NOW - timedelta(seconds=3)),
        ("no-lease", None),
    ]
    assert split_renewals(leases, NOW) == (["later", "no-lease"], ["now", "earlier"])
    assert split_renewals([], NOW) == ([], [])


def test_leases_are_judged_by_the_database_clock_unless_a_test_clock_is_given(
    store: HistoryStore,
) -> None:
    with store.engine.connect() as connection:
        before = datetime.now(UTC)
        found = database_now(connection)
        after = datetime.now(UTC)
        assert found.tzinfo is not None
        # SQLite's 'now' has millisecond steps; the server shares this machine's clock.
        assert before - timedelta(milliseconds=2) <= found <= after + timedelta(milliseconds=2)
        assert lease_now(connection, None) >= found
        fake = FakeClock(start=NOW)
        assert lease_now(connection, fake) == NOW
