"""Processes that race for the same queued runs: the store's claims under contention.

``python -m tests.helpers.claimers URL CLAIMANT MODE BATCH`` opens the store,
prints ``ready``, waits for a line on standard input (so every racer starts
at once), then takes runs until none is left and prints one JSON line:
the run ids it got, the seconds it spent and its CPU seconds meanwhile.  MODE ``claim`` uses
``claim_queued(limit=BATCH)``; MODE ``cas`` lists the queued runs and moves
each to running with ``set_run_status(..., expected=QUEUED)``, as a
supervisor's own status change would.

``race`` starts the processes and gathers what they got; the race tests
and ``tests/benchmarks/bench_fleet.py`` use it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class RaceResult:
    """What each claimant got, the slowest claimant's time and their CPU time together."""

    claimed: dict[str, list[str]]
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.claimed.values())

    @property
    def double_claims(self) -> int:
        counts = Counter(run_id for ids in self.claimed.values() for run_id in ids)
        return sum(count - 1 for count in counts.values() if count > 1)


def race(url: str, claimants: int, mode: str = "claim", batch: int = 1) -> RaceResult:
    """Run ``claimants`` processes against the queued runs at ``url`` until none is left."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.claimers", url, f"c{index}", mode, str(batch)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(claimants)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()  # blocks until the store is open
            if line.strip() != "ready":
                _, err = process.communicate(timeout=READY_TIMEOUT)
                raise RuntimeError(f"a claimant did not start: {line!r} {err[-3000:]}")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        claimed: dict[str, list[str]] = {}
        slowest = 0.0
        cpu = 0.0
        for index, process in enumerate(processes):
            out, err = process.communicate(timeout=600)
            if process.returncode != 0:
                raise RuntimeError(f"claimant c{index} failed: {err[-3000:]}")
            report = json.loads(out.strip().splitlines()[-1])
            claimed[f"c{index}"] = report["ids"]
            slowest = max(slowest, float(report["seconds"]))
            cpu += float(report["cpu"])
        return RaceResult(claimed, slowest, cpu)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _claim(url: str, claimant: str, mode: str, batch: int) -> None:
    from automation.engine.events import RunStatus
    from supervisor.errors import RunStatusChanged
    from supervisor.store import HistoryStore

    store = HistoryStore.open(url, busy_timeout=30.0)
    try:
        queued = (
            [run.id for run in store.list_runs(status=RunStatus.QUEUED, limit=None)]
            if mode == "cas"
            else []
        )
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.readline()
        started = time.perf_counter()
        cpu = time.process_time()
        got: list[str] = []
        if mode == "claim":
            while True:
                runs = store.claim_queued(claimant, limit=batch)
                if not runs:
                    break
                got.extend(run.id for run in runs)
        else:
            for run_id in queued:
                try:
                    store.set_run_status(run_id, RunStatus.RUNNING, expected=RunStatus.QUEUED)
                except RunStatusChanged:
                    continue
                got.append(run_id)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        store.close()
    sys.stdout.write(json.dumps({"ids": got, "seconds": seconds, "cpu": cpu}) + "\n")


if __name__ == "__main__":
    _claim(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
