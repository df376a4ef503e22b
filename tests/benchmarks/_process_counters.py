"""What a process costs while it runs or waits: CPU, wake-ups and RSS from ``/proc``.

The supervisor benchmark measures its own daemon and its workers with these, and
supervisord (``_supervisord``) with the same counters, so the columns compare
like with like.  CPU comes from the scheduler's nanosecond counters, not from
``cpu_times`` (10 ms ticks: too coarse for an idle process).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def children_cpu() -> dict[int, float]:
    """CPU seconds of each process under this one (workers, the fork server and its
    children), by pid: a worker started during the interval counts from zero."""
    found = {}
    for child in psutil.Process().children(recursive=True):
        # OSError: it ended since it was listed (a worker retiring after its run)
        with contextlib.suppress(psutil.Error, OSError):
            found[child.pid] = process_cpu(child.pid)
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds of every thread of ``pid``, from the scheduler's nanosecond counters
    (``cpu_times`` counts 10 ms ticks: too coarse for an idle process)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def process_wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` (each is a sleep then a wake)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    total += int(line.split()[1])
    return total


def idle_figures(main: int, others: Callable[[], list[int]], seconds: float) -> dict[str, float]:
    """CPU %, wake-ups/s and RSS of ``main``, and of the processes ``others()`` returns."""

    def sample() -> dict[int, tuple[float, int]]:
        found = {}
        for pid in [main, *others()]:
            with contextlib.suppress(OSError):
                found[pid] = (process_cpu(pid), process_wakeups(pid))
        return found

    before, start = sample(), time.monotonic()
    time.sleep(seconds)  # the measurement itself: nothing to wait for
    after, wall = sample(), time.monotonic() - start
    figures: dict[str, float] = {}
    for label, pids in (("main", [main]), ("children", [p for p in after if p != main])):
        common = [p for p in pids if p in before and p in after]
        cpu = sum(after[p][0] - before[p][0] for p in common)
        wakes = sum(after[p][1] - before[p][1] for p in common)
        rss = 0.0
        for pid in common:
            with contextlib.suppress(psutil.Error):
                rss += psutil.Process(pid).memory_info().rss
        figures[f"{label}_cpu"] = 100 * cpu / wall
        figures[f"{label}_wakeups"] = wakes / wall
        figures[f"{label}_rss_mib"] = rss / 2**20
        figures[f"{label}_count"] = len(common)
    return figures
