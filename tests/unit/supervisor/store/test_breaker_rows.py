"""Breakers in the store: compare-and-set changes that no other supervisor's change undoes."""

from __future__ import annotations

import threading

from supervisor.breaker import BreakerPolicy
from supervisor.breaker_sync import Change, changed
from supervisor.store.breaker_rows import BreakerRow
from tests.helpers.storage import StoreFactory

#: Nothing opens: every failure is kept, so a lost update shows as a missing one.
NEVER_OPENS = BreakerPolicy(threshold=10_000, window=1e9)


def test_a_workflow_without_a_row_has_a_closed_breaker(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.breaker_row("never-ran") == BreakerRow(workflow="never-ran")
    assert store.breaker_rows() == []


def test_changes_from_many_writers_at_once_are_all_kept(store_factory: StoreFactory) -> None:
    writers, each = 4, 15
    stores = [store_factory() for _ in range(writers)]
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def fail_often(index: int) -> None:
        try:
            start.wait()
            for n in range(each):
                at = float(index * 1000 + n)
                stores[index].change_breaker(
                    "flaky",
                    lambda row, at=at: changed(row, Change.FAILED, policy=NEVER_OPENS, now=at),
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fail_often, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    row = stores[0].breaker_row("flaky")
    assert len(row.failures) == writers * each
    assert row.version == writers * each
    assert [r.workflow for r in stores[0].breaker_rows()] == ["flaky"]


def test_a_change_that_changes_nothing_is_not_written(store_factory: StoreFactory) -> None:
    store = store_factory()
    policy = BreakerPolicy(threshold=1)
    row, wrote = store.change_breaker(
        "flaky", lambda r: changed(r, Change.FAILED, policy=policy, now=10.0)
    )
    assert wrote and row.opened_at == 10.0 and row.version == 1
    again, wrote = store.change_breaker(
        "flaky", lambda r: changed(r, Change.RATE_OPENED, policy=policy, now=11.0)
    )
    assert not wrote and again == row
