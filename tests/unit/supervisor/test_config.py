"""Supervisor settings: checked where they are made; the lease and the restart backoff."""

from __future__ import annotations

import os
from typing import Any

import pytest

from supervisor.config import SupervisorConfig


def test_defaults() -> None:
    config = SupervisorConfig()
    assert config.worker_limit == (os.cpu_count() or 2)
    assert config.spare_workers == 1
    assert config.lease == pytest.approx(1.5)  # three heartbeats of 0.5 s


def test_lease_is_three_heartbeats_unless_a_timeout_is_given() -> None:
    assert SupervisorConfig(heartbeat_interval=0.2).lease == pytest.approx(0.6)
    assert SupervisorConfig(heartbeat_interval=0.2, heartbeat_timeout=2.0).lease == 2.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"worker_limit": 0}, "worker limit must be at least 1"),
        ({"heartbeat_interval": 0}, "heartbeat interval must be positive"),
        ({"heartbeat_interval": 1.0, "heartbeat_timeout": 1.0}, "longer than the heartbeat"),
        ({"max_restarts": -1}, "cannot be negative"),
        ({"spare_workers": -1}, "cannot be negative"),
    ],
)
def test_refuses_nonsense(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SupervisorConfig(**values)


def test_config_is_frozen() -> None:
    config = SupervisorConfig()
    with pytest.raises(AttributeError):
        config.worker_limit = 5  # type: ignore[misc]


def test_first_restart_is_immediate_then_the_delay_doubles_up_to_the_cap() -> None:
    config = SupervisorConfig(restart_delay=0.5, restart_delay_max=3.0, restart_jitter=0.0)
    delays = [config.restart_backoff(n, 0.5) for n in range(1, 8)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert config.restart_backoff(0, 0.5) == 0.0


def test_jitter_spreads_the_delay_both_ways_within_its_share() -> None:
    config = SupervisorConfig(restart_delay=1.0, restart_jitter=0.2)
    assert config.restart_backoff(2, 0.0) == pytest.approx(0.8)
    assert config.restart_backoff(2, 0.5) == pytest.approx(1.0)
    assert config.restart_backoff(2, 1.0) == pytest.approx(1.2)
    # a jitter over 100 % never makes a negative delay
    wild = SupervisorConfig(restart_delay=1.0, restart_jitter=1.5)
    assert wild.restart_backoff(2, 0.0) == 0.0
