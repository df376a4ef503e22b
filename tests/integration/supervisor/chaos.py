"""The chaos driver: many runs, random worker SIGKILLs and SIGSTOPs, a supervisor SIGKILL.

Used by the quick chaos test and by the long soak (``tests/soak``).  The
supervisor is a real process (``daemon_proc``, fork-server workers); runs are
submitted from inside it in two batches, one before and one after it is
SIGKILLed and started again.  While runs go, a chaos thread SIGKILLs or
SIGSTOPs a random worker every few tens of milliseconds, and kills the fork
server once.

Each of the workflow's three ``file.append`` steps adds a line naming itself
to a file of its run; ``check_no_step_ran_twice`` reads those files against
the recorded outputs, beside the database's own check (at most one
succeeded attempt per run and step).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from tests.integration.supervisor.harness import DaemonProcess, duplicate_successes, wait_for

logger = logging.getLogger(__name__)

#: Settings of the daemon under chaos: fast detection, room to survive many interruptions,
#: and a breaker that does not open (a crash here is the test's doing, not the workflow's).
CHAOS_OPTIONS: dict[str, Any] = {
    "launcher": "fork",
    "worker_limit": 2,
    "spare_workers": 1,
    "heartbeat_interval": 0.2,
    "kill_grace": 0.5,
    "restart_delay": 0.05,
    "restart_delay_max": 0.5,
    "max_restarts": 8,
    "shutdown_grace": 1.0,
    "breaker": {"threshold": 100_000, "window": 60.0, "cooldown": 1.0},
}


APPENDS = ("one", "two", "three")


def workflow_text(pause: float = 0.03) -> str:
    """Three appending steps with short pauses between them (so workers are mostly busy)."""
    nodes: dict[str, Any] = {
        node: {
            "block": "file.append",
            "with": {"path": "counts/{{ run.id }}", "content": f"{node}\n"},
        }
        for node in APPENDS
    }
    nodes["pause1"] = {"block": "control.delay", "with": {"seconds": pause}}
    nodes["pause2"] = {"block": "control.delay", "with": {"seconds": pause}}
    workflow = {
        "deskpilot": 1,
        "name": "chaos",
        "nodes": nodes,
        "links": ["one -> pause1", "pause1 -> two", "two -> pause2", "pause2 -> three"],
    }
    return yaml.safe_dump(workflow, sort_keys=False)


@dataclass
class ChaosReport:
    runs: int
    statuses: Counter[str]
    kills: int = 0
    stops: int = 0
    server_kills: int = 0
    supervisor_kills: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    #: Every worker (and fork server) process seen during the test.
    pids: set[int] = field(default_factory=set)
    #: Seconds another process held the database's write lock, each time.
    lock_holds: list[float] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.runs} runs in {self.seconds:.1f}s: {dict(self.statuses)}; "
            f"workers SIGKILLed {self.kills}, SIGSTOPped {self.stops}, fork server killed "
            f"{self.server_kills}, supervisor killed {self.supervisor_kills}; database locked "
            f"by another process {len(self.lock_holds)} times "
            f"({', '.join(f'{s:.1f}s' for s in self.lock_holds)}); "
            f"interruptions recorded: {dict(self.reasons)}"
        )


class Monkey(threading.Thread):
    """Signals random workers of the daemon until stopped."""

    def __init__(self, daemon: DaemonProcess, seed: int, pause: tuple[float, float]) -> None:
        super().__init__(name="chaos-monkey", daemon=True)
        self.daemon_process = daemon
        self.random = random.Random(seed)
        self.pause = pause
        self.halt = threading.Event()
        self.hold = threading.Event()  # set while the supervisor is being restarted
        self.kills = self.stops = self.server_kills = 0
        self.kill_server_once = True
        self.seen: set[int] = set()

    def _targets(self) -> tuple[list[psutil.Process], psutil.Process | None]:
        workers, server = [], None
        for proc in self.daemon_process.workers():
            self.seen.add(proc.pid)
            with contextlib.suppress(psutil.Error):
                if proc.ppid() == self.daemon_process.pid and "--fork-server" in proc.cmdline():
                    server = proc
                elif proc.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
                    workers.append(proc)
        return workers, server

    def run(self) -> None:
        while not self.halt.wait(self.random.uniform(*self.pause)):
            if self.hold.is_set():
                continue
            with contextlib.suppress(psutil.Error, ProcessLookupError, AssertionError):
                workers, server = self._targets()
                if server is not None and self.kill_server_once and self.kills > 5:
                    self.kill_server_once = False
                    os.kill(server.pid, signal.SIGKILL)
                    self.server_kills += 1
                    continue
                if not workers:
                    continue
                victim = self.random.choice(workers)
                if self.random.random() < 0.7:
                    os.kill(victim.pid, signal.SIGKILL)
                    self.kills += 1
                else:
                    os.kill(victim.pid, signal.SIGSTOP)
                    self.stops += 1


HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


class Locker(threading.Thread):
    """Holds the database's write lock from another process, at set points of the run.

    ``targets`` are finished-run counts; when the history reaches one, a child
    process takes ``BEGIN EXCLUSIVE`` and keeps it ``seconds``.  ``restarting``
    keeps a lock hold and a supervisor restart apart (a start on a locked
    database is another test).
    """

    def __init__(
        self, database: Path, targets: list[int], seconds: float, restarting: threading.Lock
    ) -> None:
        super().__init__(name="chaos-locker", daemon=True)
        self.database = database
        self.targets = sorted(targets)
        self.seconds = seconds
        self.restarting = restarting
        self.halt = threading.Event()
        self.held: list[float] = []

    def run(self) -> None:
        for target in self.targets:
            while _finished(self.database) < target:
                if self.halt.wait(0.2):
                    return
            with self.restarting:
                self.held.append(hold_lock(self.database, self.seconds))


def hold_lock(database: Path, seconds: float) -> float:
    """Hold ``database``'s write lock from another process for ``seconds``; returns how long."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(database), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        holder.wait(seconds + 30)
        return time.monotonic() - started


def run_chaos(
    daemon: DaemonProcess,
    folder: Path,
    *,
    runs: int,
    seed: int,
    timeout: float,
    monkey_pause: tuple[float, float] = (0.2, 0.5),
    step_pause: float = 0.03,
    supervisor_kills: int = 1,
    lock_holds: int = 0,
    lock_seconds: float = 10.0,
) -> ChaosReport:
    """Submit ``runs`` runs in batches, SIGKILLing the supervisor mid-way through each batch
    but the last (and starting it again with the next batch), under chaos; wait for all."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counts").mkdir(exist_ok=True)
    workflow = folder / "chaos.yaml"
    workflow.write_text(workflow_text(step_pause), encoding="utf-8")
    database = daemon.home / "data" / "history.sqlite3"
    started = time.monotonic()
    batches = supervisor_kills + 1
    sizes = [runs // batches + (1 if i < runs % batches else 0) for i in range(batches)]
    ids = daemon.start(workflow, count=sizes[0])
    monkey = Monkey(daemon, seed, monkey_pause)
    monkey.start()
    restarting = threading.Lock()
    locker = Locker(
        database,
        [runs * (n + 1) // (lock_holds + 1) for n in range(lock_holds)],
        lock_seconds,
        restarting,
    )
    locker.start()
    try:
        for size, following in zip(sizes, sizes[1:], strict=False):
            # let about half of this batch finish, then kill the supervisor mid-run
            target = len(ids) - size // 2
            wait_for(functools.partial(_reached, database, target), timeout=timeout)
            with restarting:
                monkey.hold.set()
                daemon.kill()
                ids += daemon.start(workflow, count=following)
                monkey.hold.clear()
        wait_for(functools.partial(_reached, database, runs), timeout=timeout, interval=0.1)
        locker.join(lock_seconds + 60)
    finally:
        monkey.halt.set()
        locker.halt.set()
        monkey.join(5)
    report = ChaosReport(
        runs=len(ids),
        statuses=Counter(status for (status,) in _query(database, "SELECT status FROM runs")),
        kills=monkey.kills,
        stops=monkey.stops,
        server_kills=monkey.server_kills,
        supervisor_kills=supervisor_kills,
        seconds=time.monotonic() - started,
        pids=monkey.seen,
        lock_holds=locker.held,
    )
    notes = "SELECT data FROM events WHERE kind = 'log' AND data LIKE '%\"reason\"%'"
    for (data,) in _query(database, notes):
        report.reasons[json.loads(data)["reason"]] += 1
    return report


def check_no_step_ran_twice(database: Path, counts: Path) -> int:
    """The database and the files agree: no step recorded as done was executed again.

    A ``file.append`` step records the file's size right after its append.  The
    file only grows, so the recorded execution wrote the line that ends at that
    offset, and any execution after it would have appended another line of the
    same node further on.  Returns how many recorded appending steps were checked.
    """
    assert duplicate_successes(database) == []
    checked = 0
    rows = _query(
        database,
        "SELECT run_id, node_id, outputs FROM step_runs WHERE status = 'succeeded' "
        "AND node_id IN ('one', 'two', 'three')",
    )
    ends: dict[str, dict[str, list[int]]] = {}
    for run_id, node_id, outputs in rows:
        if run_id not in ends:
            ends[run_id] = _line_ends(counts / run_id)
        recorded = int(json.loads(outputs)["size"])
        where = ends[run_id].get(node_id, [])
        assert recorded in where, (
            f"run {run_id}: {node_id} recorded at {recorded}, lines end {where}"
        )
        assert max(where) == recorded, (
            f"run {run_id}: step {node_id} ran again after it was recorded "
            f"(recorded append ends at byte {recorded}, lines of it end at {where})"
        )
        checked += 1
    return checked


def check_hang_evidence(database: Path) -> tuple[int, int, list[str]]:
    """Whether every worker found hung left evidence with every thread's Python stack.

    Each hung interruption is a note in its run's log naming the worker's pid;
    the evidence file of that worker must hold py-spy's stacks (a stopped worker
    cannot write its own).  Returns (hung workers, evidence files with stacks,
    what is missing).
    """
    notes = _query(
        database, "SELECT run_id, data FROM events WHERE kind = 'log' AND data LIKE '%hung%'"
    )
    hung = {
        (run_id, int(note["pid"]))
        for run_id, data in notes
        if (note := json.loads(data)).get("reason") == "hung" and note.get("pid")
    }
    stacks: dict[tuple[str, int], dict[str, Any]] = {}
    for run_id, path in _query(
        database,
        "SELECT run_id, path FROM artifacts WHERE kind = 'evidence' AND path LIKE '%-hung.json'",
    ):
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        stacks[(run_id, int(saved["pid"]))] = saved.get("python_stacks") or {}
    problems = []
    complete = 0
    for key in sorted(hung):
        found = stacks.get(key)
        if found is None:
            problems.append(f"run {key[0]}, worker {key[1]}: no evidence")
        elif "error" in found or not found.get("threads"):
            problems.append(f"run {key[0]}, worker {key[1]}: no stacks: {found}")
        elif not any(thread["frames"] for thread in found["threads"]):
            # (a thread between two Python calls, or just starting, may show no frame)
            problems.append(f"run {key[0]}, worker {key[1]}: no thread has a frame: {found}")
        else:
            complete += 1
    return len(hung), complete, problems


def _line_ends(path: Path) -> dict[str, list[int]]:
    """node -> byte offsets where each of its lines ends, in file order."""
    found: dict[str, list[int]] = {}
    offset = 0
    for line in path.read_bytes().splitlines(keepends=True):
        offset += len(line)
        found.setdefault(line.decode().strip(), []).append(offset)
    return found


def _reached(database: Path, target: int) -> bool | None:
    return _finished(database) >= target or None


def _finished(database: Path) -> int:
    try:
        [(count,)] = _query(
            database,
            "SELECT count(*) FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled')",
        )
    except sqlite3.Error:
        return 0
    return int(count)


def _query(database: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as connection:
        return list(connection.execute(query).fetchall())
