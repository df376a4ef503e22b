"""Event-loop lag of a real ``deskpilotd`` while hostile files land in its workflows folder.

    .venv/bin/python -m tests.benchmarks.bench_hostile              # 5 rounds, about a minute
    .venv/bin/python -m tests.benchmarks.bench_hostile --rounds 20

One daemon (``python -m supervisor.daemon`` under a temporary DESKPILOT_HOME).
Each round first measures ``/health`` while nothing happens (quiet), then
drops every file of ``tests.helpers.hostile.HOSTILE_FILES`` (billion laughs,
``7 ** 99999999``, a 12 MB file, lists nested 50,000 deep in YAML and JSON, a
5,000-digit integer) under new names and measures ``/health`` until the
catalog lists them all as invalid and 100 more answers came back.  A probe
process of its own calls ``/health`` back to back over the real socket; its
latency is the time the event loop took to get to it.  Target: p99 < 100 ms.
The exit status is 1 when a file was not reported invalid.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.benchmarks._util import load_average
from tests.helpers.common import eventually
from tests.helpers.hostile import HOSTILE_FILES, DaemonProcess, HealthProbe, Lag


def _all_invalid(daemon: DaemonProcess, wanted: set[str]) -> bool:
    shown = {n: w for n, w in daemon.workflows().items() if n in wanted}
    return len(shown) == len(wanted) and not any(w["valid"] for w in shown.values())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of files (default 5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    daemon = DaemonProcess().start()
    quiet: list[float] = []
    hostile: list[float] = []
    settle: list[float] = []
    missed: list[str] = []
    try:
        for round_ in range(args.rounds):
            with HealthProbe(daemon) as probe:
                eventually(lambda p=probe: p.count() >= 200, timeout=120)
            quiet += probe.latencies
            names = {f"r{round_}-{name}": text for name, text in HOSTILE_FILES.items()}
            with HealthProbe(daemon) as probe:
                eventually(lambda p=probe: p.count() >= 100, timeout=120)
                started = time.monotonic()
                for name, text in names.items():
                    daemon.drop(name, text)

                eventually(lambda n=set(names): _all_invalid(daemon, n), timeout=120, interval=0.05)
                settle.append(time.monotonic() - started)
                seen = probe.count()
                eventually(lambda p=probe, s=seen: p.count() >= s + 100, timeout=120)
            hostile += probe.latencies
            missed += probe.failures
            print(
                f"round {round_ + 1}: all {len(names)} files invalid after "
                f"{settle[-1] * 1000:.0f} ms",
                file=sys.stderr,
            )
    finally:
        daemon.stop()
    print(f"{'':28} {'samples':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{'/health, quiet':28} {Lag.of(quiet).row()}")
    print(f"{'/health, hostile files':28} {Lag.of(hostile).row()}")
    print(
        f"\n{args.rounds} rounds of {len(HOSTILE_FILES)} files; all listed invalid after "
        f"{max(settle) * 1000:.0f} ms at most; load average {load_average()}; "
        f"failed /health calls: {len(missed)}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
