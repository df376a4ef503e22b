"""A fleet supervisor's look for queued work, with thousands queued: CPU and wall time per look.

    .venv/bin/python -m tests.benchmarks.bench_queue_look [--queued 5000] [--looks 20]

``--queued`` runs are queued in a fresh store (SQLite: a file in /tmp with
the store's own settings; PostgreSQL: a throwaway cluster started as in the
tests, ``tests.helpers.postgres``).  A look is measured in the steady state
of a supervisor with 2 workers: its queue already holds its look-ahead (50
runs, ``fleetlink._look_ahead``), and two of them were started since the
last look, so it has room for two more.

* ``whole rows``: the store reads of the look as it was, every queued run
  read in full (``list_runs(status=queued, limit=None)``), then filtered and
  sorted in Python;
* ``ids first``: the look now (``supervisor.store.queued``): which held runs
  are still queued, the ids of the next runs in claim order up to the room
  plus those held, then the rows of the two it picks.

Entries are not built in either (the same work per run loaded, and the old
look loaded up to 200 each time): only the store's side is compared.  CPU
is this process's (``time.process_time``), the median of ``--looks``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.postgres import start_server

HOST = "pc-a"
LOOK_AHEAD = 50
ROOM = 2


def _fill(store: HistoryStore, queued: int) -> list[str]:
    version = store.save_workflow_version("bench", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(queued)]
    for start in range(0, queued, 500):
        store.create_runs(
            [
                QueuedRow(run_id, "bench", version, inputs={"path": f"/data/in/{run_id}.csv"})
                for run_id in ids[start : start + 500]
            ]
        )
    return ids


def _whole_rows(store: HistoryStore, held: set[str]) -> int:
    everything = store.list_runs(status=RunStatus.QUEUED, limit=None)
    records = [r for r in everything if r.id not in held and r.target_host in (None, HOST)]
    records.sort(key=lambda record: (-record.priority, record.queued_at, record.id))
    return len(records[:200]) + len({record.id for record in everything})


def _ids_first(store: HistoryStore, held: set[str]) -> int:
    gone = held - store.still_queued(held)
    ids = store.next_queued_ids(HOST, ROOM + len(held))
    picked = [run_id for run_id in ids if run_id not in held][:ROOM]
    return len(store.runs_by_id(picked)) + len(gone)


def _measure(look: Callable[[], int], looks: int) -> tuple[float, float]:
    look()  # warm: compiled statements, pooled connection
    cpu, wall = [], []
    for _ in range(looks):
        started, started_cpu = time.perf_counter(), time.process_time()
        look()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def _bench(url: str, queued: int, looks: int) -> list[tuple[str, float, float]]:
    store = HistoryStore.open(url)
    try:
        ids = _fill(store, queued)
        held = set(ids[:LOOK_AHEAD])  # its queue, the best of the queued runs
        return [
            (name, *_measure(lambda look=look: look(store, held), looks))  # type: ignore[misc]
            for name, look in (("whole rows", _whole_rows), ("ids first", _ids_first))
        ]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=5000)
    parser.add_argument("--looks", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-look-") as root:
        results = {"SQLite": _bench(f"sqlite:///{root}/history.db", args.queued, args.looks)}
    pg_root = Path(tempfile.mkdtemp(prefix="deskpilot-bench-pg-"))  # handed to the postgres user
    server = start_server(pg_root)
    try:
        results["PostgreSQL"] = _bench(server.new_database(), args.queued, args.looks)
    finally:
        server.stop()
        shutil.rmtree(pg_root, ignore_errors=True)
    out = sys.stdout
    out.write(
        f"a look with {args.queued} queued runs, {LOOK_AHEAD} held, room for {ROOM} "
        f"(median of {args.looks})\n\n"
    )
    out.write(f"{'store':<12}{'look':<12}{'CPU ms':>10}{'wall ms':>10}\n")
    for backend, rows in results.items():
        for name, cpu, wall in rows:
            out.write(f"{backend:<12}{name:<12}{cpu:>10.1f}{wall:>10.1f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
