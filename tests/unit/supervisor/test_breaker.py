"""The circuit breaker as a pure function of (recorded failures, now): plain numbers, no clock."""

from __future__ import annotations

import pytest

from supervisor.breaker import BreakerPolicy, BreakerState, CircuitBreaker, OpenedFor

POLICY = BreakerPolicy(threshold=3, window=60.0, cooldown=30.0)


def opened_at(now: float) -> CircuitBreaker:
    breaker = CircuitBreaker(POLICY)
    for offset in (2.0, 1.0, 0.0):
        breaker.record_failure(now - offset)
    assert breaker.state(now) is BreakerState.OPEN
    return breaker


def test_opens_at_the_threshold_of_failures_within_the_window() -> None:
    breaker = CircuitBreaker(POLICY)
    assert breaker.record_failure(0.0) is False
    assert breaker.record_failure(10.0) is False
    assert breaker.state(10.0) is BreakerState.CLOSED and breaker.allows(10.0)
    assert breaker.record_failure(20.0) is True  # the third, within 60 s
    assert breaker.state(20.0) is BreakerState.OPEN
    assert not breaker.allows(20.0)
    assert breaker.reopens_at() == 50.0
    assert breaker.record_failure(21.0) is False  # already open: not opened again


def test_failures_older_than_the_window_do_not_count() -> None:
    breaker = CircuitBreaker(POLICY)
    breaker.record_failure(0.0)
    breaker.record_failure(30.0)
    assert breaker.record_failure(61.0) is False  # the one at 0 s slid out of the window
    assert list(breaker.failures) == [30.0, 61.0]
    assert breaker.state(61.0) is BreakerState.CLOSED
    assert breaker.record_failure(62.0) is True


def test_a_success_clears_the_count() -> None:
    breaker = CircuitBreaker(POLICY)
    breaker.record_failure(0.0)
    breaker.record_failure(1.0)
    assert breaker.record_success(2.0) is False  # it was not open
    assert breaker.record_failure(3.0) is False
    assert breaker.record_failure(4.0) is False


def test_half_open_after_the_cooldown_lets_one_probe_through() -> None:
    breaker = opened_at(100.0)
    assert breaker.state(129.9) is BreakerState.OPEN and not breaker.allows(129.9)
    assert breaker.state(130.0) is BreakerState.HALF_OPEN
    assert breaker.allows(130.0)
    breaker.started(130.0)
    assert breaker.probing
    assert not breaker.allows(130.5), "a second run must wait for the probe"


def test_a_successful_probe_closes_it() -> None:
    breaker = opened_at(100.0)
    breaker.started(131.0)
    assert breaker.record_success(132.0) is True
    assert breaker.state(132.0) is BreakerState.CLOSED
    assert breaker.opened_at is None and not breaker.probing and not breaker.failures
    assert breaker.reopens_at() is None


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    breaker = opened_at(100.0)
    breaker.started(131.0)
    assert breaker.record_failure(135.0) is True
    assert breaker.state(135.0) is BreakerState.OPEN
    assert not breaker.probing
    assert breaker.reopens_at() == 165.0
    assert breaker.state(165.0) is BreakerState.HALF_OPEN


def test_a_failure_while_half_open_reopens_it_even_without_a_probe() -> None:
    breaker = opened_at(100.0)
    assert breaker.record_failure(140.0) is True  # a run that started before it opened
    assert breaker.state(140.0) is BreakerState.OPEN


def test_started_while_closed_is_not_a_probe() -> None:
    breaker = CircuitBreaker(POLICY)
    breaker.started(0.0)
    assert not breaker.probing and breaker.allows(0.0)


def test_reset_closes_it() -> None:
    breaker = opened_at(100.0)
    breaker.started(131.0)
    breaker.reset()
    assert breaker.state(131.0) is BreakerState.CLOSED and breaker.allows(131.0)
    assert not breaker.failures and not breaker.probing


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"threshold": 0}, "threshold must be at least 1"),
        ({"window": 0}, "longer than zero"),
        ({"cooldown": -1}, "longer than zero"),
    ],
)
def test_policy_refuses_nonsense(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerPolicy(**values)  # type: ignore[arg-type]


RATE = BreakerPolicy(threshold=3, window=60.0, cooldown=30.0, max_starts=4, rate_window=10.0)


def test_opens_on_run_rate_and_only_its_probe_closes_it() -> None:
    breaker = CircuitBreaker(RATE)
    assert [breaker.started(t) for t in (0.0, 1.0, 2.0, 3.0)] == [False] * 4
    assert breaker.started(4.0) is True  # the fifth start within 10 s
    assert breaker.opened_for is OpenedFor.RUN_RATE
    assert breaker.state(4.0) is BreakerState.OPEN and not breaker.allows(5.0)
    assert breaker.record_success(6.0) is False  # a run from before the flood ends well
    assert breaker.state(6.0) is BreakerState.OPEN
    assert breaker.allows(34.0)  # half-open: one probe
    assert breaker.started(34.0) is False
    assert breaker.record_success(40.0) is True
    assert breaker.state(40.0) is BreakerState.CLOSED and breaker.opened_for is None


def test_starts_spread_over_time_never_open_it() -> None:
    breaker = CircuitBreaker(RATE)
    assert not any(breaker.started(t * 2.5) for t in range(100))
    assert breaker.state(250.0) is BreakerState.CLOSED
