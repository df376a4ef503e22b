"""Starting a detached supervisor, as the window and ``deskpilot supervisor start`` both do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from supervisor.client import start_detached, start_log_tail
from supervisor.instance_lock import InstanceLock
from supervisor.paths import HOME_VARIABLE, DeskpilotPaths


def test_a_supervisor_that_exits_at_once_says_why_in_its_start_log(tmp_path: Path) -> None:
    """Another instance holds the lock: the new one exits, and its start log tells the caller."""
    paths = DeskpilotPaths.under(tmp_path).ensure()
    holder = InstanceLock(paths.state_dir / "deskpilotd.lock")
    holder.acquire()
    env = {**os.environ, HOME_VARIABLE: str(tmp_path)}
    env.pop("DESKPILOT_DATABASE_URL", None)
    try:
        process = start_detached(paths, env, requested_by="a test")
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    finally:
        holder.release()

    tail = start_log_tail(paths)
    assert code != 0
    assert "started by a test" in tail
    assert "another Deskpilot supervisor is already running" in tail


def test_the_start_log_tail_is_empty_before_any_start(tmp_path: Path) -> None:
    assert start_log_tail(DeskpilotPaths.under(tmp_path)) == ""
