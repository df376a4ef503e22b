"""Image targeting on real keypads: Deskpilot against plain OpenCV and pyautogui, in one run.

    .venv/bin/python -m tests.benchmarks.bench_targeting [--quick] [--apps a,b] [--json PATH]
        [--every K] [--no-resolvers] [--a11y-buttons N] [--ocr-buttons N]
        [--save DIR] [--from DIR]

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

Each is timed twice: wall clock (``ms``) and the CPU time of this process
(``cpu``, every thread; ``time.process_time``), since on a loaded machine
the wall clock mostly measures the wait for a core.

**Other resolvers**, at the second window position of every configuration:
accessibility (``accessibility.find`` by name in a child process on the
apps' bus, as an ``accessibility`` anchor resolves; only names one button
carries) and OCR (grab, ``ocr.read_screen``, ``ocr.locate`` on the
button's label, as a ``text`` anchor resolves; only alphanumeric labels).
``bench_text_targets`` runs the same OCR resolution offline on every saved key.

A hit is a chosen centre inside the true box; anything else it answered is
a wrong hit.  **Indistinguishable buttons**: a template whose crop is pixel
for pixel the crop of another button in the capture (qalculate's two dozen
menu-arrow buttons) cannot name one button; Deskpilot refusing it as
ambiguous is the right answer, counted as ``refused``, and the totals are
given with and without those cases.  Since a user names one of such buttons
with the target's ``index`` and ``count`` (the n-th of so many look-alikes in
reading order), those cases are also searched with the index and count the
capture gives them (where the look-alikes found on the capture screen put
the button, and how many there are), and the totals are given that way too;
a wrong answer there is a wrong hit like any other.

**Not-found** time: Deskpilot on the 16 keys of a synthetic keypad drawn
with OpenCV's Hershey font (shaped like buttons, with labels no app shows),
searched while each app shows at 100 % light; an answer there is a wrong hit.

**Replay**: ``--save DIR`` also stores, per app, the templates and, per
configuration, the screenshot the cases were searched on and the AT-SPI
truth; ``--from DIR`` runs Deskpilot and plain OpenCV again on those saved
screens (no Xvfb, no apps: seconds instead of minutes, for tuning the
matcher).  Replayed times exclude the grab, and pyautogui (which grabs
itself) is left out; the live run stays the figure of record.
``--captures light,dark`` (replay only; default ``light``) also cuts the same
keys from the saved 100 % dark screen, as a user working in the dark theme
captures them, searches them on every saved screen and prints a table per
capture theme and searched configuration (``_targeting_captures``).

Progress goes to stderr, the table to stdout.  Exit status 0 unless a
Deskpilot wrong hit happened (the one target that is a correctness bug).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.benchmarks._targeting_captures import (
    CAPTURE_STEMS,
    cut_templates,
    explain_wrong,
    glyph_box,
    load_truth,
    parse_captures,
    report_captures,
)
from tests.benchmarks._targeting_report import (
    IDENTICAL,
    METHODS,
    WITH_INDEX,
    Tally,
    report,
    report_resolvers,
)
from tests.helpers.desktop_apps import ROOT, App, Button, DesktopSession
from tests.helpers.xvfb import start_xvfb

POSITIONS = ((40, 60), (610, 250), (1100, 430))
SCALES = (1.0, 1.25, 1.5, 2.0)
Captured = list[tuple[tuple[str, str, int], str, np.ndarray]]


@dataclass(frozen=True)
class Config:
    scale: float
    dark: bool
    position: int

    @property
    def label(self) -> str:
        return f"{self.scale * 100:.0f}% {'dark' if self.dark else 'light'} pos{self.position + 1}"


def configs(quick: bool) -> list[Config]:
    # light and dark of each scale side by side, the extra window positions last:
    # a run cut short by --budget still has both themes of the scales it reached
    out = [Config(1.0, False, 0), Config(1.0, True, 1)]
    for scale in SCALES[1:]:
        out += [Config(scale, False, 1), Config(scale, True, 1)]
    out += [Config(1.0, False, p) for p in range(1, len(POSITIONS))]
    if quick:
        out = [c for c in out if c.position != 2 and c.scale in (1.0, 1.5, 2.0)]
    return out


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


def identical_crops(
    shot: np.ndarray, buttons: dict[tuple[str, str, int], Button]
) -> set[tuple[tuple[str, str, int], str]]:
    """(button, crop) of every template that is pixel for pixel another button's crop
    of the same kind in the capture: no image can tell those buttons apart."""
    seen: dict[tuple[str, bytes], list[tuple[str, str, int]]] = defaultdict(list)
    for name, button in buttons.items():
        if not on_screen(button):
            continue
        for crop, (x, y, w, h) in (("whole", button.box), ("glyph", glyph_box(button))):
            pixels = shot[y : y + h, x : x + w]
            seen[(crop, f"{pixels.shape}".encode() + pixels.tobytes())].append(name)
    return {(name, crop) for (crop, _), names in seen.items() if len(names) > 1 for name in names}


def capture_indexes(
    methods: Methods,
    shot: np.ndarray,
    templates: Captured,
    buttons: dict[tuple[str, str, int], Button],
    identical: Collection[tuple[tuple[str, str, int], str]],
) -> dict[tuple[tuple[str, str, int], str], tuple[int, int] | None]:
    """The ``index`` and ``count`` a user would give each indistinguishable
    template: the rank, among the look-alikes found on the capture screen in
    reading order, of the one inside the button, and how many there are; None
    when the capture itself does not give one."""
    indexes: dict[tuple[tuple[str, str, int], str], tuple[int, int] | None] = {}
    for name, crop, template in templates:
        if (name, crop) not in identical:
            continue
        indexes[(name, crop)] = None
        try:
            result = methods.matching.find(shot, template)
        except methods.matching.TemplateTooUniform:
            continue
        if not result.found:
            continue
        close = methods.picking.lookalikes(result.candidates, methods.matching.DEFAULT_MARGIN)
        ranks = [
            rank
            for rank, match in enumerate(methods.picking.reading_order(close))
            if buttons[name].contains(*match.center)
        ]
        if len(ranks) == 1:
            indexes[(name, crop)] = (ranks[0], len(close))
    return indexes


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

    def __init__(self, live: bool = True) -> None:
        from automation.blocks.desktop import display, matching, picking

        self.display, self.matching, self.picking = display, matching, picking
        if live:  # pyautogui needs a display as soon as it is imported
            import pyautogui  # type: ignore[import-untyped]
            import pyscreeze  # type: ignore[import-untyped]

            pyscreeze.GNOMESCREENSHOT_EXISTS = True  # Pillow grabs X itself
            pyscreeze.USE_IMAGE_NOT_FOUND_EXCEPTION = False
            pyautogui.useImageNotFoundException(False)
            self.pyautogui = pyautogui

    def deskpilot(
        self,
        template: np.ndarray,
        screen: np.ndarray | None = None,
        index: tuple[int, int] | None = None,
    ) -> tuple[str, tuple[int, int] | None]:
        """``index``: (n, count) of the target's ``index`` and ``count``."""
        if screen is None:
            screen, _ = self.display.grab_raw(None)
        try:
            result = self.matching.find(screen, template)
        except self.matching.TemplateTooUniform:
            return "uniform", None
        if not result.found:
            return "not found", None
        try:
            chosen = self.picking.choose(
                result.candidates,
                margin=self.matching.DEFAULT_MARGIN,
                index=index[0] if index else None,
                count=index[1] if index else None,
            )
        except self.picking.Ambiguous:
            return "ambiguous", None
        except self.picking.IndexOutOfRange:
            return "out of range", None
        except self.picking.CountChanged:
            return "count changed", None
        return "answer", chosen.center

    def opencv(
        self, template: np.ndarray, screen: np.ndarray | None = None
    ) -> tuple[str, tuple[int, int] | None]:
        if screen is None:
            screen, _ = self.display.grab_raw(None)
        if screen.ndim == 3 and screen.shape[2] == 4:
            screen = cv2.cvtColor(screen, cv2.COLOR_BGRA2BGR)
        scores = cv2.matchTemplate(screen, template, cv2.TM_CCOEFF_NORMED)
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
    parser.add_argument(
        "--buttons",
        help="replay only buttons of these names, comma-separated (comma: the , key)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=0.0,
        help="seconds after which no further configuration is started (0: no limit)",
    )
    parser.add_argument(
        "--no-resolvers", action="store_true", help="skip the accessibility and OCR timings"
    )
    parser.add_argument(
        "--a11y-buttons", type=int, default=12, help="buttons resolved over AT-SPI per config"
    )
    parser.add_argument(
        "--ocr-buttons", type=int, default=4, help="buttons resolved by OCR per config"
    )
    parser.add_argument(
        "--save", type=Path, help="store templates, screenshots and truth here (for --from)"
    )
    parser.add_argument(
        "--from",
        dest="replay",
        type=Path,
        help="replay Deskpilot and OpenCV on what --save stored (no apps, no grab)",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="methods to measure, comma-separated (none: only --save the screens)",
    )
    parser.add_argument(
        "--captures",
        default="light",
        help="replay: themes templates are captured in, comma-separated (light, dark)",
    )
    args = parser.parse_args()
    args.captures = parse_captures(args.captures)
    if args.captures != ("light",) and not args.replay:
        parser.error("--captures other than light needs --from (the live run captures light)")
    args.method_names = tuple(m for m in args.methods.split(",") if m in METHODS)
    if args.replay:
        return replay(args)
    folder = Path(tempfile.mkdtemp(prefix="deskpilot-bench-targeting-"))
    display = start_xvfb(xauthority_dir=folder)
    os.environ.update(DISPLAY=display.name, XAUTHORITY=str(display.xauthority))
    session = DesktopSession(display)
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)  # (method, config, crop)
    per_app: dict[tuple[str, str], Tally] = defaultdict(Tally)  # (method, app) at 100 % light
    resolvers: dict[tuple[str, str], Tally] = defaultdict(Tally)  # (a11y or ocr, scale/theme)
    cases: list[dict[str, Any]] = []
    wrong: list[str] = []
    not_found: dict[str, list[tuple[float, float]]] = {}
    skipped: list[str] = []
    started = time.monotonic()
    try:
        methods = Methods()
        captured: dict[str, list[tuple[tuple[str, str, int], str, np.ndarray]]] = {}
        identical: dict[str, dict[tuple[tuple[str, str, int], str], tuple[int, int] | None]] = {}
        for key in args.apps.split(","):
            app = session.launch(key)
            reference = settle(app, POSITIONS[0])
            shot, _ = methods.display.grab()
            same = identical_crops(shot, keyed(reference))
            templates: list[tuple[tuple[str, str, int], str, np.ndarray]] = []
            for number, (name, button) in enumerate(keyed(reference).items()):
                if not on_screen(button) or number % args.every:
                    continue
                x, y, w, h = button.box
                templates.append((name, "whole", shot[y : y + h, x : x + w].copy()))
                gx, gy, gw, gh = glyph_box(button)
                templates.append((name, "glyph", shot[gy : gy + gh, gx : gx + gw].copy()))
            app.close()
            captured[key] = templates
            identical[key] = capture_indexes(methods, shot, templates, keyed(reference), same)
            if args.save:
                save_templates(args.save, key, templates)
            log(f"{key}: {len(templates)} templates from {len(reference)} buttons")
        # configurations outside, apps inside: a run cut short by --budget still
        # covers every app, in the configurations it reached
        for config in configs(args.quick):
            if args.budget and time.monotonic() - started > args.budget:
                log(f"time budget of {args.budget:.0f} s spent: stopping before {config.label}")
                skipped.append(config.label)
                continue
            for key, templates in captured.items():
                app = session.launch(key, scale=config.scale, dark=config.dark)
                laid_out = settle(app, POSITIONS[config.position])
                truth = keyed(to_screen(laid_out, device_scale(app, config)))
                if args.save:
                    save_config(args.save, key, config, truth)
                run_cases(
                    methods,
                    key,
                    config,
                    templates,
                    truth,
                    None,
                    args.method_names,
                    tallies,
                    per_app,
                    cases,
                    wrong,
                    identical[key],
                )
                if config == Config(1.0, False, 0) and "deskpilot" in args.method_names:
                    not_found[key] = measure_not_found(methods, key, wrong)
                group = f"{config.scale * 100:.0f}% {'dark' if config.dark else 'light'}"
                if not args.no_resolvers and config.position == 1:
                    for outcome, wall, cpu_ms in measure_a11y(app, truth, args.a11y_buttons):
                        resolvers[("accessibility", group)].add(outcome, wall / 1000, cpu_ms / 1000)
                    for outcome, wall, cpu_ms in measure_ocr(truth, args.ocr_buttons):
                        resolvers[("ocr", group)].add(outcome, wall / 1000, cpu_ms / 1000)
                app.close()
                log(f"  {key} {config.label}: done ({time.monotonic() - started:.0f} s)")
    finally:
        session.stop()
        display.stop()
    report(tallies, per_app, not_found, wrong, args, args.method_names)
    report_resolvers(resolvers)
    if skipped:
        sys.stdout.write(f"\nNot measured (time budget spent): {', '.join(skipped)}\n")
    if args.json:
        args.json.write_text(json.dumps({"cases": cases, "not_found_ms": not_found}, indent=1))
    return 1 if wrong else 0


def run_cases(
    methods: Methods,
    key: str,
    config: Config,
    templates: Captured,
    truth: dict[tuple[str, str, int], Button],
    screen: np.ndarray | None,
    method_names: tuple[str, ...],
    tallies: dict[tuple[str, str, str], Tally],
    per_app: dict[tuple[str, str], Tally],
    cases: list[dict[str, Any]],
    wrong: list[str],
    identical: Mapping[tuple[tuple[str, str, int], str], tuple[int, int] | None] | None = None,
) -> None:
    """Every template of one app searched by every method in one configuration.

    ``screen`` None: each method grabs the live screen itself (and is timed with
    its grab); otherwise the saved screen is searched (replay).  A Deskpilot
    ambiguity on a template in ``identical`` is ``refused``: the right answer;
    such a template is searched once more with its capture's index and count, if any."""
    identical = identical or {}
    group = f"{config.scale * 100:.0f}% {'dark' if config.dark else 'light'}"
    for name, crop, template in templates:
        real = truth.get(name)
        if real is None or not on_screen(real):
            continue
        row: dict[str, Any] = {"app": key, "config": config.label, "crop": crop}
        row["button"] = list(name)
        for method in method_names:
            begin, cpu = time.perf_counter(), time.process_time()
            if method == "pyautogui":
                answer = methods.pyautogui_locate(template)
            else:
                answer = getattr(methods, method)(template, screen)
            seconds = time.perf_counter() - begin
            cpu_seconds = time.process_time() - cpu
            outcome = judge(answer, real)
            if (name, crop) in identical:
                if outcome == "ambiguous":
                    outcome = "refused"
                row["indistinguishable"] = True
                tallies[(method, group + IDENTICAL, crop)].add(outcome, seconds, cpu_seconds)
            tallies[(method, group, crop)].add(outcome, seconds, cpu_seconds)
            if config.scale == 1.0 and not config.dark:
                per_app[(method, key)].add(outcome, seconds, cpu_seconds)
            row[method] = {
                "outcome": outcome,
                "ms": round(seconds * 1000, 2),
                "cpu_ms": round(cpu_seconds * 1000, 2),
                "point": answer[1],
            }
            if method == "deskpilot" and outcome == "wrong":
                wrong.append(
                    f"{key} {name} {crop} {config.label} -> {answer[1]}, true box {list(real.box)}"
                )
        index = identical.get((name, crop))
        if "deskpilot" in method_names and index is not None:
            begin, cpu = time.perf_counter(), time.process_time()
            answer = methods.deskpilot(template, screen, index=index)
            seconds, cpu_seconds = time.perf_counter() - begin, time.process_time() - cpu
            outcome = judge(answer, real)
            tallies[("deskpilot", group + WITH_INDEX, crop)].add(outcome, seconds, cpu_seconds)
            row["deskpilot_index"] = {"index": list(index), "outcome": outcome, "point": answer[1]}
            if outcome == "wrong":
                wrong.append(
                    f"{key} {name} {crop} {config.label} index {index[0]} of {index[1]} -> {answer[1]},"
                    f" true box {list(real.box)}"
                )
        row["truth"] = list(real.box)
        cases.append(row)


def _config_stem(config: Config) -> str:
    return f"{config.scale * 100:.0f}-{'dark' if config.dark else 'light'}-{config.position}"


def save_templates(folder: Path, key: str, templates: Captured) -> None:
    """The templates of one app as PNGs, with an index naming each one's button and crop."""
    target = folder / key / "templates"
    target.mkdir(parents=True, exist_ok=True)
    index = []
    for number, (name, crop, template) in enumerate(templates):
        path = target / f"{number:03d}-{crop}.png"
        cv2.imwrite(str(path), template)
        index.append({"button": list(name), "crop": crop, "file": path.name})
    (target / "index.json").write_text(json.dumps(index, indent=1))


def save_config(
    folder: Path, key: str, config: Config, truth: dict[tuple[str, str, int], Button]
) -> None:
    """The live screen and the AT-SPI truth of one app in one configuration."""
    from automation.blocks.desktop import display

    target = folder / key
    target.mkdir(parents=True, exist_ok=True)
    screen, _ = display.grab(None)
    stem = _config_stem(config)
    cv2.imwrite(str(target / f"{stem}.png"), screen)
    rows = [{"button": list(name), "box": list(b.box)} for name, b in truth.items()]
    meta = {"scale": config.scale, "dark": config.dark, "position": config.position}
    (target / f"{stem}.json").write_text(json.dumps({"config": meta, "truth": rows}))


def replay(args: argparse.Namespace) -> int:
    """Deskpilot and plain OpenCV on the screens and templates ``--save`` stored; with
    ``--captures``, also on the same keys cut from the saved screen of each capture theme."""
    methods = Methods(live=False)
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
    per_app: dict[tuple[str, str], Tally] = defaultdict(Tally)
    cases: list[dict[str, Any]] = []
    wrong: list[str] = []
    not_found: dict[str, list[tuple[float, float]]] = {}
    themes: dict[str, tuple[dict[tuple[str, str, str], Tally], list[dict[str, Any]], list[str]]]
    themes = {t: (defaultdict(Tally), [], []) for t in args.captures}
    themes["light"] = (tallies, cases, wrong)  # the light capture's tables and JSON as before
    names = tuple(m for m in args.method_names if m != "pyautogui") or ("deskpilot", "opencv")
    wanted = None
    if args.buttons:
        wanted = {"," if name == "comma" else name for name in args.buttons.split(",") if name}
    for key in args.apps.split(","):
        folder = args.replay / key
        if not folder.is_dir():
            log(f"{key}: nothing saved in {folder}")
            continue
        index = json.loads((folder / "templates" / "index.json").read_text())
        templates: Captured = [
            (
                (row["button"][0], row["button"][1], int(row["button"][2])),
                row["crop"],
                cv2.imread(str(folder / "templates" / row["file"]), cv2.IMREAD_COLOR),
            )
            for number, row in enumerate(index)
            if (number // 2) % max(1, args.every) == 0  # whole and glyph of a button together
            and (wanted is None or row["button"][0] in wanted)
        ]
        captured: dict[str, tuple[Captured, dict[tuple[tuple[str, str, int], str], Any]]] = {}
        for theme in args.captures:
            reference = folder / CAPTURE_STEMS[theme]
            shot = cv2.imread(str(reference.with_suffix(".png")), cv2.IMREAD_COLOR)
            if not reference.with_suffix(".json").exists() or shot is None:
                captured[theme] = (templates if theme == "light" else [], {})
                continue
            buttons = load_truth(reference.with_suffix(".json"))
            chosen = templates
            if theme != "light":  # the same keys, cut from this theme's capture
                chosen = cut_templates(shot, buttons, [(n, c) for n, c, _ in templates])
            same = identical_crops(shot, buttons)
            captured[theme] = (chosen, capture_indexes(methods, shot, chosen, buttons, same))
        for config in configs(args.quick):
            stem = folder / _config_stem(config)
            if not stem.with_suffix(".json").exists():
                continue
            truth = load_truth(stem.with_suffix(".json"))
            screen = cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_COLOR)
            for theme, (chosen, identical) in captured.items():
                into, rows, misses = themes[theme]
                before = len(rows)
                run_cases(
                    methods,
                    key,
                    config,
                    chosen,
                    truth,
                    screen,
                    names,
                    into,
                    per_app if theme == "light" else defaultdict(Tally),
                    rows,
                    misses,
                    identical,
                )
                if theme != "light":
                    for row in rows[before:]:
                        row["captured"] = theme
                    explain_wrong(rows[before:], chosen, screen)
            if (
                config == Config(1.0, False, 0)
                and "deskpilot" in names
                and "light" in args.captures
            ):
                not_found[key] = measure_not_found(methods, key, wrong, screen)
            log(f"  {key} {config.label}: replayed")
    if "light" in args.captures:
        report(tallies, per_app, not_found, wrong, args, names)
    if args.captures != ("light",):
        report_captures(
            {t: themes[t][0] for t in args.captures}, {t: themes[t][1] for t in args.captures}
        )
    if args.json:
        saved = {"cases": cases, "not_found_ms": not_found}
        saved |= {f"cases_captured_{t}": themes[t][1] for t in args.captures if t != "light"}
        args.json.write_text(json.dumps(saved, indent=1))
    return 1 if any(v[2] for v in themes.values()) else 0


def spread(names: list[tuple[str, str, int]], count: int) -> list[tuple[str, str, int]]:
    """``count`` of ``names``, evenly spread over them (all when there are fewer)."""
    if len(names) <= count:
        return names
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]


def measure_a11y(
    app: App, truth: dict[tuple[str, str, int], Button], count: int
) -> list[tuple[str, float, float]]:
    """AT-SPI resolution of buttons by name: (outcome, wall ms, cpu ms) each.

    Only names one button carries (an accessibility anchor naming a shared name
    is an ambiguity error by design, which says nothing about speed).  A hit is
    an element whose centre lies in the button's true box.
    """
    unique = [k for k in truth if k[2] == 0 and (k[0], k[1], 1) not in truth and k[0].strip()]
    chosen = spread(sorted(unique), count)
    if not chosen:
        return []
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks._a11y_timing", app.spec.bus_name]
        + [name for name, _, _ in chosen],
        cwd=ROOT,
        env=app.session.env(PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT))),
        capture_output=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        log(f"accessibility timing failed: {done.stderr.decode(errors='replace')[-800:]}")
        return []
    out = []
    for (name, outcome, wall, cpu, centre), key in zip(
        json.loads(done.stdout.decode().strip().splitlines()[-1]), chosen, strict=True
    ):
        assert name == key[0]
        if outcome == "found":
            outcome = "hit" if centre and truth[key].contains(*centre) else "wrong"
        out.append((outcome, float(wall), float(cpu)))
    return out


def measure_ocr(
    truth: dict[tuple[str, str, int], Button], count: int
) -> list[tuple[str, float, float]]:
    """OCR resolution of buttons by their label, as a ``text`` anchor does it: grab the
    screen, read it window by window, ``ocr.locate`` the label.  (outcome, wall, cpu).

    Labels read alike in two places (a digit also shown on the display), or read once
    while an unread mark may show them too, are an error by design; they are counted
    as ambiguous.
    """
    from automation.blocks.desktop import display, ocr

    labels = [k for k in truth if k[2] == 0 and (k[0], k[1], 1) not in truth]
    labels = [k for k in labels if k[0].isalnum() and len(k[0]) <= 6]
    out = []
    for key in spread(sorted(labels), count):
        begin, cpu = time.perf_counter(), time.process_time()
        try:
            screen, origin = display.grab(None)
            words = ocr.read_screen(screen, origin)
            hit = ocr.locate(screen, origin, words, key[0])
            if hit is None:
                outcome = "not found"
            else:
                outcome = "hit" if truth[key].contains(*hit.box.center) else "wrong"
        except ocr.AmbiguousText:
            outcome = "ambiguous"
        except ocr.OcrUnavailable as exc:
            log(f"OCR timing skipped: {exc}")
            return out
        wall = (time.perf_counter() - begin) * 1000
        out.append((outcome, wall, (time.process_time() - cpu) * 1000))
    return out


def measure_not_found(
    methods: Methods, key: str, wrong: list[str], app_screen: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """Deskpilot on keys absent from the screen: (wall, cpu) ms each.

    The keys are a synthetic OpenCV keypad whose labels none of the calculators shows
    (``FOREIGN_LABELS``): with digits, some of them really are on screen, and an answer
    there is neither a not-found time nor clearly wrong.  Any answer here is a wrong hit,
    counted with the others.
    """
    from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad

    screen, boxes = keypad(labels=FOREIGN_LABELS)
    times = []
    for label, box in boxes.items():
        template = crop(screen, box, glyph=False)
        begin, cpu = time.perf_counter(), time.process_time()
        outcome, point = methods.deskpilot(template, app_screen)
        wall = (time.perf_counter() - begin) * 1000
        times.append((wall, (time.process_time() - cpu) * 1000))
        if outcome == "answer":
            wrong.append(f"deskpilot {key} 100% light: absent key {label!r} answered at {point}")
    return times


if __name__ == "__main__":
    sys.exit(main())
