"""Typing benchmark: does typed text arrive, in a real editor and a real terminal?

    .venv/bin/python -m tests.benchmarks.bench_typing [--runs 50]

Starts its own Xvfb, Mousepad and xterm (from Debian), then for each method
types a non-ASCII line ``--runs`` times:

* Mousepad: Ctrl+A, type, Ctrl+S at once, then read the saved file: right,
  empty, or wrong (the previous text: the paste came after the save);
* xterm running ``cat > file``: type the line and Enter, then read the file.

Methods: "unchecked paste" is what ``keyboard.type`` did before (xsel, then
Ctrl+V, no wait for the window); "auto" is ``keyboard.type`` now.  The table
shows the counts and the median time of the typing step.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers.xvfb import XDisplay, start_xvfb

TEXT = "Grüße, naïve café ✓ Ωμέγα 日本語"
SETTLE = 3.0


def _start(display: XDisplay, command: list[str], title: str) -> subprocess.Popen[bytes]:
    from automation.blocks.desktop.windows import list_windows

    env = display.env(LANG="C.UTF-8", LC_ALL="C.UTF-8", NO_AT_BRIDGE="1")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not list_windows(title, include_hidden=False):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{command[0]} showed no window")
        time.sleep(0.05)
    return process


def _focus(title: str) -> None:
    from automation.blocks.desktop.display import gui
    from automation.blocks.desktop.windows import WindowFocus, list_windows
    from automation.testing import run_block

    (window,) = list_windows(title, include_hidden=False)
    gui().moveTo(*window.box.center)
    run_block(WindowFocus, {"window_id": window.id})


def _unchecked_paste(text: str) -> None:
    from automation.blocks.desktop.clipboard import write_clipboard
    from automation.blocks.desktop.display import gui

    write_clipboard(text)
    gui().hotkey("ctrl", "v")


def _auto(text: str) -> None:
    from automation.blocks.desktop.input import KeyboardType
    from automation.testing import run_block

    run_block(KeyboardType, {"text": text})


def _outcome(path: Path, expected: str) -> str:
    deadline = time.monotonic() + SETTLE
    content = ""
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace")
        if content == expected:
            return "right"
        time.sleep(0.02)
    return "empty" if content == "" else "wrong"


def _editor(
    display: XDisplay, folder: Path, type_text: Callable[[str], None], runs: int
) -> tuple[dict[str, int], float]:
    from automation.blocks.desktop.display import gui

    document = folder / "bench.txt"
    document.write_text("start\n", encoding="utf-8")
    title = r"bench\.txt - Mousepad$"
    app = _start(
        display, ["dbus-run-session", "--", "mousepad", "--disable-server", str(document)], title
    )
    counts = {"right": 0, "empty": 0, "wrong": 0}
    times = []
    try:
        _focus(title)
        for run in range(runs):
            text = f"{run}: {TEXT}"
            gui().hotkey("ctrl", "a")
            started = time.perf_counter()
            type_text(text)
            times.append(time.perf_counter() - started)
            gui().hotkey("ctrl", "s")
            counts[_outcome(document, text)] += 1
    finally:
        _kill(app)
    return counts, statistics.median(times) * 1000


def _terminal(
    display: XDisplay, folder: Path, type_text: Callable[[str], None], runs: int
) -> tuple[dict[str, int], float]:
    out = folder / "typed.txt"
    out.write_text("", encoding="utf-8")
    app = _start(
        display,
        ["xterm", "-T", "bench-xterm", "-e", "sh", "-c", f"cat >> '{out}'"],
        "^bench-xterm$",
    )
    counts = {"right": 0, "empty": 0, "wrong": 0}
    times = []
    expected = ""
    try:
        _focus("^bench-xterm$")
        for run in range(runs):
            line = f"{run}: {TEXT}\n"
            started = time.perf_counter()
            type_text(line)
            times.append(time.perf_counter() - started)
            expected += line
            outcome = _outcome(out, expected)
            counts[outcome] += 1
            if outcome != "right":
                expected = out.read_text(encoding="utf-8", errors="replace")
    finally:
        _kill(app)
    return counts, statistics.median(times) * 1000


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-typing-") as tmp:
        folder = Path(tmp)
        display = start_xvfb(xauthority_dir=folder)
        os.environ.update(DISPLAY=display.name, XAUTHORITY=str(display.xauthority))
        rows = []
        try:
            for app, bench in (("mousepad", _editor), ("xterm", _terminal)):
                for method, fn in (
                    ("unchecked paste (before)", _unchecked_paste),
                    ("auto (now)", _auto),
                ):
                    counts, median = bench(display, folder, fn, args.runs)
                    rows.append((app, method, counts, median))
                    sys.stderr.write(f"{app} {method}: {counts}\n")
        finally:
            display.stop()
    out = sys.stdout
    out.write(f"\n{args.runs} runs each, text {TEXT!r}\n\n")
    out.write("| app | method | right | empty | wrong | median type step |\n")
    out.write("|---|---|---|---|---|---|\n")
    for app, method, counts, median in rows:
        out.write(
            f"| {app} | {method} | {counts['right']} | {counts['empty']} | {counts['wrong']} "
            f"| {median:.0f} ms |\n"
        )


if __name__ == "__main__":
    main()
