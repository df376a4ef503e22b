"""How long the command line takes to answer: ``deskpilot --help`` and friends.

    .venv/bin/python -m tests.benchmarks.bench_cli [--repeat N]

Each command runs as a fresh process, as a shell runs it (and as shell
completion runs it on every Tab), beside ``python -c pass`` for the
interpreter's own start-up on this machine.  Target: ``--help`` under 300 ms.
The last column is the median CPU time (user + system) of the command, which
a loaded machine does not inflate: compare versions by it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("deskpilot --help", [sys.executable, "-m", "supervisor.cli.main", "--help"]),
    ("deskpilot runs --help", [sys.executable, "-m", "supervisor.cli.main", "runs", "--help"]),
    ("deskpilot run --help", [sys.executable, "-m", "supervisor.cli.main", "run", "--help"]),
    ("deskpilot submit --help", [sys.executable, "-m", "supervisor.cli.main", "submit", "--help"]),
    (
        "deskpilot supervisor --help",
        [sys.executable, "-m", "supervisor.cli.main", "supervisor", "--help"],
    ),
    (
        "deskpilot runs rerun --help",
        [sys.executable, "-m", "supervisor.cli.main", "runs", "rerun", "--help"],
    ),
    ("deskpilot blocks list", [sys.executable, "-m", "supervisor.cli.main", "blocks", "list"]),
    ("deskpilot runs list", [sys.executable, "-m", "supervisor.cli.main", "runs", "list"]),
]


def measure(argv: list[str], repeat: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of each of ``repeat`` fresh runs.

    The CPU time is what the command itself costs: on a loaded machine the
    wall clock also counts the time spent waiting for a core, so comparing two
    versions under load reads the CPU column.
    """
    times = []
    cpu = []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        times.append(time.perf_counter() - start)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, argv)
        cpu.append(usage.ru_utime + usage.ru_stime)
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DESKPILOT_HOME": home}
        print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
        print(f"{'command':<28} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'cpu ms':>8}")
        for label, argv in COMMANDS:
            wall, cpu = measure(argv, args.repeat, env)
            times = sorted(wall)
            p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
            print(
                f"{label:<28} {statistics.median(times) * 1000:>10.0f} "
                f"{p90 * 1000:>8.0f} {times[0] * 1000:>8.0f} "
                f"{statistics.median(cpu) * 1000:>8.0f}"
            )


if __name__ == "__main__":
    main()
