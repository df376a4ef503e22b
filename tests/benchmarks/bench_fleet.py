"""Claims per second in the history store, with 1 and 4 claiming processes, on PostgreSQL and SQLite.

    .venv/bin/python -m tests.benchmarks.bench_fleet [--runs 3000] [--batch 10]

For each backend and claimant count, a fresh database gets ``--runs`` queued
runs (one workflow version, created in transactions of 500); then that many
processes (``tests.helpers.claimers``) open the store, wait at a common
start line, and call ``HistoryStore.claim_queued(limit=--batch)`` until
nothing is left.  claims/s = runs / the slowest claimant's time from the
start line to its last claim (process start-up and store opening are
outside).  Double claims = run ids that more than one claimant got (target
0).  The PostgreSQL server is a throwaway cluster started here as in the
tests (``tests.helpers.postgres``: Debian's postgresql 15 on 127.0.0.1,
fsync off); SQLite is a file in /tmp with the store's own settings (WAL,
``synchronous=NORMAL``).  Target: >= 500 claims/s, 0 double claims.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.claimers import race
from tests.helpers.postgres import start_server


def _fill(url: str, runs: int) -> None:
    store = HistoryStore.open(url)
    try:
        version = store.save_workflow_version("bench", None, "nodes: []\n")
        ids = [uuid.uuid4().hex for _ in range(runs)]
        for start in range(0, runs, 500):
            store.create_runs(
                [QueuedRow(run_id, "bench", version) for run_id in ids[start : start + 500]]
            )
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=10, help="runs per claim_queued call")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="deskpilot-bench-fleet-"))
    pg_root = Path(tempfile.mkdtemp(prefix="deskpilot-bench-pg-"))  # handed to the postgres user
    rows: list[tuple[str, int, int, float, int]] = []
    server = None
    try:
        server = start_server(pg_root)
        for backend in ("postgresql", "sqlite"):
            for claimants in (1, 4):
                if backend == "postgresql":
                    url = server.new_database()
                else:
                    url = f"sqlite:///{root / f'history-{claimants}.sqlite3'}"
                _fill(url, args.runs)
                result = race(url, claimants, "claim", args.batch)
                rows.append(
                    (
                        backend,
                        claimants,
                        result.total,
                        result.total / result.seconds,
                        result.double_claims,
                    )
                )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)
    out = sys.stdout
    out.write(f"claims in the store: {args.runs} queued runs, claim_queued(limit={args.batch})\n\n")
    out.write(f"{'backend':<12}{'claimants':>10}{'claimed':>10}{'claims/s':>12}{'double':>8}\n")
    for backend, claimants, total, rate, doubles in rows:
        out.write(f"{backend:<12}{claimants:>10}{total:>10}{rate:>12.0f}{doubles:>8}\n")
    out.write("\ntargets: >= 500 claims/s, 0 double claims\n")
    ok = all(
        rate >= 500 and doubles == 0 and total == args.runs for _, _, total, rate, doubles in rows
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
