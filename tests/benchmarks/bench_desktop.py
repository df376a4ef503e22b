"""Desktop targeting benchmark: ours (mss + matching.py) against pyautogui/pyscreeze.

    .venv/bin/python -m tests.benchmarks.bench_desktop [--quick]

Starts its own Xvfb (1920x1080x24) and the Qt test window, then measures:

* screenshot latency of the full screen: mss (ours) vs ``pyautogui.screenshot``;
* find-image latency for a 60x30 template, including the grab: ours vs
  ``pyautogui.locateOnScreen`` with OpenCV (confidence 0.9) and without it
  (pyscreeze's Pillow path, exact match, run in a subprocess with a time cap);
* not-found latency for a template that is not on screen;
* hit rate over the scale/theme matrix (QT_SCALE_FACTOR 1, 1.25, 1.5 x light,
  dark) for templates captured at 100 % light: ours vs locate at confidence 0.9;
* a near-uniform template (a patch of window background): ours refuses it,
  pyautogui returns a match.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.helpers.xvfb import XDisplay, start_xvfb

ROOT = Path(__file__).resolve().parents[2]
PILLOW_CAP = 90.0


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def open_window(
    display: XDisplay, folder: Path, *args: str, scale: float = 1.0
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    state = folder / f"state-{time.monotonic_ns()}.json"
    env = display.env(
        QT_QPA_PLATFORM="xcb",
        QT_SCALE_FACTOR=str(scale),
        QT_SCALE_FACTOR_ROUNDING_POLICY="PassThrough",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.desktop.testwindow",
            "--state",
            str(state),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            data = json.loads(state.read_text())
            if data.get("ready"):
                time.sleep(0.3)  # let the first paint settle before grabbing
                return process, data
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the test window did not come up")


def close(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=5)


def inside(point: tuple[int, int], box: list[int]) -> bool:
    x, y, w, h = box
    return x <= point[0] < x + w and y <= point[1] < y + h


def pillow_locate(display: XDisplay, template: Path) -> str:
    """pyscreeze without OpenCV, in a child process so a slow search can be capped."""
    code = (
        "import time, pyautogui, pyscreeze\n"
        "pyscreeze.GNOMESCREENSHOT_EXISTS = True\n"
        "pyscreeze.locateAll = pyscreeze._locateAll_pillow\n"
        "pyscreeze.USE_IMAGE_NOT_FOUND_EXCEPTION = False\n"
        "t = time.perf_counter()\n"
        f"box = pyautogui.locateOnScreen({str(template)!r})\n"
        "print(round((time.perf_counter() - t) * 1000, 1), box is not None)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code],
            env=display.env(),
            capture_output=True,
            text=True,
            timeout=PILLOW_CAP,
        )
    except subprocess.TimeoutExpired:
        return f"> {PILLOW_CAP:.0f} s (stopped)"
    if done.returncode != 0:
        return "error: " + done.stderr.strip().splitlines()[-1]
    ms, found = done.stdout.strip().splitlines()[-1].split()
    return f"{float(ms):.0f} ms ({'found' if found == 'True' else 'not found'})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions, skip the no-OpenCV runs"
    )
    args = parser.parse_args()
    runs = 5 if args.quick else 20
    folder = Path(tempfile.mkdtemp(prefix="deskpilot-bench-"))
    display = start_xvfb(xauthority_dir=folder)
    os.environ.update(DISPLAY=display.name, XAUTHORITY=str(display.xauthority))
    rows: list[tuple[str, str, str]] = []
    try:
        import pyautogui  # type: ignore[import-untyped]
        import pyscreeze  # type: ignore[import-untyped]

        from automation.blocks.desktop import display as screen
        from automation.blocks.desktop import matching

        pyscreeze.GNOMESCREENSHOT_EXISTS = True
        pyscreeze.USE_IMAGE_NOT_FOUND_EXCEPTION = False
        pyautogui.PAUSE = 0

        window, state = open_window(display, folder)
        sx, sy, sw, sh = state["geometry"]["save"]
        cx, cy = sx + sw // 2, sy + sh // 2
        small_box = screen.Box(cx - 30, cy - 15, 60, 30)
        wide_box = screen.Box(cx - 60, cy - 14, 120, 28)
        small, _ = screen.grab(small_box)
        wide, _ = screen.grab(wide_box)
        small_path, wide_path = folder / "save60x30.png", folder / "save120x28.png"
        cv2.imwrite(str(small_path), small)
        cv2.imwrite(str(wide_path), wide)
        absent = np.full((30, 60, 3), 250, np.uint8)
        cv2.putText(absent, "Nope", (4, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 200), 2)
        absent_path = folder / "absent.png"
        cv2.imwrite(str(absent_path), absent)
        fx, fy, _, _ = state["geometry"]["drag"]
        flat, _ = screen.grab(screen.Box(fx + 200, fy + 80, 60, 30))
        flat_path = folder / "flat.png"
        cv2.imwrite(str(flat_path), flat)

        rows.append(
            (
                "screenshot 1920x1080 (median)",
                f"{median_ms(lambda: screen.grab(), runs):.1f} ms BGR copy, "
                f"{median_ms(lambda: screen.grab_raw(), runs):.1f} ms raw",
                f"{median_ms(pyautogui.screenshot, runs):.1f} ms (PIL image)",
            )
        )

        def ours(template: np.ndarray) -> Callable[[], Any]:
            def run() -> Any:
                shot, _ = screen.grab_raw()  # what the image blocks search
                return matching.find(shot, template)

            return run

        assert ours(small)().found
        rows.append(
            (
                "find 60x30, found (median, incl. grab)",
                f"{median_ms(ours(small), runs):.1f} ms",
                f"{median_ms(lambda: pyautogui.locateOnScreen(str(small_path), confidence=0.9), max(3, runs // 4)):.1f} ms (OpenCV, conf 0.9)",
            )
        )
        rows.append(
            (
                "not found 60x30 (median, incl. grab)",
                f"{median_ms(ours(absent), runs):.1f} ms",
                f"{median_ms(lambda: pyautogui.locateOnScreen(str(absent_path), confidence=0.9), max(3, runs // 4)):.1f} ms (OpenCV, conf 0.9)",
            )
        )
        if not args.quick:
            rows.append(
                ("find 60x30 without OpenCV (exact)", "n/a", pillow_locate(display, small_path))
            )
            rows.append(
                ("not found without OpenCV (exact)", "n/a", pillow_locate(display, absent_path))
            )

        # near-uniform template
        try:
            matching.find(screen.grab()[0], flat)
            ours_flat = "matched (false)"
        except matching.TemplateTooUniform:
            ours_flat = "refused (no false match)"
        theirs = pyautogui.locateOnScreen(str(flat_path), confidence=0.999)
        theirs_flat = (
            f"matched at {tuple(int(v) for v in theirs)} (false)" if theirs else "no match"
        )
        rows.append(("near-uniform 60x30 template", ours_flat, theirs_flat + " at conf 0.999"))
        close(window)

        # scale / theme matrix
        matrix: list[tuple[str, str, bool, bool, float]] = []
        for scale in (1.0, 1.25, 1.5):
            for theme in ("light", "dark"):
                extra = ("--dark",) if theme == "dark" else ()
                window, state = open_window(display, folder, *extra, scale=scale)
                target = state["geometry"]["save"]
                for name, template, path in (
                    ("60x30", small, small_path),
                    ("120x28", wide, wide_path),
                ):
                    shot, _ = screen.grab()
                    start = time.perf_counter()
                    result = matching.find(shot, template)
                    took = (time.perf_counter() - start) * 1000
                    ok = result.found and inside(result.matches[0].center, target)
                    located = pyautogui.locateOnScreen(str(path), confidence=0.9)
                    theirs_ok = located is not None and inside(
                        (
                            int(located.left + located.width // 2),
                            int(located.top + located.height // 2),
                        ),
                        target,
                    )
                    matrix.append((f"{int(scale * 100)}% {theme}", name, ok, theirs_ok, took))
                close(window)
        ours_hits = sum(m[2] for m in matrix)
        their_hits = sum(m[3] for m in matrix)
        rows.append(
            (
                f"hit rate, scale x theme matrix ({len(matrix)} cases)",
                f"{ours_hits}/{len(matrix)} ({100 * ours_hits / len(matrix):.0f}%)",
                f"{their_hits}/{len(matrix)} ({100 * their_hits / len(matrix):.0f}%) at conf 0.9",
            )
        )
    finally:
        display.stop()

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}} | {'Deskpilot (mss + matching.py)':<32} | pyautogui / pyscreeze")
    print(f"{'-' * width}-|-{'-' * 32}-|-{'-' * 40}")
    for name, a, b in rows:
        print(f"{name:<{width}} | {a:<32} | {b}")
    print()
    print(f"{'case':<14} | template | ours  | pyautogui | ours ms")
    for case, name, ok, theirs_ok, took in matrix:
        print(
            f"{case:<14} | {name:<8} | {'hit' if ok else 'MISS':<5} | {'hit' if theirs_ok else 'miss':<9} | {took:.1f}"
        )
    print(f"\nload average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
