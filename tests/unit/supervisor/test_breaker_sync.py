"""A breaker's stored row under each change: the rules of ``supervisor.breaker``, on the wall clock."""

from __future__ import annotations

from supervisor.breaker import BreakerPolicy
from supervisor.breaker_sync import Change, breaker_of, changed, probe_holds
from supervisor.store.breaker_rows import BreakerRow

POLICY = BreakerPolicy(threshold=2, window=60.0, cooldown=30.0)
EMPTY = BreakerRow(workflow="flaky", version=3)


def test_failures_from_any_supervisor_add_up_and_open_it() -> None:
    one = changed(EMPTY, Change.FAILED, policy=POLICY, now=100.0)
    assert one is not None and one.failures == (100.0,) and one.opened_at is None
    two = changed(one, Change.FAILED, policy=POLICY, now=101.0)
    assert two is not None and two.opened_at == 101.0 and two.opened_for == "failures"


def test_a_success_that_changes_nothing_writes_nothing() -> None:
    assert changed(EMPTY, Change.SUCCEEDED, policy=POLICY, now=100.0) is None
    failed = changed(EMPTY, Change.FAILED, policy=POLICY, now=100.0)
    assert failed is not None
    cleared = changed(failed, Change.SUCCEEDED, policy=POLICY, now=101.0)
    assert cleared is not None and cleared.failures == ()


def test_one_probe_across_the_fleet_and_its_end_decides() -> None:
    opened = BreakerRow(workflow="flaky", opened_at=100.0, opened_for="failures", version=4)
    assert changed(opened, Change.PROBE, policy=POLICY, now=110.0, run_id="r1") is None  # open
    probed = changed(opened, Change.PROBE, policy=POLICY, now=131.0, run_id="r1")
    assert probed is not None and probed.probe_run == "r1"
    # a second supervisor's candidate is refused; the chosen run may go (again)
    assert changed(probed, Change.PROBE, policy=POLICY, now=131.5, run_id="r2") is None
    assert not probe_holds(probed, "r2", policy=POLICY, now=131.5)
    assert probe_holds(probed, "r1", policy=POLICY, now=131.5)
    failed = changed(probed, Change.FAILED, policy=POLICY, now=140.0, run_id="r1")
    assert failed is not None and (failed.opened_at, failed.probe_run) == (140.0, None)
    closed = changed(probed, Change.SUCCEEDED, policy=POLICY, now=140.0, run_id="r1")
    assert closed is not None and (closed.opened_at, closed.probe_run) == (None, None)


def test_run_rate_and_reset() -> None:
    rate = changed(EMPTY, Change.RATE_OPENED, policy=POLICY, now=50.0)
    assert rate is not None and (rate.opened_at, rate.opened_for) == (50.0, "run rate")
    assert changed(rate, Change.RATE_OPENED, policy=POLICY, now=51.0) is None
    # a success of a run started before the flood does not close it (as on one machine)
    assert changed(rate, Change.SUCCEEDED, policy=POLICY, now=52.0) is None
    reset = changed(rate, Change.RESET, policy=POLICY, now=53.0)
    assert reset is not None and (reset.opened_at, reset.failures) == (None, ())
    # the fleet's run-rate count starts afresh at a reset, even of a closed breaker
    assert reset.starts_since == 53.0
    fresh = changed(EMPTY, Change.RESET, policy=POLICY, now=54.0)
    assert fresh is not None and fresh.starts_since == 54.0
    assert changed(fresh, Change.FAILED, policy=POLICY, now=55.0).starts_since == 54.0  # type: ignore[union-attr]


def test_a_row_on_another_clock() -> None:
    row = BreakerRow(workflow="flaky", failures=(1000.0,), opened_at=1000.0, opened_for="failures")
    local = breaker_of(row, POLICY, shift=-900.0)
    assert (list(local.failures), local.opened_at, local.reopens_at()) == ([100.0], 100.0, 130.0)
