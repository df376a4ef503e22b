"""Engine benchmark: what one no-op step costs, with and without history, next to Robot Framework.

    .venv/bin/python -m tests.benchmarks.bench_engine [--nodes N] [--fanout N] [--repeat K]
                                                      [--json PATH]

Scenarios, each run ``--repeat`` times in a fresh child process (so each peak
RSS is its own), interleaved so that a burst of load on the machine hits all
of them alike; the table shows medians:

* ``chain-history``: ``--nodes`` ``control.pass`` nodes linked ``n1 -> n2 -> ...``,
  run in-process by the engine with a ``Recorder`` writing to a fresh SQLite
  history; timed from ``engine.run`` until ``recorder.flush()`` returned, then
  checked in the database itself (every step started and finished, integrity).
* ``chain-bare``: the same chain with no sink, so the cost of history shows.
* ``fanout-history``: ``control.for_each`` over ``range(--fanout)`` feeding a
  ``control.pass``, with history.
* ``robot-chain`` / ``robot-one``: a Robot Framework test of ``--nodes`` (and
  of one) ``No Operation`` keywords; the difference gives RF's cost per keyword
  without its fixed start-up.

The process exits 1 only when a correctness check fails (or a scenario
crashed); a missed speed target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.benchmarks._util import (
    ROOT,
    current_rss_mib,
    fmt,
    format_table,
    load_average,
    median,
    peak_rss_mib,
    ratio,
    run_child,
)

logger = logging.getLogger(__name__)

MODULE = "tests.benchmarks.bench_engine"
#: Robot Framework's cost per keyword measured on the project's machines; the target is a share of it.
RF_REFERENCE_US = 329.0
TARGET_RATIO = 0.25
#: Jinja's sandbox refuses larger ranges.
MAX_FANOUT = 100_000
CHILD_TIMEOUT = 900.0

DURABILITY = (
    "kill -9 at any moment: events are group-committed by the Recorder's writer thread, and "
    "what the CLI reports finished has been committed first (on_committed), so nothing reported "
    "finished is lost; only the uncommitted tail (events queued since the last commit) can be "
    "lost; on resume, steps whose finish was in that tail run again, like the step in flight."
)


# -- workflows ------------------------------------------------------------------------


def chain_yaml(nodes: int) -> str:
    lines = ["deskpilot: 1", "name: bench_chain", "limits:", f"  max_steps: {nodes + 1}", "nodes:"]
    lines += [f"  n{i}: {{block: control.pass}}" for i in range(1, nodes + 1)]
    lines.append("links:")
    lines += [f"  - n{i} -> n{i + 1}" for i in range(1, nodes)]
    return "\n".join(lines) + "\n"


FANOUT_YAML = """\
deskpilot: 1
name: bench_fanout
inputs:
  count: {type: integer}
limits:
  max_steps: 1000000
nodes:
  loop: {block: control.for_each, with: {items: "{{ range(inputs.count) | list }}"}}
  item: {block: control.pass}
links:
  - loop.item -> item.value
"""


# -- checks (read the database directly, not through the store under test) ----------------


def check_history(database: Path, run_id: str, expected: dict[str, int]) -> dict[str, Any]:
    """Every expected step attempt has succeeded with a start and an end; the file is intact.

    ``expected`` maps node id (or ``"*"`` for all nodes) to its number of step rows.
    """
    problems: list[str] = []
    connection = sqlite3.connect(database)
    try:
        integrity = ", ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
        run = connection.execute(
            "SELECT status, steps FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        total = connection.execute(
            "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM step_runs "
            "WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        complete = connection.execute(
            "SELECT count(*) FROM step_runs WHERE run_id = ? AND status = 'succeeded' "
            "AND started_at IS NOT NULL AND finished_at IS NOT NULL "
            "AND finished_at >= started_at",
            (run_id,),
        ).fetchone()[0]
        per_node = dict(
            connection.execute(
                "SELECT node_id, count(*) FROM step_runs WHERE run_id = ? AND status = 'succeeded' "
                "GROUP BY node_id",
                (run_id,),
            ).fetchall()
        )
    finally:
        connection.close()
    steps = expected.get("*", sum(expected.values()))
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    if run is None:
        problems.append("no runs row")
    elif run != ("succeeded", steps):
        problems.append(f"runs row is {run}, expected ('succeeded', {steps})")
    if tuple(total) != (steps, steps, 1, steps):
        problems.append(
            f"step rows (count, distinct, min, max) = {tuple(total)}, "
            f"expected ({steps}, {steps}, 1, {steps})"
        )
    if complete != steps:
        problems.append(f"{complete}/{steps} steps succeeded with start and finish recorded")
    for node_id, count in expected.items():
        if node_id != "*" and per_node.get(node_id) != count:
            problems.append(f"node {node_id}: {per_node.get(node_id, 0)} steps, expected {count}")
    if problems:
        return {"ok": False, "detail": "; ".join(problems)}
    return {
        "ok": True,
        "detail": f"{complete:,}/{steps:,} steps start+finish, integrity {integrity}",
    }


# -- child scenarios ----------------------------------------------------------------------


def _deskpilot(
    text: str, inputs: dict[str, Any], items: int, *, history: bool, expected: dict[str, int]
) -> dict[str, Any]:
    """Load, run and (with history) check one workflow; ``items`` is what per-item costs divide by."""
    from automation.blocks.registry import BlockRegistry
    from automation.engine.engine import Engine
    from automation.loader import parse_workflow
    from automation.validation import validate
    from supervisor.store.recorder import Recorder
    from supervisor.store.store import HistoryStore

    registry = BlockRegistry.with_builtins(plugins=False)
    loading = time.perf_counter()
    loaded = parse_workflow(text)
    issues = validate(loaded, registry)
    load_seconds = time.perf_counter() - loading
    if issues:
        raise SystemExit("benchmark workflow is invalid: " + "; ".join(map(str, issues)))
    steps = expected.get("*", sum(expected.values()))

    with TemporaryDirectory(prefix="deskpilot-bench-") as tmp:
        database = Path(tmp) / "history.sqlite3"
        store = HistoryStore.open(f"sqlite:///{database}") if history else None
        committed = [0, 0]  # events, commits

        def count(batch: list[Any]) -> None:
            committed[0] += len(batch)
            committed[1] += 1

        recorder = Recorder(store, on_committed=count) if store is not None else None
        if store is not None:
            store.save_workflow_version(loaded.workflow.name, None, loaded.text)
        engine = Engine(registry, sink=recorder, artifacts_dir=Path(tmp) / "artifacts")
        # as the worker and `deskpilot run` do once the workflow is loaded
        gc.freeze()
        rss_before = current_rss_mib()
        try:
            cpu = time.process_time()
            started = time.perf_counter()
            result = engine.run(loaded, inputs)
            ran = time.perf_counter() - started
            tail = committed[0]
            if recorder is not None:
                recorder.flush()
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            peak = peak_rss_mib()
        finally:
            engine.close()
            if recorder is not None:
                recorder.close()
            if store is not None:
                store.close()
        emitted = 2 * result.steps + 2  # started + finished per step, run started + finished
        if not result.ok:
            check = {"ok": False, "detail": f"run {result.status}: {result.error}"}
        elif result.steps != steps:
            check = {"ok": False, "detail": f"run took {result.steps} steps, expected {steps}"}
        elif history:
            check = check_history(database, result.run_id, expected)
        else:
            check = {
                "ok": True,
                "detail": f"run succeeded, {result.steps:,} steps, nothing recorded",
            }
    return {
        "items": items,
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "engine_seconds": ran,
        "load_seconds": load_seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "commits": committed[1] if history else None,
        "uncommitted_at_engine_end": emitted - tail if history else None,
        "check": check,
    }


def _robot(keywords: int) -> dict[str, Any]:
    try:
        from robot.api import ExecutionResult
        from robot.run import run as robot_run
        from robot.version import VERSION
    except ImportError:
        return {"installed": False}
    with TemporaryDirectory(prefix="deskpilot-bench-rf-") as tmp:
        suite = Path(tmp) / "chain.robot"
        suite.write_text(
            "*** Test Cases ***\nChain\n" + "    No Operation\n" * keywords, encoding="utf-8"
        )
        output = Path(tmp) / "output.xml"
        rss_before = current_rss_mib()
        cpu = time.process_time()
        started = time.perf_counter()
        rc = robot_run(
            str(suite),
            output=str(output),
            log="NONE",
            report="NONE",
            stdout=StringIO(),
            stderr=StringIO(),
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        peak = peak_rss_mib()
        tests = ExecutionResult(str(output)).suite.tests
        passed = sum(1 for item in tests[0].body if item.status == "PASS") if len(tests) == 1 else 0
    ok = rc == 0 and passed == keywords
    return {
        "installed": True,
        "version": VERSION,
        "items": keywords,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "check": {
            "ok": ok,
            "detail": f"{passed:,}/{keywords:,} keywords PASS in output.xml (rc {rc})",
        },
    }


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    robot: bool
    run: Callable[[argparse.Namespace], dict[str, Any]]


SCENARIOS = (
    Scenario(
        "chain-history",
        "deskpilot chain, history",
        False,
        lambda a: _deskpilot(
            chain_yaml(a.nodes), {}, a.nodes, history=True, expected={"*": a.nodes}
        ),
    ),
    Scenario(
        "chain-bare",
        "deskpilot chain, no history",
        False,
        lambda a: _deskpilot(
            chain_yaml(a.nodes), {}, a.nodes, history=False, expected={"*": a.nodes}
        ),
    ),
    Scenario(
        "fanout-history",
        "deskpilot for_each fan-out, history",
        False,
        lambda a: _deskpilot(
            FANOUT_YAML,
            {"count": a.fanout},
            a.fanout,
            history=True,
            expected={"loop": 1, "item": a.fanout},
        ),
    ),
    Scenario("robot-chain", "robot framework, No Operation", True, lambda a: _robot(a.nodes)),
    Scenario("robot-one", "robot framework, 1 keyword (start-up)", True, lambda a: _robot(1)),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def run_scenario(args: argparse.Namespace) -> int:
    """Child side: run one scenario once and print its result as one JSON line."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    scenario = BY_NAME[args.scenario]
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        data = profiler.runcall(scenario.run, args)
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        data = scenario.run(args)
    data["scenario"] = scenario.name
    import automation  # which checkout's code ran: a comparison checks it is the one it asked for

    data["code"] = str(Path(automation.__file__).resolve().parents[1])
    print(json.dumps(data))
    return 0


# -- parent: repeat, aggregate, report ------------------------------------------------------


@dataclass
class Collected:
    scenario: Scenario
    runs: list[dict[str, Any]]
    errors: list[str]
    installed: bool = True

    @property
    def seconds(self) -> float | None:
        values = [run["seconds"] for run in self.runs]
        return median(values) if values else None

    @property
    def items(self) -> int | None:
        return self.runs[0]["items"] if self.runs else None

    def median_of(self, key: str) -> float | None:
        values = [run[key] for run in self.runs if run.get(key) is not None]
        return median(values) if values else None

    @property
    def ok(self) -> bool:
        if not self.installed:
            return True
        return not self.errors and all(run["check"]["ok"] for run in self.runs)

    def check_text(self) -> str:
        if not self.installed:
            return "not installed"
        if self.errors:
            return f"ERROR ({len(self.errors)} of {len(self.runs) + len(self.errors)} runs)"
        failed = [run["check"]["detail"] for run in self.runs if not run["check"]["ok"]]
        if failed:
            return f"FAILED: {failed[0]}"
        details = {run["check"]["detail"] for run in self.runs}
        return "ok: " + " | ".join(sorted(details))


def compare(args: argparse.Namespace) -> tuple[str, bool]:
    """The Deskpilot scenarios of this checkout and of ``--against``'s, alternated child by
    child (which tree goes first swaps every round) so that load on the machine weighs on
    both alike; a table of medians, old | this | ratio (this / old, lower is better)."""
    trees = {"old": args.against.resolve(), "main": ROOT}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    errors: list[str] = []
    deskpilot = [scenario for scenario in SCENARIOS if not scenario.robot]
    for round_number in range(1, args.repeat + 1):
        for scenario in deskpilot:
            order = list(trees) if round_number % 2 else list(reversed(trees))
            for name in order:
                child_args = ["--scenario", scenario.name, "--nodes", str(args.nodes)]
                child_args += ["--fanout", str(args.fanout)]
                outcome = run_child(MODULE, child_args, timeout=CHILD_TIMEOUT, tree=trees[name])
                if outcome.error is not None:
                    errors.append(f"{name} {scenario.name}: {outcome.error}")
                elif outcome.data.get("code") != str(trees[name]):
                    errors.append(f"{name} {scenario.name}: ran the code of {outcome.data['code']}")
                elif not outcome.data["check"]["ok"]:
                    errors.append(f"{name} {scenario.name}: {outcome.data['check']['detail']}")
                else:
                    runs.setdefault((name, scenario.name), []).append(outcome.data)
                print(
                    f"  round {round_number}/{args.repeat}  {scenario.name:<15} {name:<5}"
                    + (f"cpu {outcome.data['cpu_seconds']:.3f} s" if outcome.data else "error"),
                    file=sys.stderr,
                    flush=True,
                )

    def cell(tree: str, scenario: Scenario, key: str, scale: float) -> float | None:
        values = [run[key] * scale for run in runs.get((tree, scenario.name), [])]
        return median(values) if values else None

    rows = []
    for scenario in deskpilot:
        items = args.fanout if scenario.name == "fanout-history" else args.nodes
        for label, key, scale, digits in (
            ("cpu µs/item", "cpu_seconds", 1e6 / items, 1),
            ("wall µs/item", "seconds", 1e6 / items, 1),
            ("peak RSS MiB", "peak_rss_mib", 1.0, 1),
        ):
            old, new = cell("old", scenario, key, scale), cell("main", scenario, key, scale)
            rows.append([f"{scenario.name}: {label}", fmt(old, digits), fmt(new, digits)])
            rows[-1].append(ratio(old, new))
    counts = {name: min(len(runs.get((name, s.name), [])) for s in deskpilot) for name in trees}
    text = format_table(["metric (median)", f"old ({trees['old']})", "main", "ratio"], rows)
    text += (
        f"\n{counts['old']} / {counts['main']} runs per scenario (old / main), "
        f"{args.nodes:,}-node chain, {args.fanout:,}-way fan-out"
    )
    for error in errors:
        text += f"\nscenario error: {error}"
    return text, not errors


def collect(args: argparse.Namespace) -> dict[str, Collected]:
    robot_installed = importlib.util.find_spec("robot") is not None
    results = {s.name: Collected(s, [], [], robot_installed or not s.robot) for s in SCENARIOS}
    for round_number in range(1, args.repeat + 1):
        for scenario in SCENARIOS:
            if not results[scenario.name].installed:
                continue
            child_args = [
                "--scenario",
                scenario.name,
                "--nodes",
                str(args.nodes),
                "--fanout",
                str(args.fanout),
            ]
            outcome = run_child(MODULE, child_args, timeout=CHILD_TIMEOUT)
            collected = results[scenario.name]
            if outcome.error is not None:
                collected.errors.append(outcome.error)
                logger.error("%s", outcome.error)
            elif outcome.data.get("installed") is False:
                collected.installed = False
            else:
                collected.runs.append(outcome.data)
            print(
                f"  round {round_number}/{args.repeat}  {scenario.name:<15} "
                + (
                    f"{outcome.data['seconds']:.3f} s"
                    if outcome.data.get("seconds") is not None
                    else ("error" if outcome.error else "not installed")
                ),
                file=sys.stderr,
                flush=True,
            )
    return results


def report(
    args: argparse.Namespace,
    results: dict[str, Collected],
    load_avg: tuple[float | None, float | None],
) -> dict[str, Any]:
    headers = [
        "scenario",
        "items",
        "total s",
        "min-max s",
        "cpu s",
        "µs/item",
        "items/s",
        "RSS start/peak MiB",
        "check",
    ]
    rows = []
    for collected in results.values():
        seconds, items = collected.seconds, collected.items
        if not collected.installed or seconds is None or not items:
            note = "not installed" if not collected.installed else collected.check_text()
            rows.append([collected.scenario.label, *["-"] * 7, note])
            continue
        totals = [run["seconds"] for run in collected.runs]
        rows.append(
            [
                collected.scenario.label,
                fmt(items),
                fmt(seconds, 3),
                f"{min(totals):.3f}-{max(totals):.3f}",
                fmt(collected.median_of("cpu_seconds"), 3),
                fmt(seconds / items * 1e6, 1),
                fmt(items / seconds),
                f"{fmt(collected.median_of('rss_before_mib'), 1)} / "
                f"{fmt(collected.median_of('peak_rss_mib'), 1)}",
                collected.check_text(),
            ]
        )
    print()
    print(
        f"Deskpilot engine benchmark: {args.nodes:,}-node chain, {args.fanout:,}-way fan-out, "
        f"median of {args.repeat} (Python {sys.version.split()[0]})"
    )
    if load_avg[0] is not None and load_avg[1] is not None:
        # Other work on the machine inflates wall times; cpu s much below total s shows it.
        print(
            f"1-min load average {load_avg[0]:.2f} before, {load_avg[1]:.2f} after, "
            f"on {os.cpu_count()} CPUs"
        )
    print()
    print(format_table(headers, rows))
    print()

    chain, bare = results["chain-history"], results["chain-bare"]
    fanout = results["fanout-history"]
    rf_chain, rf_one = results["robot-chain"], results["robot-one"]
    per_node = chain.seconds / args.nodes * 1e6 if chain.seconds is not None else None
    bare_per_node = bare.seconds / args.nodes * 1e6 if bare.seconds is not None else None
    summary: dict[str, Any] = {
        "deskpilot_per_node_us": per_node,
        "deskpilot_bare_per_node_us": bare_per_node,
        "fanout_per_item_us": (
            fanout.seconds / args.fanout * 1e6 if fanout.seconds is not None else None
        ),
        "robot_per_keyword_us": None,
        "robot_start_s": rf_one.seconds,
        "ratio": None,
        "target_ratio": TARGET_RATIO,
        "target_met": None,
    }
    facts: list[tuple[str, str]] = []
    if per_node is not None and bare_per_node is not None:
        facts.append(
            ("history cost per node", f"{per_node - bare_per_node:,.1f} µs (with - without)")
        )
    engine_part = chain.median_of("engine_seconds")
    if engine_part is not None and chain.seconds is not None:
        facts.append(
            (
                "chain with history, split",
                f"engine.run {engine_part:.3f} s + waiting for the last commits "
                f"{chain.seconds - engine_part:.3f} s",
            )
        )
    commits, tail = chain.median_of("commits"), chain.median_of("uncommitted_at_engine_end")
    if commits is not None and tail is not None:
        facts.append(
            (
                "group commits (chain)",
                f"{commits:,.0f} commits; {tail:,.0f} events still uncommitted when the engine "
                "finished (what a kill -9 at that moment would cost the history)",
            )
        )
    load = chain.median_of("load_seconds")
    if load is not None:
        facts.append(("loading the chain (untimed)", f"{load:.2f} s parse_workflow + validate"))
    if not rf_chain.installed:
        facts.append(("Robot Framework", "not installed (pip install robotframework); no ratio"))
    elif rf_chain.seconds is not None and rf_one.seconds is not None:
        rf_per_keyword = (rf_chain.seconds - rf_one.seconds) / max(1, args.nodes - 1) * 1e6
        version = rf_chain.runs[0].get("version", "?")
        summary["robot_per_keyword_us"] = rf_per_keyword
        facts.append(("Robot Framework " + version + " start-up", f"{rf_one.seconds:.3f} s"))
        facts.append(
            (
                "Robot Framework per keyword",
                f"{rf_per_keyword:,.1f} µs = (t{args.nodes} - t1) / {args.nodes - 1:,}"
                f"  (reference on these machines: {RF_REFERENCE_US:g} µs)",
            )
        )
        if per_node is not None and rf_per_keyword > 0:
            ratio = per_node / rf_per_keyword
            met = ratio <= TARGET_RATIO
            summary.update(
                ratio=ratio, target_met=met, ratio_to_reference=per_node / RF_REFERENCE_US
            )
            facts.append(
                (
                    "ratio Deskpilot/RF",
                    f"{ratio:.3f} per step (Deskpilot with history {per_node:,.1f} µs / RF "
                    f"{rf_per_keyword:,.1f} µs); target <= {TARGET_RATIO}: "
                    + ("met" if met else "NOT met")
                    + f"  (against the {RF_REFERENCE_US:g} µs reference: "
                    f"{per_node / RF_REFERENCE_US:.3f})",
                )
            )
    width = max(len(name) for name, _ in facts) if facts else 0
    for name, value in facts:
        print(f"{name.ljust(width)}  {value}")
    print()
    print(DURABILITY)
    errors = [error for collected in results.values() for error in collected.errors]
    for error in errors:
        print(f"\nscenario error: {error}")
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="Time the Deskpilot engine on no-op chains and a fan-out, next to Robot "
        "Framework, and check that the history recorded every step.",
    )
    parser.add_argument("--nodes", type=_positive, default=10_000, help="chain length (10000)")
    parser.add_argument(
        "--fanout", type=_fanout, default=1_000, help="for_each items (1000, at most 100000)"
    )
    parser.add_argument("--repeat", type=_positive, default=3, help="runs per scenario (3)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--against",
        type=Path,
        metavar="TREE",
        help="only the Deskpilot scenarios, of this checkout and of TREE (another checkout "
        "sharing the venv), alternated; a table old | main | ratio",
    )
    parser.add_argument("--scenario", choices=sorted(BY_NAME), help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        type=Path,
        help="with --scenario: cProfile the scenario's main thread, write the stats here",
    )
    args = parser.parse_args(argv)
    if args.profile and not args.scenario:
        parser.error("--profile needs --scenario (profile one scenario in this process)")
    return args


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fanout(text: str) -> int:
    value = _positive(text)
    if value > MAX_FANOUT:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_FANOUT} (the template sandbox's range limit)"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario:
        return run_scenario(args)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    load_before = load_average()
    if args.against is not None:
        text, ok = compare(args)
        print(text)
        print(
            f"1-min load average {fmt(load_before, 2)} before, {fmt(load_average(), 2)} after, "
            f"on {os.cpu_count()} CPUs"
        )
        return 0 if ok else 1
    results = collect(args)
    summary = report(args, results, (load_before, load_average()))
    ok = all(collected.ok for collected in results.values())
    if args.json:
        payload = {
            "config": {"nodes": args.nodes, "fanout": args.fanout, "repeat": args.repeat},
            "summary": summary,
            "checks_ok": ok,
            "durability": DURABILITY,
            "scenarios": {
                name: {
                    "label": collected.scenario.label,
                    "installed": collected.installed,
                    "median_seconds": collected.seconds,
                    "runs": collected.runs,
                    "errors": collected.errors,
                }
                for name, collected in results.items()
            },
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
