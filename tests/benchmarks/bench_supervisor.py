"""Supervisor benchmarks, next to supervisord: restarts, hang detection, throughput, idle cost.

    .venv/bin/python -m tests.benchmarks.bench_supervisor [--quick] [--json PATH]

Deskpilot runs with its default settings (``SupervisorConfig()``: heartbeats
every 0.5 s, a 1.5 s lease, one spare worker, a worker per CPU), once with
``python -m supervisor.worker`` per worker (``PythonWorkerLauncher``) and
once with workers forked from the fork server (``ForkServerLauncher``):

* crash → restart: a run waits in a step; its worker is SIGKILLed; the time
  until the replacement worker reports the resumed run's ``run_started``
  (the event's own time; the time until a client sees it, after the history
  commit, is printed below the table);
* hang → replacement: the busy worker is SIGSTOPped; the time from its last
  heartbeat to the resumed run's ``run_started`` on another worker;
* throughput: N one-node runs submitted at once, until all have finished;
* idle: ``deskpilotd`` itself, as a user starts it (API, triggers, the
  workflows folder watched, one scheduled workflow in it), with its spare
  worker, measured for ``--idle-seconds``: CPU time, voluntary context
  switches of all its threads (wake-ups) per second, RSS.

supervisord (``_supervisord``) runs the same child (a Python process importing
what a worker imports, then sleeping) with ``autorestart=true`` and its defaults
(``startsecs=1``): the time from SIGKILL until supervisord reports the new
process RUNNING (and, below the table, until the new child is ready); a
SIGSTOPped child checked after ``--hang-wait`` seconds; the same idle
measurement.  supervisord is found in ``.venv/supervisord``, where
``bash packaging/bootstrap.sh dev,bench`` installs it, as does

    .venv/bin/pip install --target .venv/supervisord supervisor==4.3.0

(not into the venv itself: its package is named ``supervisor`` too and would
shadow Deskpilot's from any other working folder).  Without it, its column
says "not installed".

Scheduler lateness is measured by the triggers benchmark, not here.

``--against TREE`` measures every Deskpilot figure above (not supervisord's) for
this checkout and for another one sharing the venv (the figures of today's code
beside a change's), each measurement in a fresh child process running this
file against that tree's packages, alternated between the two trees, the full
samples spread over ``--rounds``; it adds the CPU time per run of the
throughput (supervisor process, workers), less sensitive to other work than
runs/s, and prints old | main | ratio:

    .venv/bin/python -m tests.benchmarks.bench_supervisor --against /work/base --rounds 3

``--only PART`` (restarts, hangs, throughput, idle), ``--launcher`` and
``--restarts N`` narrow it to one figure with more samples, e.g. 40 crashes of
exec workers per tree, alternated over 4 rounds:

    .venv/bin/python -m tests.benchmarks.bench_supervisor --against /work/base \
        --only restarts --launcher exec --restarts 40 --rounds 4

``--idle-rss-against TREE`` measures only the idle RSS, of this checkout and
of another one (an older commit checked out with the same venv), started
alternately ``--rounds`` times each so that a machine whose load drifts
weighs on both alike:

    .venv/bin/python -m tests.benchmarks.bench_supervisor --idle-rss-against /work/base
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from automation.engine.events import RunStatus
from supervisor.client import endpoint_answers
from supervisor.config import SupervisorConfig
from supervisor.paths import DeskpilotPaths
from supervisor.workers import WorkerState
from tests.benchmarks._process_counters import children_cpu, idle_figures
from tests.benchmarks._supervisord import measure_supervisord, supervisord_available
from tests.benchmarks._util import ROOT, fmt, format_table, load_average, ratio, run_child
from tests.integration.supervisor.harness import SupervisorThread, wait_for

logger = logging.getLogger(__name__)

TARGETS = {
    "restart_p50_ms": 50.0,
    "hang_s": 2.0,
    "throughput": 50.0,
    "idle_cpu": 0.05,
    "idle_rss_mib": 80.0,
}
GATE = """\
deskpilot: 1
name: waits
nodes:
  gate:
    block: file.wait
    with: {path: never-created, timeout: 3600, poll_interval: 0.05}
"""
TRIVIAL = """\
deskpilot: 1
name: trivial
nodes:
  only:
    block: control.pass
"""


@dataclass
class Column:
    """One system's figures; None where not measured."""

    name: str
    restart_ms: list[float] = field(default_factory=list)
    visible_ms: list[float] = field(default_factory=list)
    ready_ms: list[float] = field(default_factory=list)
    hang_s: list[float] = field(default_factory=list)
    hang_note: str | None = None
    throughput: float | None = None
    throughput_runs: int = 0
    #: CPU per run while the throughput runs ran: the supervisor's process, and its workers
    #: (the fork server, the live workers, and those that ended: one per run).
    throughput_cpu_ms: float | None = None
    throughput_worker_cpu_ms: float | None = None
    #: The benchmark's own polling in the supervisor's process (not counted in the above).
    throughput_poll_cpu_ms: float | None = None
    idle: dict[str, float] = field(default_factory=dict)
    note: str | None = None
    #: ``--against``: figures gathered over rounds, by name.
    extra: dict[str, list[float]] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


# -- Deskpilot ---------------------------------------------------------------------------


@contextlib.contextmanager
def supervisor(fork: bool) -> Iterator[SupervisorThread]:
    home = Path(tempfile.mkdtemp(prefix="dp-bench-"))
    harness = SupervisorThread(home, SupervisorConfig(), fork=fork).start()
    try:
        yield harness
    finally:
        harness.stop()
        shutil.rmtree(home, ignore_errors=True)


def idle_workers(harness: SupervisorThread) -> int:
    workers = harness.sup.workers
    return harness.call(lambda: sum(w.state is WorkerState.IDLE for w in workers.values()))


def at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["at"]).timestamp()


def started_runs(harness: SupervisorThread, run_id: str, count: int) -> list[dict[str, Any]] | None:
    found = harness.seen("run_started", run_id=run_id)
    return found if len(found) >= count else None


def interrupt_samples(
    harness: SupervisorThread, samples: int, how: signal.Signals
) -> Iterator[tuple[str, tuple[float, float], list[dict[str, Any]]]]:
    """For each sample: a run waiting in a step, its worker signalled with ``how`` once a
    spare is ready; yields (run id, (wall, monotonic) time of the signal, its two
    run_started events)."""
    path = harness.workflow("waits", GATE)
    for _ in range(samples):
        run_id = harness.submit(path)
        harness.wait_event("node_started", run_id=run_id, node_id="gate", timeout=60)
        wait_for(lambda: idle_workers(harness) >= 1 or None, timeout=60)
        pid = harness.busy_pid(run_id)
        sent = (time.time(), time.monotonic())
        os.kill(pid, how)
        starts = wait_for(functools.partial(started_runs, harness, run_id, 2), timeout=60)
        yield run_id, sent, starts
        harness.call(functools.partial(harness.sup.cancel, run_id))
        harness.wait_terminal(run_id, timeout=60)


def measure_restarts(column: Column, fork: bool, samples: int) -> None:
    with supervisor(fork) as harness:
        for _run_id, (wall, monotonic), starts in interrupt_samples(
            harness, samples, signal.SIGKILL
        ):
            column.restart_ms.append((at(starts[1]) - wall) * 1000)
            column.visible_ms.append((starts[1]["_t"] - monotonic) * 1000)


def measure_hangs(column: Column, fork: bool, samples: int) -> None:
    with supervisor(fork) as harness:
        for run_id, _stopped, starts in interrupt_samples(harness, samples, signal.SIGSTOP):
            missed = harness.wait_event("heartbeat_missed", run_id=run_id)
            last_heartbeat = at(missed) - float(missed["silent_for"])
            column.hang_s.append(at(starts[1]) - last_heartbeat)


def measure_throughput(column: Column, fork: bool, runs: int) -> None:
    with supervisor(fork) as harness:
        path = harness.workflow("trivial", TRIVIAL)
        harness.wait_terminal(harness.submit(path), timeout=60)  # warm: workers up, file parsed
        sup = harness.sup
        workers_before = children_cpu()
        reaped_before = reaped_cpu(harness)
        cpu = time.process_time()
        start = time.monotonic()

        def submit_all() -> list[str]:
            loaded = sup.load(path)
            return [sup.submit(loaded) for _ in range(runs)]

        harness.call(submit_all, timeout=600)
        # Polled every 50 ms, not faster: the poll runs in the supervisor's own process and
        # would take the GIL from the loop it measures (at 10 ms it was a tenth of the samples).
        # Its own CPU (this thread's) is not the supervisor's and is taken out: it grows with
        # the wall time the runs take, so slower workers made the supervisor look dearer.
        polling = time.thread_time()
        wait_for(
            lambda: harness.store.count_runs(status=RunStatus.SUCCEEDED) >= runs + 1 or None,
            timeout=600,
            interval=0.05,
        )
        polling = time.thread_time() - polling
        column.throughput = runs / (time.monotonic() - start)
        column.throughput_cpu_ms = (time.process_time() - cpu - polling) * 1000 / runs
        column.throughput_poll_cpu_ms = polling * 1000 / runs
        column.throughput_runs = runs
        workers_after = children_cpu()
        live = sum(t - workers_before.get(pid, 0.0) for pid, t in workers_after.items())
        # A worker serves one run and exits: what those that ended spent is only in the
        # rusage of whoever reaped them, less what they had spent before the interval.
        ended = sum(t for pid, t in workers_before.items() if pid not in workers_after)
        reaped = reaped_cpu(harness) - reaped_before - ended
        column.throughput_worker_cpu_ms = (live + reaped) * 1000 / runs


def reaped_cpu(harness: SupervisorThread) -> float:
    """CPU seconds of the processes that ended and were reaped: this process's children
    (workers started directly) and the fork server's (forked workers)."""
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime
    server = getattr(harness.launcher, "server_pid", None)
    if server is not None:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(server).cpu_times()
            total += times.children_user + times.children_system
    return total


IDLE_WORKFLOW = """\
deskpilot: 1
name: nightly
triggers:
  - {type: schedule, cron: "0 3 * * *"}
nodes:
  hello:
    block: notify.log
    with: {message: "good night"}
"""


@contextlib.contextmanager
def idle_daemon(tree: Path, fork: bool, *, timeout: float) -> Iterator[psutil.Process]:
    """The real daemon run from ``tree``, with everything a user's has running (API,
    triggers, a scheduled workflow in its folder), serving and with its spare worker
    started; stopped and its home removed on the way out."""
    home = Path(tempfile.mkdtemp(prefix="dp-bench-idle-"))
    paths = DeskpilotPaths.under(home)
    paths.workflows_dir.mkdir(parents=True)
    (paths.workflows_dir / "nightly.yaml").write_text(IDLE_WORKFLOW, encoding="utf-8")
    env = {
        **os.environ,
        "DESKPILOT_HOME": str(home),
        "DESKPILOT_WORKER_LAUNCHER": "fork" if fork else "exec",
    }
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)  # that tree's packages, not the installed ones
    with open(home / "deskpilotd.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.daemon"], cwd=tree, env=env, stderr=log
        )
    daemon = psutil.Process(process.pid)
    try:
        wait_for(
            lambda: endpoint_answers(paths) and daemon.children(recursive=True), timeout=timeout
        )
        yield daemon
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)


def measure_idle(column: Column, fork: bool, seconds: float) -> None:
    """The real daemon, with everything a user's has running: not a stripped-down harness."""
    with idle_daemon(ROOT, fork, timeout=60) as daemon:

        def workers() -> list[int]:
            with contextlib.suppress(psutil.Error):
                return [p.pid for p in daemon.children(recursive=True)]
            return []

        time.sleep(3)  # let start-up work (imports, the first spare) settle before measuring
        column.idle = idle_figures(daemon.pid, workers, seconds)


def idle_rss(tree: Path, fork: bool, settle: float) -> tuple[float, float]:
    """RSS in MiB of an idle ``deskpilotd`` run from ``tree``, and of its spare worker(s)."""
    with idle_daemon(tree, fork, timeout=120) as daemon:
        time.sleep(settle)  # the measurement: start-up settles, as measure_idle waits
        children = daemon.children(recursive=True)
        return daemon.memory_info().rss / 2**20, sum(c.memory_info().rss for c in children) / 2**20


def compare_idle_rss(other: Path, rounds: int, settle: float) -> str:
    """Idle RSS of this checkout and ``other``, alternated; medians in MiB."""
    trees = {"this checkout": ROOT, str(other): other.resolve()}
    figures: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(rounds):
        for launcher, fork in (("exec", False), ("fork", True)):
            for name, tree in trees.items():
                main_mib, workers_mib = idle_rss(tree, fork, settle)
                figures.setdefault((name, launcher, "deskpilotd"), []).append(main_mib)
                figures.setdefault((name, launcher, "workers"), []).append(workers_mib)
    rows = [
        [
            f"{process}, {launcher} launcher",
            *(fmt(statistics.median(figures[(name, launcher, process)]), 2) for name in trees),
        ]
        for launcher in ("exec", "fork")
        for process in ("deskpilotd", "workers")
    ]
    return format_table(["idle RSS MiB (median)", *trees], rows)


# -- this checkout against another ----------------------------------------------------

MODULE = "tests.benchmarks.bench_supervisor"
PARTS: dict[str, Callable[[Column, bool, int], None]] = {
    "restarts": measure_restarts,
    "hangs": measure_hangs,
    "throughput": measure_throughput,
}


def run_part(part: str, fork: bool, count: int) -> int:
    """Child side of ``--against``: one measurement in this process, as one JSON line."""
    import automation  # which checkout's code ran: the parent checks it is the one it asked for

    column = Column(part)
    PARTS[part](column, fork, count)
    data = {**column.__dict__, "code": str(Path(automation.__file__).resolve().parents[1])}
    print(json.dumps(data))
    return 0


def merge(into: Column, data: dict[str, Any]) -> None:
    into.restart_ms += data["restart_ms"]
    into.visible_ms += data["visible_ms"]
    into.hang_s += data["hang_s"]
    if data["throughput"] is not None:
        into.extra.setdefault("throughput", []).append(data["throughput"])
        into.extra.setdefault("cpu_ms", []).append(data["throughput_cpu_ms"])
        into.extra.setdefault("worker_cpu_ms", []).append(data["throughput_worker_cpu_ms"])
        if data.get("throughput_poll_cpu_ms") is not None:
            into.extra.setdefault("poll_cpu_ms", []).append(data["throughput_poll_cpu_ms"])
        into.throughput_runs = data["throughput_runs"]


def compare(
    other: Path,
    rounds: int,
    idle_seconds: float,
    quick: bool,
    *,
    only: str | None = None,
    launcher: str | None = None,
    restarts: int | None = None,
) -> tuple[str, list[str]]:
    """Everything the Deskpilot columns measure, for this checkout and ``other``: each part
    in a fresh child process run against that tree's code (``tree_process``), alternated
    part by part (which tree goes first swaps every round) so that load weighs on both
    alike; the full benchmark's samples spread over ``rounds``.

    ``only`` measures one part (``idle`` or a name in ``PARTS``), ``launcher`` one launcher,
    and ``restarts`` sets the crashes per tree and launcher: a few milliseconds of
    difference in crash -> restart needs far more samples than the full run takes.
    """
    trees = {"old": other.resolve(), "main": ROOT}
    launchers = {
        name: fork
        for name, fork in {"exec": False, "fork": True}.items()
        if launcher in (None, name)
    }
    parts = [part for part in PARTS if only in (None, part)]
    columns = {(t, lname): Column(f"{t} {lname}") for t in trees for lname in launchers}
    errors: list[str] = []
    crashes = 10 if quick else 30
    counts = {
        "exec": {
            "restarts": restarts or max(5, crashes // 2),
            "hangs": 4 if quick else 10,
            "throughput": 40,
        },
        "fork": {"restarts": restarts or crashes, "hangs": 4 if quick else 10, "throughput": 300},
    }
    for number in range(1, rounds + 1):
        order = list(trees) if number % 2 else list(reversed(trees))
        for lname, fork in launchers.items():
            for part in parts:
                count = counts[lname][part]
                count = count if part == "throughput" else -(-count // rounds)
                if quick and part == "throughput":
                    count //= 4
                for name in order:
                    args = ["--part", part, "--launcher", lname, "--count", str(count)]
                    outcome = run_child(MODULE, args, timeout=900, tree=trees[name])
                    if outcome.error is not None:
                        errors.append(f"{name} {lname} {part}: {outcome.error}")
                    elif outcome.data.get("code") != str(trees[name]):
                        errors.append(f"{name} {part}: ran the code of {outcome.data['code']}")
                    else:
                        merge(columns[(name, lname)], outcome.data)
                    print(f"round {number}: {name} {lname} {part} done", file=sys.stderr)
            for name in order if only in (None, "idle") else ():
                with idle_daemon(trees[name], fork, timeout=120) as daemon:

                    def workers(daemon: psutil.Process = daemon) -> list[int]:
                        with contextlib.suppress(psutil.Error):
                            return [p.pid for p in daemon.children(recursive=True)]
                        return []

                    time.sleep(3)  # start-up settles, as measure_idle waits
                    figures = idle_figures(daemon.pid, workers, idle_seconds)
                for key, value in figures.items():
                    columns[(name, lname)].extra.setdefault(key, []).append(value)
                print(f"round {number}: {name} {lname} idle done", file=sys.stderr)

    def middle(values: list[float] | None) -> float | None:
        return statistics.median(values) if values else None

    metrics: list[tuple[str, Callable[[Column], float | None], int]] = [
        ("crash -> restart p50 (ms)", lambda c: percentile(c.restart_ms, 50), 1),
        ("crash -> restart p99 (ms)", lambda c: percentile(c.restart_ms, 99), 1),
        ("crash -> visible to clients p50 (ms)", lambda c: percentile(c.visible_ms, 50), 1),
        ("hang: last heartbeat -> replacement p50 (s)", lambda c: percentile(c.hang_s, 50), 2),
        ("hang: last heartbeat -> replacement max (s)", lambda c: max(c.hang_s, default=None), 2),
        ("trivial runs/s, median of rounds", lambda c: middle(c.extra.get("throughput")), 1),
        ("  supervisor CPU ms per run", lambda c: middle(c.extra.get("cpu_ms")), 2),
        ("  workers' CPU ms per run", lambda c: middle(c.extra.get("worker_cpu_ms")), 2),
        (
            "  benchmark's polling, not counted above",
            lambda c: middle(c.extra.get("poll_cpu_ms")),
            2,
        ),
        ("idle CPU % (supervisor)", lambda c: middle(c.extra.get("main_cpu")), 3),
        ("idle wake-ups/s (supervisor)", lambda c: middle(c.extra.get("main_wakeups")), 1),
        ("idle RSS MiB (supervisor)", lambda c: middle(c.extra.get("main_rss_mib")), 1),
        ("idle CPU % (workers)", lambda c: middle(c.extra.get("children_cpu")), 3),
        ("idle wake-ups/s (workers)", lambda c: middle(c.extra.get("children_wakeups")), 1),
        ("idle RSS MiB (workers, summed)", lambda c: middle(c.extra.get("children_rss_mib")), 1),
    ]
    rows = []
    for lname in launchers:
        for label, value, digits in metrics:
            if only is not None and value(columns[("main", lname)]) is None:
                continue
            old, new = value(columns[("old", lname)]), value(columns[("main", lname)])
            rows.append([f"{lname}: {label}", fmt(old, digits), fmt(new, digits), ratio(old, new)])
    text = format_table(["metric", f"old ({trees['old']})", "main", "ratio"], rows)
    text += "\nper tree: " + ", ".join(
        f"{lname}: {len(column.restart_ms)} restarts, {len(column.hang_s)} hangs, "
        f"{rounds} x {column.throughput_runs} throughput runs"
        for (name, lname), column in columns.items()
        if name == "main"
    )
    if only in (None, "idle"):
        text += f", {rounds} x {idle_seconds:g} s idle"
    return text, errors


# -- the table ---------------------------------------------------------------------------


def ms(values: list[float], q: float) -> str:
    return fmt(percentile(values, q), 1)


def table(columns: list[Column]) -> str:
    def row(label: str, cell: Callable[[Column], str], target: str) -> list[str]:
        return [label, *(cell(c) if c.note is None else c.note for c in columns), target]

    def idle(key: str, digits: int) -> Callable[[Column], str]:
        return lambda c: fmt(c.idle.get(key), digits)

    rows = [
        row("crash -> restart p50 (ms)", lambda c: ms(c.restart_ms, 50), "<= 50"),
        row("crash -> restart p99 (ms)", lambda c: ms(c.restart_ms, 99), ""),
        row(
            "hang: last heartbeat -> replacement p50 (s)",
            lambda c: c.hang_note or fmt(percentile(c.hang_s, 50), 2),
            "< 2",
        ),
        row(
            "hang: last heartbeat -> replacement max (s)",
            lambda c: "-" if c.hang_note else fmt(max(c.hang_s, default=None), 2),
            "",
        ),
        row(
            "trivial runs/s (N runs)",
            lambda c: (
                "n/a" if c.throughput is None else f"{c.throughput:.1f} ({c.throughput_runs})"
            ),
            ">= 50",
        ),
        row("idle CPU % (supervisor)", idle("main_cpu", 3), "< 0.05"),
        row("idle wake-ups/s (supervisor)", idle("main_wakeups", 1), ""),
        row("idle RSS MiB (supervisor)", idle("main_rss_mib", 1), "< 80"),
        row("idle CPU % (workers/children)", idle("children_cpu", 3), ""),
        row("idle wake-ups/s (workers/children)", idle("children_wakeups", 1), ""),
        row("idle RSS MiB (workers/children, summed)", idle("children_rss_mib", 1), ""),
    ]
    return format_table(["", *(c.name for c in columns), "target"], rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter idle windows")
    parser.add_argument("--idle-seconds", type=float, default=None)
    parser.add_argument("--hang-wait", type=float, default=5.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--idle-rss-against",
        type=Path,
        default=None,
        metavar="TREE",
        help="only compare the idle RSS of this checkout with another checkout's",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="TREE",
        help="only Deskpilot, every measurement of this checkout and of TREE (another "
        "checkout sharing the venv), alternated over --rounds; a table old | main | ratio",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds for --against / --idle-rss-against (5)"
    )
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        choices=(*sorted(PARTS), "idle"),
        help="with --against: only this measurement (its rows of the table)",
    )
    parser.add_argument(
        "--launcher", choices=("exec", "fork"), help="with --against: only this launcher"
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=None,
        help="with --against: crashes per tree and launcher, spread over --rounds",
    )
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    restarts = 10 if args.quick else 30
    hangs = 4 if args.quick else 10
    idle_seconds = args.idle_seconds or (10.0 if args.quick else 25.0)
    if args.part is not None:
        return run_part(args.part, args.launcher == "fork", args.count)
    load = load_average()
    if args.against is not None:
        text, errors = compare(
            args.against,
            args.rounds,
            idle_seconds,
            args.quick,
            only=args.only,
            launcher=args.launcher,
            restarts=args.restarts,
        )
        print(text)
        print(
            f"{args.rounds} rounds; machine: {os.cpu_count()} CPUs, load average at start "
            f"{fmt(load, 2)}, at end {fmt(load_average(), 2)}"
        )
        for error in errors:
            print(f"error: {error}")
        return 1 if errors else 0
    if args.idle_rss_against is not None:
        print(compare_idle_rss(args.idle_rss_against, args.rounds, settle=3.0))
        print(
            f"{args.rounds} rounds; load average at start {fmt(load, 2)}, at end {fmt(load_average(), 2)}"
        )
        return 0
    columns = []
    for name, fork, runs in (
        ("deskpilot (python workers)", False, 40),
        ("deskpilot (fork server)", True, 300),
    ):
        column = Column(name)
        measure_restarts(column, fork, restarts if fork else max(5, restarts // 2))
        measure_hangs(column, fork, hangs)
        measure_throughput(column, fork, runs // 4 if args.quick else runs)
        measure_idle(column, fork, idle_seconds)
        columns.append(column)
    reference = Column("supervisord")
    if supervisord_available():
        figures = measure_supervisord(restarts // 2, args.hang_wait, idle_seconds)
        reference.restart_ms, reference.ready_ms = figures.restart_ms, figures.ready_ms
        reference.hang_note, reference.idle = figures.hang_note, figures.idle
    else:
        reference.note = "not installed"
    columns.append(reference)

    print(table(columns))
    print()
    for column in columns[:2]:
        print(
            f"{column.name}: kill -> resumed run_started visible to clients (after the history "
            f"commit) p50 {ms(column.visible_ms, 50)} ms, p99 {ms(column.visible_ms, 99)} ms"
        )
    if reference.ready_ms:
        print(
            f"supervisord: kill -> new child ready p50 {ms(reference.ready_ms, 50)} ms, "
            f"p99 {ms(reference.ready_ms, 99)} ms (RUNNING waits for startsecs=1)"
        )
    print(f"machine: {os.cpu_count()} CPUs, load average at start {fmt(load, 2)}")
    missed = check_targets(columns[:2])
    for line in missed:
        print(f"target missed: {line}")
    if args.json is not None:
        args.json.write_text(
            json.dumps([column.__dict__ for column in columns], indent=2, default=str),
            encoding="utf-8",
        )
    return 0


def check_targets(columns: list[Column]) -> list[str]:
    missed = []
    for column in columns:
        p50 = percentile(column.restart_ms, 50)
        if p50 is not None and p50 > TARGETS["restart_p50_ms"]:
            missed.append(f"{column.name}: restart p50 {p50:.1f} ms > 50 ms")
        if column.hang_s and statistics.median(column.hang_s) >= TARGETS["hang_s"]:
            missed.append(f"{column.name}: hang detection {statistics.median(column.hang_s):.2f} s")
        if column.throughput is not None and column.throughput < TARGETS["throughput"]:
            missed.append(f"{column.name}: {column.throughput:.1f} runs/s < 50")
        if column.idle.get("main_cpu", 0) >= TARGETS["idle_cpu"]:
            missed.append(f"{column.name}: idle CPU {column.idle['main_cpu']:.3f} %")
        if column.idle.get("main_rss_mib", 0) >= TARGETS["idle_rss_mib"]:
            missed.append(f"{column.name}: idle RSS {column.idle['main_rss_mib']:.1f} MiB")
    return missed


if __name__ == "__main__":
    sys.exit(main())
