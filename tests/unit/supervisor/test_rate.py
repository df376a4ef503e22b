"""Run-rate ceilings as a pure function of (recorded starts, now), and their config."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.rate import RateLimitConfigError, RateLimits, RunRate


def test_one_trigger_is_held_to_its_ceiling_and_the_window_slides() -> None:
    rate = RunRate(RateLimits(per_trigger=3, total=100, window=10.0))
    assert [rate.admit("a:0", t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    refused = rate.admit("a:0", 3.0)
    assert refused is not None and refused.startswith("skipped: trigger a:0 already started 3")
    assert "runs_per_trigger in [rate_limits] of config.toml" in refused
    assert rate.admit("b:0", 3.0) is None  # another trigger has its own count
    assert rate.admit("a:0", 10.0) is None  # the start at 0.0 left the window
    assert rate.admit("a:0", 10.5) is not None


def test_all_triggers_together_are_held_to_the_total() -> None:
    rate = RunRate(RateLimits(per_trigger=10, total=4, window=60.0))
    for index in range(4):
        assert rate.admit(f"w{index}:0", float(index)) is None
    refused = rate.admit("w9:0", 5.0)
    assert refused is not None and "runs_total" in refused and "all of them" in refused


def test_a_refused_fire_is_not_counted() -> None:
    rate = RunRate(RateLimits(per_trigger=1, total=100, window=10.0))
    assert rate.admit("a:0", 0.0) is None
    for moment in (1.0, 2.0, 9.0):
        assert rate.admit("a:0", moment) is not None
    assert rate.admit("a:0", 10.0) is None


def test_limits_come_from_config_toml(tmp_path: Path) -> None:
    assert RateLimits.from_config(tmp_path) == RateLimits()
    (tmp_path / "config.toml").write_text(
        "[retention]\nmax_runs = 10\n[rate_limits]\nruns_per_trigger = 5\nruns_total = 7\n"
        "window_seconds = 2.5\n"
    )
    assert RateLimits.from_config(tmp_path) == RateLimits(per_trigger=5, total=7, window=2.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rate_limits]\nruns_per_trigger = 0\n", "at least 1"),
        ("[rate_limits]\nruns_total = 'many'\n", "must be a number"),
        ("[rate_limits]\nwindow_seconds = -1\n", "must be positive"),
        ("[rate_limits]\nrun_per_trigger = 5\n", "unknown setting run_per_trigger"),
        ("rate_limits = 3\n", "must be a table"),
        ("[rate_limits\n", "cannot read"),
    ],
)
def test_a_bad_setting_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(RateLimitConfigError, match=message):
        RateLimits.from_config(tmp_path)
