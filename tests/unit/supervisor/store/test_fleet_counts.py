"""What the fleet view reads from the store: running runs per supervisor, the oldest queued run.

Part of the store contract: every test runs against every store backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from automation.clock import FakeClock

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_running_runs_are_counted_per_claimant(store_factory) -> None:
    store = store_factory(clock=FakeClock(start=START))
    for index in range(3):
        store.create_run(f"{index:032x}", "invoices", target_host="desk-a", priority=index)
    store.create_run("f" * 32, "nightly")
    assert store.running_by_claimant() == {}

    store.claim_queued("a" * 32, limit=2, host="desk-a", lease_seconds=60)
    store.claim_queued("b" * 32, limit=5, host="desk-b", lease_seconds=60)  # only the untargeted

    assert store.running_by_claimant() == {"a" * 32: 2, "b" * 32: 1}


def test_the_oldest_queued_run_is_found_per_target_machine(store_factory) -> None:
    clock = FakeClock(start=START)
    store = store_factory(clock=clock)
    assert store.oldest_queued() == {}
    store.create_run("1" * 32, "invoices", target_host="desk-a", at=START - timedelta(minutes=9))
    store.create_run("2" * 32, "invoices", target_host="desk-a", at=START - timedelta(minutes=2))
    store.create_run("3" * 32, "nightly", at=START - timedelta(minutes=5))
    store.create_run("4" * 32, "nightly", status="succeeded", at=START - timedelta(hours=5))

    oldest = store.oldest_queued()

    assert oldest == {"desk-a": START - timedelta(minutes=9), None: START - timedelta(minutes=5)}
    assert all(at.tzinfo is not None for at in oldest.values())
