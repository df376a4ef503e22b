"""A history that refuses writes (locked by another program, disk full) stops no one for good.

The supervisor writes the history on its loop.  While another process holds
the write lock, a write waits out the busy timeout and then fails: the loop
stalls that long, heartbeats pile up unread, and the failed write must leave
the run it was for queued, not half-started.  These tests use a real second
process holding a real SQLite write lock, and a real full filesystem (a small
tmpfs, where the machine lets the test mount one).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.store.errors import DatabaseLocked, DiskFull
from tests.helpers.common import eventually
from tests.integration.supervisor.harness import SupervisorThread
from tests.integration.supervisor.test_crashes import gated

#: The supervisor's busy timeout in these tests: how long one write may stall its loop.
BUSY_TIMEOUT = 1.5

PLAIN = """\
deskpilot: 1
name: {name}
nodes:
  only:
    block: control.pass
    with: {{value: 1}}
"""


@contextlib.contextmanager
def write_lock(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the history's write lock until the block ends."""
    script = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.execute('ROLLBACK')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()


def test_a_locked_history_stalls_nobody_for_good_and_kills_no_healthy_worker(
    start_supervisor,
) -> None:
    harness: SupervisorThread = start_supervisor(worker_limit=1, busy_timeout=BUSY_TIMEOUT)
    first = harness.workflow("first", gated("first"))
    waiting = harness.submit(first)
    harness.wait_event("node_started", run_id=waiting, node_id="gate")
    queued = harness.submit(harness.workflow("second", PLAIN.format(name="second")))
    assert harness.run(queued).status is RunStatus.QUEUED

    with write_lock(harness.home / "history.sqlite3"):
        # A submission waits out the busy timeout on the supervisor's loop, then says why.
        with pytest.raises(DatabaseLocked, match="stayed locked by another program"):
            harness.submit(harness.workflow("third", PLAIN.format(name="third")))
        # The loop was stalled for longer than a lease: the busy worker's heartbeats were
        # waiting unread, and it must not be taken for hung.
        assert harness.seen("heartbeat_missed") == []
        # The first run ends; the queued one cannot be marked running, so it waits, queued.
        (first.parent / "gate").write_text("open", encoding="utf-8")
        failed = harness.wait_event("history_write_failed", timeout=15)
        assert failed["doing"] == f"start run {queued}"
        assert "locked" in failed["error"]
        health = harness.call(harness.sup.health)
        assert health["status"] == "degraded" and "locked" in health["database"]
        assert harness.run(queued).status is RunStatus.QUEUED
    for run_id in (waiting, queued):
        record = harness.wait_terminal(run_id, timeout=30)
        assert record.status is RunStatus.SUCCEEDED, record.error
        assert record.resumes == 0
    assert harness.seen("heartbeat_missed") == []
    assert harness.sup.counters["heartbeat_misses"] == 0
    eventually(lambda: harness.call(harness.sup.health)["status"] == "ok")
    assert harness.store.integrity_check() == "ok"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs to fill up; skipped where this user may not mount one."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
            os.fsync(out.fileno())
    return filler


def test_a_full_disk_fails_clearly_and_everything_goes_on_once_space_is_freed(
    small_disk: Path, start_supervisor
) -> None:
    harness: SupervisorThread = start_supervisor(home=small_disk, worker_limit=1)
    first = harness.workflow("first", gated("first"))
    waiting = harness.submit(first)
    harness.wait_event("node_started", run_id=waiting, node_id="gate")
    queued = harness.submit(harness.workflow("second", PLAIN.format(name="second")))
    third = harness.workflow("third", PLAIN.format(name="third"))

    filler = fill(small_disk)
    try:
        with pytest.raises(DiskFull, match="is full. Free some space"):
            harness.submit(third)
        (first.parent / "gate").touch()  # an empty file: it needs no space
        failed = harness.wait_event("history_write_failed", timeout=15)
        assert "full" in failed["error"]
        health = harness.call(harness.sup.health)
        assert health["status"] == "degraded" and "full" in health["database"]
        assert harness.run(queued).status is RunStatus.QUEUED
    finally:
        filler.unlink()
    for run_id in (waiting, queued):
        record = harness.wait_terminal(run_id, timeout=60)
        assert record.status is RunStatus.SUCCEEDED, record.error
    assert harness.seen("heartbeat_missed") == []
    eventually(lambda: harness.call(harness.sup.health)["status"] == "ok", timeout=30)
    assert harness.store.integrity_check() == "ok"
