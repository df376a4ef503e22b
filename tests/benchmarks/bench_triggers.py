"""Scheduler lateness: 20 one-second interval schedules that survive a restart, next to APScheduler 3.

    .venv/bin/python -m tests.benchmarks.bench_triggers [--quick] [--json PATH]

**Deskpilot** runs as a real daemon (``python -m supervisor.daemon``, what
``deskpilotd`` runs) with its default settings, triggers on, under a
throw-away ``DESKPILOT_HOME`` in /tmp.  Its workflows folder holds
``--schedules`` workflows, each with one ``{type: schedule, interval: 1s}``
trigger (misfire policy ``run_once``, the default) and one ``control.pass``
node.  Phase one: start it, wait until ``/health`` answers through
``SupervisorClient``, let it run ``--phase`` seconds, SIGTERM it.  After
``--downtime`` seconds it starts again on the same home for phase two.

Every fire becomes a run whose trigger label is ``schedule:<key>@<fire
time>``; after the last stop the benchmark reads the history with the
standard ``sqlite3`` module and takes, for every run with such a label,
lateness = ``runs.queued_at`` - the fire time in the label.  ``queued_at`` is
stamped by ``HistoryStore.create_run`` from the store's clock just before
the run's INSERT, in the same transaction, so it is the last moment before
the run is durable; the commit follows within that call.  The closest moment
known to be *after* the commit is the daemon's ``trigger <key> started run
<id>`` log line, written once the run is committed (the states of the
schedules that fired together are saved after the last of them); its
lateness is shown too (the log has millisecond resolution).  All schedules
share one grid (whole seconds), so each second's fires arrive together: the
table also shows the first fire of each second (the wake-up) and how much
each further fire adds (the cost of handling one).

Only *live* fires count in the lateness rows: fire times from the moment
``/health`` answered to the SIGTERM, in either phase.  Fires from the first
SIGTERM until the restarted daemon answered ``/health`` are the downtime's:
the table says how many one-second slots that was, how many ran, how many
were recorded as missed (cancelled runs whose error starts ``missed:``), and
how many left no trace.  Across both phases every key's fire times must form
one unbroken one-second sequence on the grid of its first fire, with no
label twice: every slot accounted for exactly once, and the interval's phase
kept across the restart.

**APScheduler 3** runs in this process, ``BackgroundScheduler`` with the same
number of ``IntervalTrigger(seconds=1)`` jobs anchored on one whole second
(as Deskpilot's are), the default thread pool, a no-op job
(``misfire_grace_time=300``, ``coalesce=True``, ``max_instances=1``: the
nearest thing to Deskpilot's ``run_once`` within 300 s).  Once with its
``MemoryJobStore`` for two phases' worth of time without a restart (a memory
store keeps nothing across one), once with its ``SQLAlchemyJobStore`` on a
SQLite file in /tmp: phase, shutdown, ``--downtime``, a new scheduler on the
same file, phase.  Lateness = the time its ``EVENT_JOB_SUBMITTED`` listener
is called - the scheduled run time (APScheduler dispatches those events
after it has handed every due job to the executor and written each back to
its store); the time each job function started (its executor's "Running
job" log record) is shown too.  Missed fires are whatever it reported with
``EVENT_JOB_MISSED``; slots for which it reported nothing are "no trace".

Exit status 1 when a check fails (a duplicate fire, a slot not accounted
for, phase lost, no live fire measured); missing the target is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation.errors import DeskpilotError
from supervisor.client import SupervisorClient
from supervisor.paths import DeskpilotPaths
from tests.benchmarks._util import ROOT, fmt, format_table, load_average, ratio

logger = logging.getLogger(__name__)

MODULE = "tests.benchmarks.bench_triggers"
TARGET_P99_MS = 10.0
#: What the issue measured for APScheduler on the project's machines (p99, ms).
REFERENCE_P99_MS = {"sqlite": 48.0, "memory": 5.8}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
APSCHEDULER_GRACE = 300
WORKFLOW = """\
deskpilot: 1
name: {name}
triggers:
  - {{type: schedule, interval: 1s}}
nodes:
  only: {{block: control.pass}}
"""
LOG_LINE = re.compile(r"^trigger (?P<key>\S+) started run (?P<run>[0-9a-f]{32})$")


@dataclass(frozen=True)
class Fire:
    """One scheduled fire as the system recorded it (times are epoch seconds)."""

    key: str
    at: float
    ran: bool
    #: When the fire became queued work (Deskpilot: ``queued_at``; APScheduler: submitted).
    queued: float | None = None
    #: A later moment: Deskpilot's log line after the commit; APScheduler's job start.
    later: float | None = None


@dataclass
class Column:
    """One system's figures and checks; None or empty where not measured."""

    name: str
    restarts: bool
    live_ms: list[float] = field(default_factory=list)
    later_ms: list[float] = field(default_factory=list)
    #: Per second of fires: the first fire's lateness, and the added lateness per further fire.
    first_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    live_missed: int = 0
    down_slots: int | None = None
    down_ran: int | None = None
    down_missed: int | None = None
    down_untraced: int | None = None
    duplicates: int = 0
    gaps: int = 0
    off_grid: int = 0
    keys: int = 0
    fires: int = 0
    windows: list[tuple[float, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    @property
    def checks_failed(self) -> list[str]:
        if self.note is not None:
            return [f"{self.name}: {self.note}"]
        failed = []
        if not self.live_ms:
            failed.append(f"{self.name}: no live fire was measured")
        if self.duplicates:
            failed.append(f"{self.name}: {self.duplicates} fire(s) appear twice")
        if self.off_grid:
            failed.append(f"{self.name}: {self.off_grid} fire(s) off the interval's grid")
        return failed


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, as the other benchmarks report them."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def whole_second_after(now: float) -> float:
    return float(math.floor(now) + 1)


def in_windows(moment: float, windows: Iterable[tuple[float, float]]) -> bool:
    return any(start <= moment < end for start, end in windows)


def grid_slots(start: float, end: float, grid: float) -> int:
    """Whole-second grid points (offset ``grid``) in [start, end)."""
    first = math.ceil(start - grid) + grid
    return max(0, math.ceil(end - grid) - math.ceil(start - grid)) if first < end else 0


def analyse(column: Column, fires: list[Fire], downtime: tuple[float, float] | None) -> None:
    """Fill the column's figures from what the system recorded, fire by fire."""
    by_key: dict[str, list[Fire]] = defaultdict(list)
    for fire in fires:
        by_key[fire.key].append(fire)
    column.keys = len(by_key)
    column.fires = len(fires)
    for key_fires in by_key.values():
        counts = Counter(round(f.at, 6) for f in key_fires)
        column.duplicates += sum(n - 1 for n in counts.values() if n > 1)
        times = sorted(counts)
        column.off_grid += sum(1 for t in times if abs((t - times[0]) - round(t - times[0])) > 1e-3)
        # one-second slots between a key's first and last fire that have no record at all
        column.gaps += sum(max(0, round(b - a) - 1) for a, b in zip(times, times[1:], strict=False))
    same_second: dict[float, list[float]] = defaultdict(list)
    for fire in fires:
        if not in_windows(fire.at, column.windows):
            continue
        if not fire.ran:
            column.live_missed += 1
            continue
        if fire.queued is not None:
            late = (fire.queued - fire.at) * 1000
            column.live_ms.append(late)
            same_second[round(fire.at, 6)].append(late)
        if fire.later is not None:
            column.later_ms.append((fire.later - fire.at) * 1000)
    # All schedules share one grid, so each second's fires arrive together: the first one's
    # lateness is the wake-up, the spread after it is the cost of handling them one by one.
    column.first_ms = [min(values) for values in same_second.values()]
    column.step_ms = [
        (max(values) - min(values)) / (len(values) - 1)
        for values in same_second.values()
        if len(values) > 1
    ]
    if downtime is not None and by_key:
        start, end = downtime
        down = [f for f in fires if start <= f.at < end]
        column.down_slots = sum(
            grid_slots(start, end, min(f.at for f in key_fires) % 1.0)
            for key_fires in by_key.values()
        )
        column.down_ran = sum(1 for f in down if f.ran)
        column.down_missed = sum(1 for f in down if not f.ran)
        column.down_untraced = column.down_slots - len({(f.key, round(f.at, 6)) for f in down})


# -- Deskpilot ---------------------------------------------------------------------------


def write_workflows(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"tick{index:02d}" for index in range(count)]
    for name in names:
        (folder / f"{name}.yaml").write_text(WORKFLOW.format(name=name), encoding="utf-8")
    return names


def start_daemon(
    home: Path,
    stderr: Any,
    profile: Path | None,
    module: str = "supervisor.daemon",
    tree: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """The daemon of ``tree`` (this checkout, or another one sharing the venv)."""
    env = {**os.environ, "DESKPILOT_HOME": str(home)}
    env.pop("DESKPILOT_DATABASE_URL", None)
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)  # that tree's packages, not the venv's editable install
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", module]
    return subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def wait_healthy(paths: DeskpilotPaths, process: subprocess.Popen[bytes]) -> float:
    """Poll ``/health`` until the daemon answers with triggers on; returns that moment."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the daemon exited with status {process.returncode}")
        with (
            contextlib.suppress(DeskpilotError, OSError),
            SupervisorClient(paths, timeout=2.0) as client,
        ):
            health = client.health()
            if health.accepting and health.triggers:
                return time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the daemon did not answer /health within {START_TIMEOUT:g} s")
        time.sleep(0.02)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process, all its threads."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def stop_daemon(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise RuntimeError(
            f"the daemon did not stop within {STOP_TIMEOUT:g} s of SIGTERM"
        ) from None


def logged_starts(log_dir: Path) -> dict[str, float]:
    """Run id -> the time of the daemon's ``trigger ... started run ...`` line."""
    found: dict[str, float] = {}
    for path in sorted(log_dir.glob("deskpilotd.log*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "started run" not in line:
                continue
            with contextlib.suppress(ValueError, KeyError, TypeError):
                data = json.loads(line)
                match = LOG_LINE.match(str(data["msg"]))
                if match:
                    found[match["run"]] = datetime.fromisoformat(data["t"]).timestamp()
    return found


def history_fires(database: Path, log_dir: Path) -> tuple[list[Fire], dict[str, int], int]:
    """Every ``schedule:`` run of the history as a Fire; plus run counts by status, and gaps."""
    logged = logged_starts(log_dir)
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute(
            "SELECT id, trigger, status, error, queued_at FROM runs WHERE trigger LIKE 'schedule:%'"
        ).fetchall()
    fires = []
    statuses: Counter[str] = Counter()
    gap_records = 0
    for run_id, label, status, error, queued_at in rows:
        key, _, when = label[len("schedule:") :].rpartition("@")
        if ".." in when:
            gap_records += 1  # a summary of too many missed fires to list: not expected here
            continue
        at = datetime.fromisoformat(when).timestamp()
        not_run = status == "cancelled" and (error or "").startswith(("missed:", "not started:"))
        if not not_run:
            statuses[status] += 1
        fires.append(
            Fire(
                key=key,
                at=at,
                ran=not not_run,
                queued=queued_at / 1e6 if not not_run else None,
                later=logged.get(run_id),
            )
        )
    return fires, dict(statuses), gap_records


def measure_deskpilot(
    schedules: int,
    phase: float,
    downtime: float,
    profile: Path | None,
    module: str = "supervisor.daemon",
    tree: Path = ROOT,
) -> Column:
    column = Column("deskpilot (daemon, SQLite history)", restarts=True)
    home = Path(tempfile.mkdtemp(prefix="dpt-", dir="/tmp"))
    paths = DeskpilotPaths.under(home)
    try:
        write_workflows(paths.workflows_dir, schedules)
        cpu: list[float] = []
        stopped_at = 0.0
        with open(home / "daemon-stderr.log", "ab") as stderr:
            for number in (1, 2):
                if number == 2:
                    # the downtime under test, not a wait for something to happen
                    time.sleep(max(0.0, downtime - (time.time() - stopped_at)))
                prof = profile / f"deskpilot-phase{number}.prof" if profile else None
                process = start_daemon(home, stderr, prof, module, tree)
                try:
                    ready = wait_healthy(paths, process)
                    before = process_cpu_seconds(process.pid)
                    time.sleep(phase)  # the measurement window: the daemon fires on its own
                    if process.poll() is not None:
                        raise RuntimeError(f"the daemon exited during phase {number}")
                    cpu.append(100 * (process_cpu_seconds(process.pid) - before) / phase)
                    stopped_at = time.time()
                finally:
                    stop_daemon(process)
                column.windows.append((ready, stopped_at))
                print(f"deskpilot: phase {number} done", file=sys.stderr)
        fires, statuses, gap_records = history_fires(
            Path(paths.database_url.removeprefix("sqlite:///")), paths.log_dir
        )
        analyse(column, fires, (column.windows[0][1], column.windows[1][0]))
        column.extra.update(
            daemon_cpu_percent=cpu,
            run_status=statuses,
            gap_records=gap_records,
            integrity=integrity(Path(paths.database_url.removeprefix("sqlite:///"))),
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return column


def integrity(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def compare(args: argparse.Namespace, phase: float, downtime: float) -> tuple[str, list[str]]:
    """The Deskpilot column for this checkout and for ``--against``, ``--rounds`` times each,
    alternated (which goes first swaps every round) so that load weighs on both alike.
    Lateness percentiles pool every round's live fires; daemon CPU is the median of every
    phase's (process CPU time, which other work on the machine barely moves)."""
    trees = {"old": args.against.resolve(), "main": ROOT}
    columns: dict[str, list[Column]] = {name: [] for name in trees}
    for number in range(1, args.rounds + 1):
        for name in list(trees) if number % 2 else list(reversed(trees)):
            column = measure_deskpilot(
                args.schedules, phase, downtime, None, args.daemon_module, trees[name]
            )
            column.name = f"{name} round {number}"
            columns[name].append(column)

    def pooled(name: str, field: str) -> list[float]:
        return [value for column in columns[name] for value in getattr(column, field)]

    def per_round(name: str, field: str, q: float) -> float | None:
        found = [percentile(getattr(column, field), q) for column in columns[name]]
        values = [value for value in found if value is not None]
        return statistics.median(values) if values else None

    def cpu(name: str) -> float | None:
        values = [v for column in columns[name] for v in column.extra["daemon_cpu_percent"]]
        return statistics.median(values) if values else None

    metrics: list[tuple[str, Callable[[str], float | None], int]] = [
        ("live fires measured", lambda n: len(pooled(n, "live_ms")), 0),
        ("lateness p50 (ms): fire -> queued", lambda n: percentile(pooled(n, "live_ms"), 50), 1),
        ("lateness p99 (ms), all rounds pooled", lambda n: percentile(pooled(n, "live_ms"), 99), 1),
        ("lateness p99 (ms), median of rounds", lambda n: per_round(n, "live_ms", 99), 1),
        ("lateness max (ms)", lambda n: max(pooled(n, "live_ms"), default=None), 1),
        ("after commit p50 (ms)", lambda n: percentile(pooled(n, "later_ms"), 50), 1),
        ("after commit p99 (ms)", lambda n: percentile(pooled(n, "later_ms"), 99), 1),
        ("first fire of a second p50 (ms)", lambda n: percentile(pooled(n, "first_ms"), 50), 1),
        ("added per further fire, median (ms)", lambda n: percentile(pooled(n, "step_ms"), 50), 2),
        ("daemon CPU % (median of phases)", cpu, 1),
        ("live fires not run", lambda n: sum(c.live_missed for c in columns[n]), 0),
        ("slots while down: no trace", lambda n: sum(c.down_untraced or 0 for c in columns[n]), 0),
        ("fires recorded twice", lambda n: sum(c.duplicates for c in columns[n]), 0),
    ]
    rows = []
    for label, value, digits in metrics:
        old, new = value("old"), value("main")
        rows.append([label, fmt(old, digits), fmt(new, digits), ratio(old, new)])
    failed = [line for name in trees for column in columns[name] for line in checks(column)]
    headers = ["metric", f"old ({trees['old']})", "main", "ratio"]
    return format_table(headers, rows), failed


def checks(column: Column) -> list[str]:
    """What must hold of a Deskpilot column whatever its speed."""
    failed = list(column.checks_failed)
    if column.gaps or column.down_untraced:
        failed.append(f"{column.name}: a slot was neither run nor recorded as missed")
    if column.extra.get("integrity") != "ok":
        failed.append(f"{column.name}: integrity_check {column.extra.get('integrity')}")
    return failed


# -- APScheduler 3 -----------------------------------------------------------------------


def noop() -> None:
    """The APScheduler job: nothing, so what is measured is the scheduler."""


class JobStarts(logging.Handler):
    """Catches the executor's ``Running job "..." (scheduled at ...)`` records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.starts: dict[tuple[str, float], float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], datetime):
            job_id = str(getattr(args[0], "id", args[0]))
            self.starts[(job_id, round(args[1].timestamp(), 6))] = record.created


def measure_apscheduler(store: str, schedules: int, phase: float, downtime: float) -> Column:
    from apscheduler.events import (  # type: ignore[import-untyped]
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_SUBMITTED,
    )
    from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
    from apscheduler.jobstores.sqlalchemy import (  # type: ignore[import-untyped]
        SQLAlchemyJobStore,
    )
    from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
        BackgroundScheduler,
    )
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    restarts = store == "sqlite"
    column = Column(
        f"apscheduler 3 ({'SQLAlchemyJobStore, SQLite' if restarts else 'MemoryJobStore'})",
        restarts=restarts,
    )
    folder = Path(tempfile.mkdtemp(prefix="aps-", dir="/tmp"))
    url = f"sqlite:///{folder / 'jobs.sqlite'}"
    submitted: list[tuple[str, list[datetime], float]] = []
    missed: list[tuple[str, datetime]] = []
    skipped = 0

    def listen(event: Any) -> None:
        nonlocal skipped
        now = time.time()
        if event.code == EVENT_JOB_SUBMITTED:
            submitted.append((event.job_id, list(event.scheduled_run_times), now))
        elif event.code == EVENT_JOB_MISSED:
            missed.append((event.job_id, event.scheduled_run_time))
        else:
            skipped += 1

    starts = JobStarts()
    executor_log = logging.getLogger("apscheduler.executors.default")
    executor_log.addHandler(starts)
    executor_log.setLevel(logging.INFO)
    executor_log.propagate = False
    windows = []
    try:
        phases = 2 if restarts else 1
        stopped_at = 0.0
        for number in range(1, phases + 1):
            if number == 2:
                time.sleep(max(0.0, downtime - (time.time() - stopped_at)))
            jobstore = SQLAlchemyJobStore(url=url) if restarts else MemoryJobStore()
            scheduler = BackgroundScheduler(jobstores={"default": jobstore}, timezone=UTC)
            scheduler.add_listener(
                listen, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
            )
            scheduler.start()
            if number == 1:
                anchor = datetime.fromtimestamp(whole_second_after(time.time()), UTC)
                for index in range(schedules):
                    scheduler.add_job(
                        f"{MODULE}:noop",
                        IntervalTrigger(seconds=1, start_date=anchor, timezone=UTC),
                        id=f"tick{index:02d}",
                        misfire_grace_time=APSCHEDULER_GRACE,
                        coalesce=True,
                        max_instances=1,
                        replace_existing=True,
                    )
            ready = time.time()
            time.sleep(phase * (2 if not restarts else 1))  # the measurement window
            stopped_at = time.time()
            scheduler.shutdown(wait=True)
            windows.append((ready, stopped_at))
            print(f"{column.name}: phase {number} done", file=sys.stderr)
    finally:
        executor_log.removeHandler(starts)
        executor_log.propagate = True
        shutil.rmtree(folder, ignore_errors=True)
    column.windows = windows
    fires = [
        Fire(
            key=job_id,
            at=when.timestamp(),
            ran=True,
            queued=at,
            later=starts.starts.get((job_id, round(when.timestamp(), 6))),
        )
        for job_id, times, at in submitted
        for when in times
    ]
    fires += [Fire(key=job_id, at=when.timestamp(), ran=False) for job_id, when in missed]
    analyse(column, fires, (windows[0][1], windows[1][0]) if restarts else None)
    column.extra.update(max_instances_skipped=skipped, misfire_grace_time=APSCHEDULER_GRACE)
    return column


# -- the table ---------------------------------------------------------------------------


def ms(values: list[float], q: float) -> str:
    return fmt(percentile(values, q), 1)


def table(columns: list[Column], reference: Column | None) -> str:
    def row(label: str, cell: Callable[[Column], str], target: str = "") -> list[str]:
        return [label, *(cell(c) if c.note is None else c.note for c in columns), target]

    def down(value: Callable[[Column], int | None]) -> Callable[[Column], str]:
        return lambda c: "no restart" if not c.restarts else fmt(value(c))

    def to_reference(c: Column) -> str:
        mine, theirs = percentile(c.live_ms, 99), reference and percentile(reference.live_ms, 99)
        if c is reference or not mine or not theirs:
            return "-"
        return f"{mine / theirs:.2f}"

    rows = [
        row("live fires measured", lambda c: fmt(len(c.live_ms))),
        row("lateness p50 (ms): fire -> queued", lambda c: ms(c.live_ms, 50)),
        row("lateness p99 (ms)", lambda c: ms(c.live_ms, 99), f"< {TARGET_P99_MS:g}"),
        row("lateness max (ms)", lambda c: fmt(max(c.live_ms, default=None), 1)),
        row("p99 / apscheduler SQLite p99", to_reference),
        row(
            "after commit p50 / p99 (ms) [1]",
            lambda c: f"{ms(c.later_ms, 50)} / {ms(c.later_ms, 99)}" if c.later_ms else "-",
        ),
        row(
            "  first fire of a second p50 / p99 (ms)",
            lambda c: f"{ms(c.first_ms, 50)} / {ms(c.first_ms, 99)}",
        ),
        row("  added per further fire, median (ms)", lambda c: ms(c.step_ms, 50)),
        row("live fires not run", lambda c: fmt(c.live_missed)),
        row("slots while down", down(lambda c: c.down_slots)),
        row("  ran", down(lambda c: c.down_ran)),
        row("  recorded / reported missed", down(lambda c: c.down_missed)),
        row("  no trace", down(lambda c: c.down_untraced), "0"),
        row("fires recorded twice", lambda c: fmt(c.duplicates), "0"),
        row("slots with no trace (all)", lambda c: fmt(c.gaps), "0"),
        row("fires off the first fire's grid", lambda c: fmt(c.off_grid), "0"),
    ]
    return format_table(["", *(c.name for c in columns), "target"], rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="short phases, for a smoke test")
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--phase", type=float, default=None, help="seconds per phase (20)")
    parser.add_argument(
        "--downtime", type=float, default=3.0, help="seconds stopped between phases"
    )
    parser.add_argument("--only", choices=("deskpilot", "apscheduler"), default=None)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the daemon into DIR")
    parser.add_argument(
        "--daemon-module",
        default="supervisor.daemon",
        help="serve with this module instead (a variant of the daemon under comparison)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="TREE",
        help="only Deskpilot, this checkout's daemon and TREE's (another checkout sharing the "
        "venv), alternated --rounds times; a table old | main | ratio",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds for --against (3)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    phase = args.phase or (4.0 if args.quick else 20.0)
    downtime = 2.0 if args.quick and args.downtime == 3.0 else args.downtime
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    loads = [load_average()]
    if args.against is not None:
        text, failed = compare(args, phase, downtime)
        print(text)
        print(
            f"{args.rounds} rounds of two {phase:g} s phases with {downtime:g} s down, "
            f"{args.schedules} schedules; machine: {os.cpu_count()} CPUs, load average "
            f"{fmt(loads[0], 2)} -> {fmt(load_average(), 2)}"
        )
        for line in failed:
            print(f"check failed: {line}")
        return 1 if failed else 0
    columns: list[Column] = []
    reference: Column | None = None
    if args.only in (None, "deskpilot"):
        columns.append(
            measure_deskpilot(args.schedules, phase, downtime, args.profile, args.daemon_module)
        )
        loads.append(load_average())
    if args.only in (None, "apscheduler"):
        for store in ("memory", "sqlite"):
            try:
                column = measure_apscheduler(store, args.schedules, phase, downtime)
            except ImportError as exc:
                column = Column(f"apscheduler 3 ({store})", restarts=store == "sqlite")
                column.note = f"not installed ({exc.name})"
            columns.append(column)
            loads.append(load_average())
        reference = columns[-1] if columns[-1].note is None else None

    print(table(columns, reference))
    print()
    print(
        "[1] deskpilot: fire -> its 'trigger ... started run ...' log line, written after the "
        "run's commit (ms resolution); apscheduler: fire -> the job function started in its "
        "thread pool"
    )
    for column in columns:
        if column.note is None and column.restarts:
            print(
                f"{column.name}: stopped {column.windows[1][0] - column.windows[0][1]:.1f} s "
                f"(stop until ready again), {column.keys} schedules, {column.fires} fires"
            )
    deskpilot = next((c for c in columns if c.name.startswith("deskpilot")), None)
    if deskpilot is not None and deskpilot.note is None:
        cpu = deskpilot.extra["daemon_cpu_percent"]
        print(
            f"deskpilot: daemon CPU {' / '.join(f'{v:.0f}' for v in cpu)} % in the two phases; "
            f"scheduled runs by status at the end {deskpilot.extra['run_status']}; "
            f"integrity_check {deskpilot.extra['integrity']}"
        )
    print(
        f"phases {phase:g} s, downtime {downtime:g} s; machine: {os.cpu_count()} CPUs, "
        f"load average {' -> '.join(fmt(v, 2) for v in loads)} (start -> after each column); "
        f"reference p99 on the project's machines: apscheduler SQLite {REFERENCE_P99_MS['sqlite']:g} ms, "
        f"memory {REFERENCE_P99_MS['memory']:g} ms"
    )
    failed = [line for c in columns if c is not deskpilot for line in c.checks_failed]
    if deskpilot is not None:
        failed += checks(deskpilot)
    if deskpilot is not None and deskpilot.note is None:
        p99 = percentile(deskpilot.live_ms, 99)
        if p99 is not None and p99 >= TARGET_P99_MS:
            print(
                f"target missed: {deskpilot.name}: lateness p99 {p99:.1f} ms >= {TARGET_P99_MS:g} ms"
            )
    for line in failed:
        print(f"check failed: {line}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "phase_s": phase,
                    "downtime_s": downtime,
                    "load_average": loads,
                    "columns": [asdict(c) for c in columns],
                },
                indent=2,
                default=str,
            ),
            encoding="utf-8",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
