"""What the window check costs each input step, with five xterms open under openbox.

    .venv/bin/python -m tests.benchmarks.bench_focus [--runs N]

Starts its own Xvfb (1920x1080x24), openbox and five xterms, then times
``check_input_target`` (what keyboard.type/press/hotkey/key_down, mouse.click/
drag/scroll/move, image.click and ui.click's mouse click do before they act),
``--runs`` times per case after a warm-up: median and p90 in milliseconds, and
the X connections each check opens (counted on ``Xlib.display.Display``).

Cases: keys with no ``window:`` (the focused window), keys with ``window:`` by
window id and by title, and a click at a point with ``window:`` by window id.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.benchmarks._util import fmt, format_table, load_average
from tests.helpers.common import stop_processes
from tests.helpers.xvfb import start_xvfb

XTERMS = 5


def _context(folder: Path) -> Any:
    from automation.blocks.context import BlockContext

    return BlockContext(run_id="bench", node_id="node", workflow_dir=folder, artifacts_dir=folder)


def _time(cases: list[tuple[str, Callable[[], object]]], runs: int) -> list[list[float]]:
    """Milliseconds per check, case by case in turn, so load on the machine hits all alike."""
    for _, check in cases:
        for _ in range(5):
            check()  # warm up
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(runs):
        for index, (_, check) in enumerate(cases):
            start = time.perf_counter()
            check()
            times[index].append((time.perf_counter() - start) * 1000)
    return times


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def _connections(check: Callable[[], object]) -> int:
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    opened = 0
    original = xdisplay.Display.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal opened
        opened += 1
        original(self, *args, **kwargs)

    xdisplay.Display.__init__ = counting
    try:
        check()
    finally:
        xdisplay.Display.__init__ = original
    return opened


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="checks timed per case")
    args = parser.parse_args()
    for program in ("openbox", "xterm"):
        if shutil.which(program) is None:
            sys.exit(f"{program} is missing: bash packaging/system-deps.sh")
    folder = Path(tempfile.mkdtemp(prefix="bench-focus-"))
    display = start_xvfb(xauthority_dir=folder)
    env = display.env(SHELL="/bin/sh")
    os.environ["DISPLAY"], os.environ["XAUTHORITY"] = display.name, str(display.xauthority)
    processes = [subprocess.Popen(["openbox"], env=env, stderr=subprocess.DEVNULL)]
    try:
        from automation.blocks.desktop.common import Evidence
        from automation.blocks.desktop.focus import check_input_target
        from automation.blocks.desktop.windows import WindowSelector, list_windows

        for index in range(XTERMS):
            processes.append(
                subprocess.Popen(
                    [
                        "xterm",
                        "-T",
                        f"term {index}",
                        "-geometry",
                        f"80x20+{index * 90}+{index * 60}",
                    ],
                    env=env,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 30
        while len(windows := list_windows("^term ", include_hidden=False)) < XTERMS:
            if time.monotonic() > deadline:
                sys.exit(f"only {len(windows)} of {XTERMS} xterms showed within 30 s")
            time.sleep(0.05)  # polling interval, bounded by the deadline above
        last = max(windows, key=lambda w: w.title)  # started last: on top, and focused
        subprocess.run(["xdotool", "windowactivate", "--sync", str(last.id)], env=env, timeout=10)
        ctx = _context(folder)
        by_id = WindowSelector(window_id=last.id)
        by_title = WindowSelector(title=f"^{last.title}$")
        point = last.box.center
        cases: list[tuple[str, Callable[[], object]]] = [
            ("keys, no window:", lambda: check_input_target(ctx, None, Evidence(), doing="typing")),
            (
                "keys, window: id",
                lambda: check_input_target(ctx, by_id, Evidence(), doing="typing"),
            ),
            (
                "keys, window: title",
                lambda: check_input_target(ctx, by_title, Evidence(), doing="typing"),
            ),
            (
                "click, window: id",
                lambda: check_input_target(ctx, by_id, Evidence(), doing="a click", point=point),
            ),
        ]
        rows = []
        for (name, check), times in zip(cases, _time(cases, args.runs), strict=True):
            median_ms, p90_ms = statistics.median(times), _p90(times)
            rows.append([name, fmt(median_ms, 2), fmt(p90_ms, 2), str(_connections(check))])
        load = load_average()
        print(f"window check per input step, {XTERMS} xterms under openbox, {args.runs} runs")
        print(f"(load average {fmt(load, 2)})" if load is not None else "")
        print(format_table(["case", "median ms", "p90 ms", "X connections"], rows))
    finally:
        stop_processes(processes)
        display.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
