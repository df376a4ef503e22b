"""Image targeting on real keypads: Deskpilot against plain OpenCV and pyautogui, in one run.

    .venv/bin/python -m tests.benchmarks.bench_targeting [--quick] [--apps a,b] [--json PATH]

Starts its own Xvfb (1920x1080x24), a session bus and the accessibility bus,
and real calculators from Debian: galculator (GTK 3), qalculate-gtk (GTK 3)
and speedcrunch (Qt 5), each with rows of near-identical buttons.

**Ground truth** is the accessibility bus: every showing button's name and
screen box, read over AT-SPI in each configuration (never from a matcher).
A button is the same button across configurations by (name, role, rank among
buttons of that name in reading order).

**Templates** are captured once per app, at 100 % in the light theme, with
the window at the first position: every button cropped *whole* (its AT-SPI
box) and *glyph-only* (the inner part: the box less a fifth of its width and
height on each side, i.e. the label and face without the border).

**Cases**: every template searched on

* 100 % light at three window positions (the first is the capture itself);
* 125 %, 150 %, 200 % light, and 100 %, 125 %, 150 %, 200 % dark, at the
  second position.  GTK 3 scales by whole numbers only, so for the GTK apps
  200 % is ``GDK_SCALE=2`` (toolkit scaling) and 125 %/150 % are
  ``GDK_DPI_SCALE`` (font-only scaling: labels grow, borders do not); dark is
  ``GTK_THEME=Adwaita:dark``.  For Qt, ``QT_SCALE_FACTOR`` and a dark style
  sheet (Qt has no dark palette switch by environment alone).

Buttons whose box is not wholly on screen in a configuration are skipped.
Under toolkit scaling (GTK's ``GDK_SCALE``, Qt's ``QT_SCALE_FACTOR``) AT-SPI
reports logical pixels (the window's position divided by the scale, plus the
widget's unscaled offset; checked against ``xdotool getwindowgeometry``), so
those boxes are multiplied by the scale to get screen pixels.

**Methods**, each timed including its own screen grab:

* Deskpilot: mss grab, ``matching.find`` (default confidence 0.85, default
  scales, fallbacks) and ``picking.choose`` (the ambiguity check), i.e. what
  ``image.click`` does before clicking.  Outcomes: hit, wrong, ambiguous
  (refused), not found, or refused as too uniform.
* plain OpenCV: mss grab, ``cv2.matchTemplate(TM_CCOEFF_NORMED)`` on the
  colour screen, max location (no threshold: it always answers).
* pyautogui: ``pyautogui.locateOnScreen(confidence=0.9)`` with OpenCV (its
  own Pillow grab); None is "not found".

A hit is a chosen centre inside the true box; anything else it answered is
a wrong hit.  **Not-found** time: Deskpilot on the 16 keys of a synthetic
keypad drawn with OpenCV's Hershey font (shaped like buttons, absent from
every app), searched while each app shows at 100 % light.

Progress goes to stderr, the table to stdout.  Exit status 0 unless a
Deskpilot wrong hit happened (the one target that is a correctness bug).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.helpers.desktop_apps import App, Button, DesktopSession
from tests.helpers.xvfb import start_xvfb

POSITIONS = ((40, 60), (610, 250), (1100, 430))
SCALES = (1.0, 1.25, 1.5, 2.0)
METHODS = ("deskpilot", "opencv", "pyautogui")


@dataclass(frozen=True)
class Config:
    scale: float
    dark: bool
    position: int

    @property
    def label(self) -> str:
        return f"{self.scale * 100:.0f}% {'dark' if self.dark else 'light'} pos{self.position + 1}"


def configs(quick: bool) -> list[Config]:
    out = [Config(1.0, False, p) for p in range(len(POSITIONS))]
    out += [Config(s, False, 1) for s in SCALES[1:]]
    out += [Config(s, True, 1) for s in SCALES]
    if quick:
        out = [c for c in out if c.position != 2 and c.scale in (1.0, 1.5, 2.0)]
    return out


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)

    def add(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] += 1
        self.times.append(seconds * 1000)

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())

    def rate(self, outcome: str) -> float:
        return 100.0 * self.outcomes[outcome] / self.cases if self.cases else 0.0

    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


def keyed(buttons: list[Button]) -> dict[tuple[str, str, int], Button]:
    """Each button under (name, role, rank in reading order among its namesakes)."""
    ordered = sorted(buttons, key=lambda b: (b.y, b.x))
    seen: Counter[tuple[str, str]] = Counter()
    out = {}
    for button in ordered:
        key = (button.name, button.role)
        out[(button.name, button.role, seen[key])] = button
        seen[key] += 1
    return out


def device_scale(app: App, config: Config) -> float:
    """What AT-SPI's logical pixels are multiplied by to give screen pixels."""
    if app.spec.toolkit == "qt":
        return config.scale
    return config.scale if config.scale == 2.0 else 1.0  # GDK_SCALE; DPI scaling is fonts only


def to_screen(buttons: list[Button], factor: float) -> list[Button]:
    if factor == 1.0:
        return buttons
    return [
        Button(
            b.name,
            b.role,
            round(b.x * factor),
            round(b.y * factor),
            round(b.width * factor),
            round(b.height * factor),
        )
        for b in buttons
    ]


def glyph_box(button: Button) -> tuple[int, int, int, int]:
    mx, my = max(2, button.width // 5), max(2, button.height // 5)
    return button.x + mx, button.y + my, button.width - 2 * mx, button.height - 2 * my


def on_screen(button: Button) -> bool:
    return (
        button.x >= 0
        and button.y >= 0
        and button.x + button.width <= 1920
        and (button.y + button.height <= 1080)
    )


def settle(app: App, position: tuple[int, int] | None) -> list[Button]:
    """Move the window (if asked) and wait until AT-SPI reports a stable layout."""
    if position is not None:
        app.move(*position)
    previous: list[Button] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        buttons = app.buttons()
        if buttons and buttons == previous:
            time.sleep(0.3)  # the last repaint after the layout settled
            return buttons
        previous = buttons
        time.sleep(0.25)
    return previous


class Methods:
    """The three ways to find a template on the live screen, each including its grab."""

    def __init__(self) -> None:
        import pyautogui  # type: ignore[import-untyped]
        import pyscreeze  # type: ignore[import-untyped]

        from automation.blocks.desktop import display, matching, picking

        pyscreeze.GNOMESCREENSHOT_EXISTS = True  # Pillow grabs X itself
        pyscreeze.USE_IMAGE_NOT_FOUND_EXCEPTION = False
        pyautogui.useImageNotFoundException(False)
        self.pyautogui = pyautogui
        self.display, self.matching, self.picking = display, matching, picking

    def deskpilot(self, template: np.ndarray) -> tuple[str, tuple[int, int] | None]:
        screen, _ = self.display.grab_raw(None)
        try:
            result = self.matching.find(screen, template)
        except self.matching.TemplateTooUniform:
            return "uniform", None
        if not result.found:
            return "not found", None
        try:
            chosen = self.picking.choose(result.candidates, margin=self.matching.DEFAULT_MARGIN)
        except self.picking.Ambiguous:
            return "ambiguous", None
        return "answer", chosen.center

    def opencv(self, template: np.ndarray) -> tuple[str, tuple[int, int] | None]:
        screen, _ = self.display.grab_raw(None)
        scores = cv2.matchTemplate(
            cv2.cvtColor(screen, cv2.COLOR_BGRA2BGR), template, cv2.TM_CCOEFF_NORMED
        )
        _, _, _, (x, y) = cv2.minMaxLoc(scores)
        return "answer", (x + template.shape[1] // 2, y + template.shape[0] // 2)

    def pyautogui_locate(self, template: np.ndarray) -> tuple[str, tuple[int, int] | None]:
        box = self.pyautogui.locateOnScreen(template, confidence=0.9)
        if box is None:
            return "not found", None
        return "answer", (int(box.left) + int(box.width) // 2, int(box.top) + int(box.height) // 2)


def judge(answer: tuple[str, tuple[int, int] | None], truth: Button) -> str:
    outcome, point = answer
    if outcome != "answer" or point is None:
        return outcome
    return "hit" if truth.contains(*point) else "wrong"


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer configurations (2-3 min)")
    parser.add_argument("--apps", default="galculator,qalculate,speedcrunch")
    parser.add_argument("--json", type=Path, help="also write every case as JSON")
    parser.add_argument(
        "--every", type=int, default=1, help="use every K-th button only (a shorter run)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="deskpilot-bench-targeting-"))
    display = start_xvfb(xauthority_dir=folder)
    os.environ.update(DISPLAY=display.name, XAUTHORITY=str(display.xauthority))
    session = DesktopSession(display)
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)  # (method, config, crop)
    per_app: dict[tuple[str, str], Tally] = defaultdict(Tally)  # (method, app) at 100 % light
    cases: list[dict[str, Any]] = []
    wrong: list[str] = []
    not_found: dict[str, list[float]] = {}
    started = time.monotonic()
    try:
        methods = Methods()
        for key in args.apps.split(","):
            app = session.launch(key)
            reference = settle(app, POSITIONS[0])
            shot, _ = methods.display.grab()
            templates: list[tuple[tuple[str, str, int], str, np.ndarray]] = []
            for number, (name, button) in enumerate(keyed(reference).items()):
                if not on_screen(button) or number % args.every:
                    continue
                x, y, w, h = button.box
                templates.append((name, "whole", shot[y : y + h, x : x + w].copy()))
                gx, gy, gw, gh = glyph_box(button)
                templates.append((name, "glyph", shot[gy : gy + gh, gx : gx + gw].copy()))
            app.close()
            log(f"{key}: {len(templates)} templates from {len(reference)} buttons")
            for config in configs(args.quick):
                app = session.launch(key, scale=config.scale, dark=config.dark)
                laid_out = settle(app, POSITIONS[config.position])
                truth = keyed(to_screen(laid_out, device_scale(app, config)))
                for name, crop, template in templates:
                    real = truth.get(name)
                    if real is None or not on_screen(real):
                        continue
                    row: dict[str, Any] = {"app": key, "config": config.label, "crop": crop}
                    row["button"] = list(name)
                    for method in METHODS:
                        find = getattr(
                            methods, "pyautogui_locate" if method == "pyautogui" else method
                        )
                        begin = time.perf_counter()
                        answer = find(template)
                        seconds = time.perf_counter() - begin
                        outcome = judge(answer, real)
                        group = f"{config.scale * 100:.0f}% {'dark' if config.dark else 'light'}"
                        tallies[(method, group, crop)].add(outcome, seconds)
                        if config.scale == 1.0 and not config.dark:
                            per_app[(method, key)].add(outcome, seconds)
                        row[method] = {
                            "outcome": outcome,
                            "ms": round(seconds * 1000, 2),
                            "point": answer[1],
                        }
                        if method == "deskpilot" and outcome == "wrong":
                            wrong.append(
                                f"{key} {name} {crop} {config.label} -> {answer[1]}, "
                                f"true box {list(real.box)}"
                            )
                    row["truth"] = list(real.box)
                    cases.append(row)
                if config == Config(1.0, False, 0):
                    not_found[key] = measure_not_found(methods)
                app.close()
                log(f"  {config.label}: done ({time.monotonic() - started:.0f} s)")
    finally:
        session.stop()
        display.stop()
    report(tallies, per_app, not_found, wrong, args)
    if args.json:
        args.json.write_text(json.dumps({"cases": cases, "not_found_ms": not_found}, indent=1))
    return 1 if wrong else 0


def measure_not_found(methods: Methods) -> list[float]:
    """Deskpilot on keys absent from the screen (a synthetic OpenCV keypad), ms each."""
    from tests.unit.automation.desktop.test_keypad import crop, keypad

    screen, boxes = keypad()
    times = []
    for box in boxes.values():
        template = crop(screen, box, glyph=False)
        begin = time.perf_counter()
        outcome, _ = methods.deskpilot(template)
        times.append((time.perf_counter() - begin) * 1000)
        if outcome == "answer":
            log(f"not-found case answered anyway: {box}")
    return times


def report(
    tallies: dict[tuple[str, str, str], Tally],
    per_app: dict[tuple[str, str], Tally],
    not_found: dict[str, list[float]],
    wrong: list[str],
    args: argparse.Namespace,
) -> None:
    out = sys.stdout
    load = os.getloadavg()[0]
    out.write(
        f"\nImage targeting on real keypads ({args.apps}; every {args.every}. button"
        f"{', quick' if args.quick else ''}); load average {load:.1f}\n\n"
    )
    head = f"{'config':<12} {'crop':<6} {'cases':>5} |"
    for method in METHODS:
        head += f" {method + ' hit/wrong %':>22} {'ms':>6} |"
    out.write(head + "  deskpilot ambiguous/not found %\n")
    out.write("-" * len(head) + "\n")
    groups = sorted(
        {(g, c) for _, g, c in tallies},
        key=lambda k: (k[0].split()[1], float(k[0].split("%")[0]), k[1]),
    )
    for group, crop in groups:
        line = f"{group:<12} {crop:<6} {tallies[('deskpilot', group, crop)].cases:>5} |"
        for method in METHODS:
            t = tallies[(method, group, crop)]
            line += f" {t.rate('hit'):>13.1f} / {t.rate('wrong'):>5.1f} {t.median():>6.1f} |"
        d = tallies[("deskpilot", group, crop)]
        line += f"  {d.rate('ambiguous'):.1f} / {d.rate('not found') + d.rate('uniform'):.1f}\n"
        out.write(line)
    out.write("\nAt 100 % light (three window positions), per app:\n")
    for (method, key), t in sorted(per_app.items(), key=lambda i: (i[0][1], i[0][0])):
        out.write(
            f"  {key:<12} {method:<10} hit {t.rate('hit'):5.1f} %  wrong {t.rate('wrong'):5.1f} %"
            f"  median {t.median():6.1f} ms  ({t.cases} cases)\n"
        )
    out.write("\nTotals over every scale and theme:\n")
    for method in METHODS:
        total = Tally()
        for (m, _, _), t in tallies.items():
            if m == method:
                total.outcomes.update(t.outcomes)
                total.times += t.times
        out.write(
            f"  {method:<10} hit {total.rate('hit'):5.1f} %  wrong {total.rate('wrong'):5.1f} %"
            f"  ({total.cases} cases; {dict(total.outcomes)})\n"
        )
    out.write("\nDeskpilot not found (16 keys absent from the app's screen, 100 % light):\n")
    for key, times in not_found.items():
        out.write(
            f"  {key:<12} median {statistics.median(times):6.1f} ms  max {max(times):6.1f} ms\n"
        )
    out.write(f"Deskpilot wrong hits: {len(wrong)}\n")
    for line in wrong[:20]:
        out.write(f"  {line}\n")


if __name__ == "__main__":
    sys.exit(main())
