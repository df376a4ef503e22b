"""Real supervisors sharing one PostgreSQL fire a schedule they all load once per slot.

Three ``deskpilot supervisor start --foreground`` processes, each with its
own home and ``DESKPILOT_HOST``, load the same workflow with a schedule
every 3 s.  They start together, so each finds no saved state and anchors
the interval at its own start (on another phase, unless they started within
the same second): they must agree on one anchor (the first
saver's, ``TriggerStateStore.stored_anchor``) and take each slot's fire key
once (``supervisor.store.fires``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from supervisor.store import HistoryStore
from tests.helpers.daemon import CLI_BOOT, short_home
from tests.helpers.fleet import waited_for

TICKER = """\
deskpilot: 1
name: ticker
nodes:
  only:
    block: control.pass
triggers:
  - {type: schedule, interval: 3s}
"""
SLOTS = 4
INTERVAL = 3


@pytest.fixture
def supervisors(postgres_url: str) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    homes: list[Path] = []
    yield_list = started
    try:
        for host in ("pc-a", "pc-b", "pc-c"):
            home = short_home("dpf-")
            homes.append(home)
            (home / "workflows").mkdir()
            (home / "workflows" / "ticker.yaml").write_text(TICKER)
            env = {
                **os.environ,
                "DESKPILOT_HOME": str(home),
                "DESKPILOT_DATABASE_URL": postgres_url,
                "DESKPILOT_HOST": host,
                "SHELL": "/bin/sh",
            }
            with (home / "stderr.txt").open("w") as errors:  # the child keeps its own copy
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-c", CLI_BOOT, "supervisor", "start", "--foreground"],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=errors,
                        text=True,
                    )
                )
        # Started together: none finds the others' trigger state when it loads its own.
        for process in started:
            assert process.stdout is not None
            line = process.stdout.readline()
            if "supervisor running" not in line:
                errors = "\n".join((home / "stderr.txt").read_text()[-2000:] for home in homes)
                raise AssertionError(f"a supervisor did not start: {line!r} {errors}")
        yield yield_list
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)


def test_a_schedule_loaded_by_three_supervisors_fires_once_per_slot(
    postgres_url: str, supervisors: list[subprocess.Popen[str]]
) -> None:
    store = HistoryStore.open(postgres_url)
    try:

        def labels() -> Counter[str]:
            return Counter(
                run.trigger
                for run in store.list_runs(workflow="ticker", limit=None)
                if run.trigger.startswith("schedule:")
            )

        first = len(labels())
        waited_for(lambda: len(labels()) >= first + SLOTS, 90, f"{SLOTS} more slots fired")
        fired = labels()
    finally:
        store.close()

    assert all(process.poll() is None for process in supervisors)
    assert max(fired.values()) == 1, [label for label, count in fired.items() if count > 1]
    slots = sorted(datetime.fromisoformat(label.rpartition("@")[2]) for label in fired)
    # One phase: every slot a whole number of intervals after the first (one anchor).
    assert {(slot - slots[0]).total_seconds() % INTERVAL for slot in slots} == {0.0}
