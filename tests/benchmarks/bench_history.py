"""History benchmark: first paint of the history view over 100,000 runs, and scrolling it.

    .venv/bin/python -m tests.benchmarks.bench_history [--runs N] [--repeat K] [--json PATH]

The parent makes a throw-away ``DESKPILOT_HOME`` under /tmp, creates its
history database (the store's own migrations), inserts ``--runs`` finished
runs with the standard ``sqlite3`` module in one transaction (ten workflows,
all triggers and statuses, one in five failed with an error), then starts a
real supervisor on it (``python -m supervisor.daemon``).  Each scenario runs
``--repeat`` times in a fresh child process (a fresh QApplication, cold
client), interleaved; the table shows medians.

* ``first-paint``: from constructing ``HistoryView`` (talking to the
  supervisor through ``SupervisorLink``'s client over its Unix socket, as the
  GUI does) until the first page of runs is in the table and the table's
  viewport has been repainted synchronously (``viewport().repaint()``
  returns once every visible row is painted).  Split into ``build`` (the
  widgets), ``page`` (from asking for the first page until it is in the
  model: the API call, JSON, pydantic, row insertion) and ``paint``.
* ``scroll``: 400 frames of scrolling down by one screen of rows each
  (a fast drag of the scroll bar), each frame = move the scroll bar and let
  Qt deliver what that caused: the repaint of the table, and the insertion
  of any page that arrived meanwhile.  The view asks for more rows near the bottom
  (``fetchMore``); pages arrive on the GUI thread between frames.  Reported:
  median, 95th percentile and worst frame, and the rows loaded by the end.

Children render offscreen (Qt's raster engine).  Exit status 1 only when a
check fails (rows missing, wrong order); a missed target is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks._util import (
    ROOT,
    fmt,
    format_table,
    load_average,
    median,
    peak_rss_mib,
    run_child,
)

MODULE = "tests.benchmarks.bench_history"
TARGET_FIRST_PAINT_MS = 300.0
CHILD_TIMEOUT = 300.0
SCENARIOS = ("first-paint", "scroll")
SCROLL_FRAMES = 400
WORKFLOWS = tuple(f"report-{n:02d}" for n in range(10))
TRIGGERS = (
    "api",
    "schedule:{w}:0@2026-01-01T03:00:00+00:00",
    "webhook:deploy",
    "file:inbox:0:created:a.csv",
)


# -- the database -----------------------------------------------------------------------------


def fill(home: Path, runs: int) -> float:
    """Create the history database in ``home`` and insert ``runs`` runs; return seconds taken."""
    from supervisor.paths import DeskpilotPaths
    from supervisor.store import HistoryStore

    paths = DeskpilotPaths.under(home).ensure()
    HistoryStore.open(paths.database_url).close()  # creates the schema through the migrations
    database = paths.data_dir / "history.sqlite3"
    started = time.perf_counter()
    epoch_micros = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    rows = []
    for index in range(runs):
        queued = epoch_micros + index * 30_000_000  # one run every 30 seconds
        workflow = WORKFLOWS[index % len(WORKFLOWS)]
        failed = index % 5 == 4
        duration = 0.5 + (index % 37) / 10
        rows.append(
            (
                uuid.uuid4().hex, workflow, "failed" if failed else "succeeded",
                TRIGGERS[index % len(TRIGGERS)].format(w=workflow), 0, "{}",
                queued, queued + 1000, queued + 1000 + int(duration * 1e6), duration, 4,
                f"node 'fetch' failed: HTTP 503 from the report server (run {index})"
                if failed else None,
                "fetch" if failed else None, 0,
            )
        )  # fmt: skip
    connection = sqlite3.connect(database)
    try:
        with connection:
            connection.executemany(
                "INSERT INTO runs (id, workflow_name, status, trigger, priority, inputs, "
                "queued_at, started_at, finished_at, duration, steps, error, failed_node, "
                "resumes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        count = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        connection.close()
    if count != runs:
        raise RuntimeError(f"inserted {count} runs, expected {runs}")
    return time.perf_counter() - started


def start_supervisor(home: Path) -> subprocess.Popen[bytes]:
    from supervisor.client import is_running
    from supervisor.paths import DeskpilotPaths

    # the runs are dated January 2026: retention (90 days, first prune a minute after the
    # start) would delete them while a slow round still measures
    env = {
        **os.environ,
        "DESKPILOT_HOME": str(home),
        "DESKPILOT_RETENTION_MAX_AGE_DAYS": "off",
        "DESKPILOT_RETENTION_MAX_RUNS": "off",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.daemon"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    paths = DeskpilotPaths.under(home)
    deadline = time.monotonic() + 60
    while not is_running(paths, timeout=1.0):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the supervisor did not start")
        time.sleep(0.1)
    return process


# -- the child ---------------------------------------------------------------------------------


def child(scenario: str, home: Path, runs: int) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    from app import theme as themes
    from app.runs.history_view import HistoryView
    from app.supervisor_link import SupervisorLink
    from supervisor.paths import DeskpilotPaths

    app = QApplication([MODULE])
    theme = themes.apply(app, themes.LIGHT)
    link = SupervisorLink(DeskpilotPaths.under(home), autostart=False)
    result: dict[str, Any] = {"scenario": scenario}

    def wait(check: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the history did not load")
            app.processEvents()
            time.sleep(0.0005)

    t0 = time.perf_counter()
    view = HistoryView(link, theme)
    view.resize(1400, 800)
    view.show()
    app.processEvents()
    t1 = time.perf_counter()
    view.start()
    wait(lambda: view.model.rowCount() > 0)
    t2 = time.perf_counter()
    view.table.viewport().repaint()
    t3 = time.perf_counter()
    result.update(
        first_paint_ms=(t3 - t0) * 1000,
        build_ms=(t1 - t0) * 1000,
        page_ms=(t2 - t1) * 1000,
        paint_ms=(t3 - t2) * 1000,
        first_rows=view.model.rowCount(),
    )
    rows = view.model.rows
    result["ordered"] = all(
        (a.queued_at, a.id) >= (b.queued_at, b.id) for a, b in zip(rows, rows[1:], strict=False)
    )
    if scenario == "scroll":
        bar = view.table.verticalScrollBar()
        frames: list[float] = []
        waits = 0
        for _ in range(SCROLL_FRAMES):
            app.processEvents()  # nothing left over from the last frame
            start = time.perf_counter()
            before = bar.value()
            bar.setValue(bar.value() + bar.pageStep())
            app.processEvents()  # the scroll's paint, and any page that arrived
            frames.append((time.perf_counter() - start) * 1000)
            if bar.value() == before:
                waits += 1  # at the bottom, the next page not there yet
                wait(lambda: not view.model.loading, timeout=30)
        frames.sort()
        result.update(
            frame_p50_ms=frames[len(frames) // 2],
            frame_p95_ms=frames[int(len(frames) * 0.95)],
            frame_max_ms=frames[-1],
            rows_loaded=view.model.rowCount(),
            stalls=waits,
        )
        rows = view.model.rows
        result["ordered"] = result["ordered"] and all(
            (a.queued_at, a.id) >= (b.queued_at, b.id) for a, b in zip(rows, rows[1:], strict=False)
        )
        result["unique"] = len({r.id for r in rows}) == len(rows)
    result["peak_rss_mib"] = peak_rss_mib()
    link.stop()
    return result


# -- the parent --------------------------------------------------------------------------------


def _problems(data: dict[str, Any]) -> list[str]:
    problems = []
    if not data.get("first_rows"):
        problems.append("no rows on the first page")
    if data.get("ordered") is False:
        problems.append("rows not newest first")
    if data.get("unique") is False:
        problems.append("a run appears twice")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        sys.stdout.write(json.dumps(child(args.scenario, args.home, args.runs)) + "\n")
        return 0

    home = Path(tempfile.mkdtemp(prefix="dp-bench-hist-", dir="/tmp"))
    supervisor: subprocess.Popen[bytes] | None = None
    failed = False
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    try:
        seconds = fill(home, args.runs)
        sys.stderr.write(f"inserted {args.runs:,} runs in {seconds:.1f} s\n")
        supervisor = start_supervisor(home)
        for round_ in range(args.repeat):
            for scenario in SCENARIOS:
                done = run_child(
                    MODULE,
                    ["--scenario", scenario, "--home", str(home), "--runs", str(args.runs)],
                    timeout=CHILD_TIMEOUT,
                )
                if done.error:
                    sys.stderr.write(f"{scenario}: {done.error}\n")
                    failed = True
                    continue
                problems = _problems(done.data)
                if problems:
                    sys.stderr.write(f"{scenario}: {'; '.join(problems)}\n")
                    failed = True
                results[scenario].append(done.data)
                sys.stderr.write(
                    f"round {round_ + 1} {scenario}: first paint "
                    f"{done.data['first_paint_ms']:.0f} ms\n"
                )
    finally:
        if supervisor is not None:
            supervisor.send_signal(signal.SIGTERM)
            try:
                supervisor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait()
        shutil.rmtree(home, ignore_errors=True)

    load = load_average()
    lines = [f"history benchmark: {args.runs:,} runs, {args.repeat} rounds"
             + (f", load average {load:.2f}" if load is not None else "")]  # fmt: skip
    paint_rows = []
    for scenario, runs in results.items():
        if not runs:
            continue

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return median([r[key] for r in runs])

        spread = f"{min(r['first_paint_ms'] for r in runs):.0f}-{max(r['first_paint_ms'] for r in runs):.0f}"
        paint_rows.append(
            [scenario, fmt(med("first_paint_ms")), spread, fmt(med("build_ms")),
             fmt(med("page_ms")), fmt(med("paint_ms"), 1), fmt(med("peak_rss_mib"), 1)]
        )  # fmt: skip
    lines.append("")
    lines.append(
        format_table(
            ["scenario", "first paint ms", "min-max", "build ms", "page ms", "paint ms", "RSS MiB"],
            paint_rows,
        )
    )
    scrolls = results["scroll"]
    if scrolls:
        lines.append("")
        lines.append(
            format_table(
                ["scroll", "frame p50 ms", "frame p95 ms", "worst ms", "rows loaded", "stalls"],
                [["400 frames, one screen each",
                  fmt(median([r["frame_p50_ms"] for r in scrolls]), 1),
                  fmt(median([r["frame_p95_ms"] for r in scrolls]), 1),
                  fmt(median([r["frame_max_ms"] for r in scrolls]), 1),
                  fmt(median([r["rows_loaded"] for r in scrolls])),
                  fmt(median([r["stalls"] for r in scrolls]))]],
            )
        )  # fmt: skip
    all_paints = [r["first_paint_ms"] for runs in results.values() for r in runs]
    if all_paints:
        verdict = "meets" if median(all_paints) < TARGET_FIRST_PAINT_MS else "MISSES"
        lines.append("")
        lines.append(
            f"first paint median {median(all_paints):.0f} ms {verdict} the "
            f"{TARGET_FIRST_PAINT_MS:.0f} ms target"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
