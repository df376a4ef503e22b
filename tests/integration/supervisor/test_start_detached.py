"""Starting a detached supervisor, as the window and ``deskpilot supervisor start`` both do."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from supervisor.client import START_LOG, start_detached, start_log_tail
from supervisor.instance_lock import LOCK_FILE, InstanceLock, read_lock_holder
from supervisor.paths import DATABASE_FILE, HOME_VARIABLE, DeskpilotPaths
from supervisor.store import HistoryStore


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


def test_a_database_from_a_newer_deskpilot_stops_the_start_with_one_clear_line(
    tmp_path: Path,
) -> None:
    paths = DeskpilotPaths.under(tmp_path).ensure()
    HistoryStore.open(paths.database_url).close()
    connection = sqlite3.connect(paths.data_dir / DATABASE_FILE)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    connection.close()
    env = {**os.environ, HOME_VARIABLE: str(tmp_path)}
    env.pop("DESKPILOT_DATABASE_URL", None)

    process = start_detached(paths, env, requested_by="a test")
    code = process.wait(timeout=60)

    said = (paths.log_dir / START_LOG).read_text(encoding="utf-8")
    assert code == 1
    assert "was last used by a newer version of Deskpilot" in start_log_tail(paths)
    assert "Traceback" not in said


def test_the_start_log_tail_is_empty_before_any_start(tmp_path: Path) -> None:
    assert start_log_tail(DeskpilotPaths.under(tmp_path)) == ""


def test_launchers_starting_at_once_start_one_supervisor() -> None:
    """Two windows opened together both saw a free lock and both started a supervisor; they
    take turns now, and the second finds the first one's lock."""
    import threading

    from supervisor.client import SupervisorClient
    from supervisor.starting import start_unless_running, wait_for_api

    home = Path(tempfile.mkdtemp(prefix="dp-turn-", dir="/tmp"))  # the socket path fits
    paths = DeskpilotPaths.under(home).ensure()
    env = {**os.environ, HOME_VARIABLE: str(home)}
    env.pop("DESKPILOT_DATABASE_URL", None)
    started: list[subprocess.Popen[bytes] | None] = []
    barrier = threading.Barrier(2)

    def launch() -> None:
        barrier.wait()
        started.append(start_unless_running(paths, env, requested_by="a test"))

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    processes = [process for process in started if process is not None]
    try:
        assert len(started) == 2 and len(processes) == 1, started
        assert read_lock_holder(paths.state_dir / LOCK_FILE) == processes[0].pid
        wait_for_api(paths, processes[0].pid)
        with SupervisorClient(paths, remote=None) as client:
            assert client.health().pid == processes[0].pid
            client.shutdown()
        processes[0].wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)
