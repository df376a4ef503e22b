"""``[supervisor]`` of config.toml: read into ``SupervisorConfig``, a bad value named with its file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.config import WORKER_START_TIMEOUT
from supervisor.config_file import SupervisorConfigError, load_supervisor_config
from supervisor.rate import RateLimits


def test_no_file_or_section_means_the_defaults(tmp_path: Path) -> None:
    assert load_supervisor_config(tmp_path).handover_timeout is None
    (tmp_path / "config.toml").write_text("[retention]\nmax_runs = 10\n")
    config = load_supervisor_config(tmp_path)
    assert config.handover_deadline == WORKER_START_TIMEOUT + 2 * config.lease


def test_handover_timeout_and_rate_limits_are_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        "[supervisor]\nhandover_timeout = 30\n[rate_limits]\nruns_total = 7\n"
    )
    config = load_supervisor_config(tmp_path)
    assert config.handover_timeout == 30.0
    assert config.handover_deadline == 30.0
    assert config.rate_limits == RateLimits(total=7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[supervisor]\nhandover_timeout = 0\n", "must be a positive number of seconds, got 0"),
        ("[supervisor]\nhandover_timeout = -2.5\n", "must be a positive number of seconds"),
        ("[supervisor]\nhandover_timeout = nan\n", "must be a positive number of seconds"),
        ("[supervisor]\nhandover_timeout = '13s'\n", "must be a number of seconds, got '13s'"),
        ("[supervisor]\nhandover_timeout = true\n", "must be a number of seconds"),
        ("[supervisor]\nhandover_timout = 5\n", "unknown setting handover_timout"),
        ("supervisor = 3\n", "must be a table of settings"),
        ("[supervisor\n", "cannot read"),
    ],
)
def test_a_bad_value_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(SupervisorConfigError, match=message) as raised:
        load_supervisor_config(tmp_path)
    assert str(tmp_path / "config.toml") in str(raised.value)


def test_deskpilotd_refuses_to_start_with_a_bad_value(tmp_path: Path) -> None:
    """The real entry point: exit 1, the message on stderr, nothing started."""
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    config = home / "config" / "config.toml"
    config.write_text("[supervisor]\nhandover_timeout = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "supervisor.daemon"],
        env={**os.environ, "DESKPILOT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"handover_timeout in [supervisor] of {config}" in result.stderr
    assert "positive number of seconds, got -1" in result.stderr
