"""Absent targets: every answer is a wrong hit.  Deskpilot against pyautogui's rule, in one run.

    .venv/bin/python -m tests.benchmarks.bench_absent_targets --from DIR [--every K] [--apps a,b]
        [--buttons "+,÷"] [--json PATH]
    .venv/bin/python -m tests.benchmarks.bench_absent_targets --from DIR --foreign [--every K]
        [--apps a,b] [--json PATH]

The targeting benchmark searches for buttons that are on screen, so it cannot
see the worst failure of a matcher: a target that is *not* there, answered
with a look-alike (the "." key for a "-" key that a dialog now hides).  Its
not-found keys ("7", "+") also exist on the calculators.  This benchmark
makes targets truly absent: on each screen that ``bench_targeting --save DIR``
stored (real galculator, qalculate-gtk and speedcrunch on Xvfb, every scale
and theme, boxes from the accessibility bus), one button's face is painted
over in its own face colour, and that button's saved templates (whole and
glyph-only, captured at 100 % light) are searched for.

Outcomes per case: *not found*, *refused* (ambiguous, or too uniform), or
*WRONG* (any answer: the button is not there).  Deskpilot is ``matching.find``
and ``picking.choose`` as ``image.click`` runs them.  The peer is plain
``cv2.matchTemplate`` with pyautogui's rule (``locateOnScreen(confidence=0.9)``
answers its best place when it scores 0.9 or more), on the same screens.
Buttons not wholly on screen are skipped.  Replay only: no display needed.
Progress goes to stderr as each app's configuration ends (cases, wrong answers
so far, seconds since the start): a run takes minutes.  The table goes to stdout.

``--foreign``: keys whose label no calculator shows (``test_keypad.FOREIGN_LABELS``:
letters and signs of round, straight and mixed strokes), drawn
on the synthetic keypad of the unit tests (OpenCV's Hershey font, gradient keys,
dark keys for a dark screen) at key scales 1.0 and 1.5, each cropped whole and
glyph-only, and searched on every saved screen (``--every K``: every K-th
label).  Nothing like them is on screen, so again any answer is wrong; what
this catches that painting out cannot is a template of another font and size
than anything on screen, answered by a simple round shape (a bold "0") that
correlates by chance at one of the many sizes the later stages try.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.benchmarks.bench_targeting import Methods, _config_stem, configs, log
from tests.helpers.desktop_apps import Button

#: pyautogui's ``locateOnScreen(confidence=0.9)``: the best place, when it scores this much.
PYAUTOGUI_CONFIDENCE = 0.9
#: The synthetic keys' sizes: as the keypad is drawn, and half again as big.
FOREIGN_SCALES = (1.0, 1.5)


def painted_out(screen: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The screen with a button's face (its box less a 3-pixel frame) in its face colour."""
    x, y, w, h = box
    out = screen.copy()
    out[y + 3 : y + h - 3, x + 3 : x + w - 3] = out[y + h // 2, x + 3]
    return out


def pyautogui_rule(template: np.ndarray, screen: np.ndarray) -> str:
    scores = cv2.matchTemplate(screen, template, cv2.TM_CCOEFF_NORMED)
    return "answer" if float(scores.max()) >= PYAUTOGUI_CONFIDENCE else "not found"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="saved", type=Path, required=True,
                        help="a folder bench_targeting --save DIR wrote")  # fmt: skip
    parser.add_argument("--every", type=int, help="every K-th button or foreign label "
                        "(default 4 buttons, every foreign label)")  # fmt: skip
    parser.add_argument("--apps", default="galculator,qalculate,speedcrunch")
    parser.add_argument("--buttons", help="only buttons of these names, comma-separated")
    parser.add_argument("--json", type=Path, help="also write every case as JSON")
    parser.add_argument("--foreign", action="store_true",
                        help="search synthetic keys with labels shown nowhere instead")  # fmt: skip
    args = parser.parse_args()
    if args.foreign:
        args.every = args.every or 1
        return foreign(args)
    args.every = args.every or 4
    wanted = button_names(args.buttons)
    methods = Methods(live=False)
    began = time.monotonic()
    tallies: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    cpu: dict[str, list[float]] = defaultdict(list)
    wrong: list[str] = []
    cases: list[dict[str, object]] = []
    for app in args.apps.split(","):
        folder = args.saved / app
        if not (folder / "templates" / "index.json").exists():
            log(f"{app}: nothing saved in {folder}")
            continue
        index = json.loads((folder / "templates" / "index.json").read_text())
        templates: dict[tuple[str, str, int], list[tuple[str, np.ndarray]]] = defaultdict(list)
        for number, row in enumerate(index):
            if wanted is not None and row["button"][0] not in wanted:
                continue
            if (number // 2) % max(1, args.every) == 0:  # whole and glyph of a button together
                name = (row["button"][0], row["button"][1], int(row["button"][2]))
                image = cv2.imread(str(folder / "templates" / row["file"]), cv2.IMREAD_COLOR)
                templates[name].append((row["crop"], image))
        log(f"{app}: {sum(map(len, templates.values()))} templates of {len(templates)} buttons")
        for config in configs(False):
            stem = folder / _config_stem(config)
            if not stem.with_suffix(".json").exists():
                continue
            saved = json.loads(stem.with_suffix(".json").read_text())
            screen = cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_COLOR)
            height, width = screen.shape[:2]
            searched = len(cpu[config.label])
            for row in saved["truth"]:
                name = (row["button"][0], row["button"][1], int(row["button"][2]))
                button = Button(name[0], name[1], *row["box"])
                x, y, w, h = button.box
                if name not in templates or x < 0 or y < 0 or x + w > width or y + h > height:
                    continue
                absent = painted_out(screen, button.box)
                for crop, template in templates[name]:
                    started = time.process_time()
                    outcome, point = methods.deskpilot(template, absent)
                    cpu[config.label].append((time.process_time() - started) * 1000)
                    if args.json:
                        case = {"app": app, "config": config.label, "button": list(name)}
                        case |= {"crop": crop, "outcome": outcome, "point": point}
                        if outcome == "answer":  # searched again: only the wrong ones
                            case |= explain(template, absent, saved["truth"])
                        cases.append(case)
                    outcome = {"answer": "WRONG", "ambiguous": "refused", "uniform": "refused"}.get(
                        outcome, outcome
                    )
                    tallies[(config.label, "deskpilot")][outcome] += 1
                    if outcome == "WRONG":
                        wrong.append(f"{app} {config.label} {name[0]!r} {crop}: answered {point}")
                    peer = pyautogui_rule(template, absent)
                    tallies[(config.label, "pyautogui")][
                        "WRONG" if peer == "answer" else "not found"
                    ] += 1
            log(
                f"  {app} {config.label}: {len(cpu[config.label]) - searched} cases, "
                f"{len(wrong)} wrong so far ({time.monotonic() - began:.0f} s)"
            )
    report(tallies, cpu, wrong, args)
    if args.json:
        args.json.write_text(json.dumps({"cases": cases}, indent=1, ensure_ascii=False))
    return 0


def foreign(args: argparse.Namespace) -> int:
    """The ``--foreign`` mode: synthetic keys of ``FOREIGN_LABELS`` on every saved screen."""
    from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad

    labels = list(FOREIGN_LABELS)
    chosen = set(labels[:: max(1, args.every)])
    # light keys for light screens, dark for dark: (key scale, dark) -> [(label, crop, image)]
    templates: dict[tuple[float, bool], list[tuple[str, str, np.ndarray]]] = {}
    for scale in FOREIGN_SCALES:
        for dark in (False, True):
            pad, boxes = keypad(scale=scale, dark=dark, labels=labels)
            templates[(scale, dark)] = [
                (label, "glyph" if glyph else "whole", crop(pad, boxes[label], glyph=glyph))
                for label in labels
                if label in chosen
                for glyph in (False, True)
            ]
    methods = Methods(live=False)
    began = time.monotonic()
    log(f"{sum(map(len, templates.values()))} foreign templates of {len(chosen)} labels")
    tallies: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
    wrong: list[str] = []
    cases: list[dict[str, object]] = []
    for app in args.apps.split(","):
        for config in configs(False):
            stem = args.saved / app / _config_stem(config)
            if not stem.with_suffix(".png").exists():
                continue
            screen = cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_COLOR)
            for scale in FOREIGN_SCALES:
                for label, crop_name, template in templates[(scale, config.dark)]:
                    started = time.process_time()
                    outcome, point = methods.deskpilot(template, screen)
                    cpu[(app, config.label)].append((time.process_time() - started) * 1000)
                    outcome = {"answer": "WRONG", "ambiguous": "refused", "uniform": "refused"}.get(
                        outcome, outcome
                    )
                    tallies[(app, config.label)][outcome] += 1
                    case = {"app": app, "config": config.label, "label": label, "key_scale": scale}
                    case |= {"crop": crop_name, "outcome": outcome, "point": point}
                    if outcome == "WRONG":
                        case |= explain(template, screen, [])
                        best = case.get("best") or {}
                        wrong.append(
                            f"{app} {config.label} key {scale:g} {label!r} {crop_name}: answered "
                            f"{point} ({case.get('stage')}, {best.get('method')} "
                            f"scale {best.get('scale')} score {best.get('score')})"
                        )
                    cases.append(case)
            log(
                f"  {app} {config.label}: {len(cpu[(app, config.label)])} cases, "
                f"{len(wrong)} wrong so far ({time.monotonic() - began:.0f} s)"
            )
    print(
        f"Foreign labels on saved screens ({args.apps}; labels {''.join(sorted(chosen))}; "
        f"key scales {', '.join(f'{s:g}' for s in FOREIGN_SCALES)}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print(f"{'app':<12} {'config':<12} {'cases':>6} | {'WRONG':>5} {'refused':>7} "
          f"{'cpu median ms':>13} {'max':>6}")  # fmt: skip
    print("-" * 68)
    for (app, label), counts in sorted(tallies.items()):
        times = cpu[(app, label)]
        print(f"{app:<12} {label:<12} {sum(counts.values()):>6} | {counts['WRONG']:>5} "
              f"{counts['refused']:>7} {float(np.median(times)):>13.1f} {max(times):>6.0f}")  # fmt: skip
    every = [t for times in cpu.values() for t in times]
    print("-" * 68)
    total = sum(sum(c.values()) for c in tallies.values())
    print(f"{'all':<25} {total:>6} | {len(wrong):>5} "
          f"{sum(c['refused'] for c in tallies.values()):>7} "
          f"{float(np.median(every)) if every else float('nan'):>13.1f}")  # fmt: skip
    print()
    print(f"Deskpilot wrong answers for foreign labels: {len(wrong)}")
    for line in wrong:
        print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps({"cases": cases}, indent=1, ensure_ascii=False))
    return 0


def button_names(option: str | None) -> set[str] | None:
    """The names ``--buttons`` lists (``comma`` for the "," key), or None: every button."""
    if option is None:
        return None
    return {"," if name == "comma" else name for name in option.split(",") if name}


def explain(
    template: np.ndarray, screen: np.ndarray, truth: list[dict[str, Any]]
) -> dict[str, Any]:
    """What ``matching.find`` answered and why, for the JSON: searched again (outside
    the timing), since ``Methods.deskpilot`` keeps only the outcome."""
    from automation.blocks.desktop import matching

    try:
        result = matching.find(screen, template)
    except matching.TemplateTooUniform:
        return {}
    best = result.best

    def under(match: matching.Match) -> str | None:
        cx, cy = match.center
        for row in truth:
            x, y, w, h = row["box"]
            if x <= cx < x + w and y <= cy < y + h:
                return str(row["button"][0])
        return None

    return {
        "stage": result.stage,
        "best": None if best is None else best.as_dict() | {"on": under(best)},
        "refused": [r.describe() for r in result.refused],
    }


def report(
    tallies: dict[tuple[str, str], Counter[str]],
    cpu: dict[str, list[float]],
    wrong: list[str],
    args: argparse.Namespace,
) -> None:
    print(f"Absent targets on saved keypads ({args.apps}; every {args.every}. button)")
    print()
    print(f"{'config':<12} {'cases':>6} | {'deskpilot WRONG %':>17} {'refused %':>9} "
          f"{'cpu ms':>7} | {'pyautogui rule WRONG %':>22}")  # fmt: skip
    print("-" * 84)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    labels = sorted({label for label, _ in tallies})
    for label in labels:
        ours, peer = tallies[(label, "deskpilot")], tallies[(label, "pyautogui")]
        totals["deskpilot"].update(ours)
        totals["pyautogui"].update(peer)
        cases = sum(ours.values())
        print(f"{label:<12} {cases:>6} | {100 * ours['WRONG'] / cases:>17.1f} "
              f"{100 * ours['refused'] / cases:>9.1f} {float(np.median(cpu[label])):>7.1f} | "
              f"{100 * peer['WRONG'] / cases:>22.1f}")  # fmt: skip
    cases = sum(totals["deskpilot"].values())
    if cases:
        print("-" * 84)
        print(f"{'all':<12} {cases:>6} | {100 * totals['deskpilot']['WRONG'] / cases:>17.1f} "
              f"{100 * totals['deskpilot']['refused'] / cases:>9.1f} {'':>7} | "
              f"{100 * totals['pyautogui']['WRONG'] / cases:>22.1f}")  # fmt: skip
    print()
    print(f"Deskpilot wrong answers for absent targets: {len(wrong)}")
    for line in wrong:
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
