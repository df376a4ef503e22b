"""The history database deleted, replaced or locked under a running supervisor.

A real daemon (``RunningDaemon``: the real API on its socket, fork-server
workers, SQLite under a temporary home) while the test deletes its database
files, moves another file over them, or holds the write lock from another
process for 10 s.  Deleted or replaced: ``/health`` says so, a submit gets a
503 saying what to do, the running run's results are kept and, at the stop,
saved to a recovery file the next start imports.  Locked: ``/health`` and
``/workers`` keep answering fast, and the writes go through once it is free.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from automation.engine.events import RunStatus
from supervisor.paths import sqlite_url
from supervisor.store.store import HistoryStore
from tests.helpers.common import eventually
from tests.helpers.daemon import TEST_CONFIG, RunningDaemon, short_home

logger = logging.getLogger(__name__)

GATED = """\
deskpilot: 1
name: {name}
nodes:
  one:
    block: file.append
    with: {{path: out.txt, content: "one\\n"}}
  gate:
    block: file.wait
    with: {{path: gate, timeout: 60, poll_interval: 0.05}}
  two:
    block: file.append
    with: {{path: out.txt, content: "two\\n"}}
links:
  - one -> gate
  - gate -> two
outputs:
  done: yes
"""

STEADY = """\
deskpilot: 1
name: steady
nodes:
  a:
    block: control.delay
    with: {seconds: 0.2}
  b:
    block: control.delay
    with: {seconds: 0.2}
links:
  - a -> b
"""


@pytest.fixture
def home() -> Iterator[Path]:
    folder = short_home("dp-gone-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def database_of(daemon: RunningDaemon) -> Path:
    return daemon.paths.data_dir / "history.sqlite3"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_deleted_database_is_noticed_and_nothing_accepted_is_lost(home: Path) -> None:
    daemon = RunningDaemon(home).start()
    work = home / "work"
    path = write(work, "gated", GATED.format(name="gated"))
    try:
        with daemon.http() as http:
            run_id = http.post("/runs", json={"path": str(path)}).json()["run_id"]
            eventually(lambda: (work / "out.txt").exists(), timeout=20)  # step one is done
            database = database_of(daemon)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)

            health = http.get("/health").json()
            assert health["status"] == "degraded"
            assert "was deleted" in health["database"]
            refused = http.post("/runs", json={"path": str(path)})
            assert refused.status_code == 503
            assert "was deleted" in refused.text and "restart" in refused.text

            # The running run goes on; what it produces waits in memory.
            (work / "gate").write_text("open", encoding="utf-8")
            eventually(lambda: "two" in (work / "out.txt").read_text(), timeout=20)
            assert http.get("/health").json()["status"] == "degraded"
    finally:
        daemon.stop()

    [recovery] = database.parent.glob("history.sqlite3.recovery-*.sqlite3")
    with HistoryStore.open(sqlite_url(recovery)) as saved:
        record = saved.get_run(run_id)
        assert record is not None and record.status is RunStatus.SUCCEEDED

    again = RunningDaemon(home).start()
    try:
        with HistoryStore.open(sqlite_url(database)) as store:
            record = store.get_run(run_id)
            assert record is not None, "the run was not imported from the recovery file"
            assert record.status is RunStatus.SUCCEEDED
            assert record.outputs == {"done": "yes"}
            steps = [(s.node_id, s.status) for s in store.steps(run_id)]
            assert steps == [("one", "succeeded"), ("gate", "succeeded"), ("two", "succeeded")]
        assert list(database.parent.glob("*.recovery-*.sqlite3")) == []
        assert len(list(database.parent.glob("*.recovery-*.sqlite3.imported"))) == 1
        with again.http() as http:
            assert http.get("/health").json()["status"] == "ok"
            assert http.post("/runs", json={"path": str(path)}).status_code == 202
    finally:
        again.stop()


def test_a_replaced_database_is_noticed(home: Path) -> None:
    daemon = RunningDaemon(home).start()
    try:
        database = database_of(daemon)
        copy = database.with_name("copy.sqlite3")
        shutil.copyfile(database, copy)
        os.replace(copy, database)  # same path, another file
        with daemon.http() as http:
            health = http.get("/health").json()
            assert health["status"] == "degraded"
            assert "replaced by another file" in health["database"]
            path = write(home / "work", "tiny", STEADY)
            refused = http.post("/runs", json={"path": str(path)})
            assert refused.status_code == 503 and "replaced" in refused.text
    finally:
        daemon.stop()


LOCK_SECONDS = 10.0
#: /health and /workers must answer within this while the database is locked.
ANSWER_BOUND = 1.0

HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


def lock_it_while_the_api_answers(
    daemon: RunningDaemon, http: httpx.Client, doing: str = ""
) -> tuple[datetime, datetime]:
    """Hold the database's write lock from another process for ``LOCK_SECONDS`` while
    ``/health`` and ``/workers`` are asked again and again: each answers within
    ``ANSWER_BOUND``.  When the lock was taken and when it was let go (wall clock)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(database_of(daemon)), str(LOCK_SECONDS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        locked_wall = datetime.now(UTC)
        times: dict[str, list[float]] = {"/health": [], "/workers": []}
        while time.monotonic() - locked_at < LOCK_SECONDS - 0.5:
            for route, seen in times.items():
                started = time.monotonic()
                assert http.get(route).status_code == 200
                seen.append(time.monotonic() - started)
            time.sleep(0.05)
    finally:
        holder.wait(LOCK_SECONDS + 10)
        if holder.stdout is not None:
            holder.stdout.close()
    released = datetime.now(UTC)
    for route, seen in times.items():
        logger.warning(
            "%s while locked%s: %d calls, max %.0f ms", route, doing, len(seen), max(seen) * 1000
        )
        assert max(seen) < ANSWER_BOUND, (route, sorted(seen)[-5:])
    return locked_wall, released


def test_a_database_locked_elsewhere_delays_writes_not_the_api(home: Path) -> None:
    daemon = RunningDaemon(home, TEST_CONFIG).start()
    path = write(home / "work", "steady", STEADY)
    try:
        with daemon.http(timeout=30) as http:
            ids = [http.post("/runs", json={"path": str(path)}).json()["run_id"] for _ in range(6)]
            eventually(lambda: http.get("/health").json()["running"] > 0, timeout=20)
            lock_it_while_the_api_answers(daemon, http)

            # The writes that waited go through: every run ends, none lost, and none was
            # taken for hung (heartbeats were read all along).
            def ended() -> bool:
                return all(
                    http.get(f"/runs/{run_id}").json()["run"]["status"] == "succeeded"
                    for run_id in ids
                )

            eventually(ended, timeout=60)
            assert [http.get(f"/runs/{i}").json()["run"]["resumes"] for i in ids] == [0] * 6
            eventually(lambda: http.get("/health").json()["status"] == "ok", timeout=20)
    finally:
        daemon.stop()


TICKER = """\
deskpilot: 1
name: ticker
nodes:
  a: {block: control.pass}
triggers:
  - {type: schedule, interval: 1s, misfire: catch_up}
"""


def fire_times(labels: list[str]) -> list[datetime]:
    """The fire times named by ``schedule:<key>@<time>`` labels (a gap names its two ends)."""
    times = []
    for label in labels:
        for part in label.split("@", 1)[1].split(".."):
            times.append(datetime.fromisoformat(part))
    return times


def test_schedules_fire_through_a_locked_database_without_stalling_the_api(home: Path) -> None:
    """An interval schedule fires every second while another process holds the write lock
    for 10 s (twice the busy timeout: the first writes fail).  ``/health`` and ``/workers``
    answer fast all along; afterwards every fire is in the history once, none lost."""
    daemon = RunningDaemon(home, TEST_CONFIG, triggers=True, workflows={"ticker": TICKER})
    daemon.start()
    try:
        with daemon.http(timeout=30) as http:

            def labels() -> list[str]:
                page = http.get("/runs", params={"workflow": "ticker", "limit": 500}).json()
                return [run["trigger"] for run in page["runs"]]

            eventually(lambda: len(labels()) >= 2, timeout=20)
            locked_wall, released = lock_it_while_the_api_answers(daemon, http, ", schedule firing")

            # The fires made while locked reach the history once the lock is gone.
            def through_release() -> bool:
                return max(fire_times(labels())) > released + timedelta(seconds=2)

            eventually(through_release, timeout=60)
            found = labels()
            assert len(found) == len(set(found)), "a fire was recorded twice"
            fires = sorted(fire_times(found))
            during = [t for t in fires if locked_wall <= t <= released]
            assert len(during) >= LOCK_SECONDS - 2, during  # fired while locked, none lost
            gaps = [(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)]
            assert max(gaps) <= 1.0, fires  # every second accounted for
    finally:
        daemon.stop()
