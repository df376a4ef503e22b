"""Templates cut at one display scale, searched at another: the targeting replay across scales.

    .venv/bin/python -m tests.benchmarks.bench_cross_scale --from DIR [--every K] [--apps a,b]
        [--buttons "=,π"] [--json PATH]

``bench_targeting`` cuts every template once, at 100 % light, so its cases
only go from the captured size up (125, 150, 200 %) and across themes.  A
user captures where they are: at 150 % a template is later searched at
100 % (a smaller label, a smaller key), at 125 % one is searched at 150 %
(a label of the same glyph may stand at the captured size on another key).
This benchmark replays those cases from what ``bench_targeting --save DIR``
stored (real galculator, qalculate-gtk and speedcrunch on Xvfb, boxes from
the accessibility bus): for each theme and each ordered pair of saved
scales (100, 125, 150, 200 %, the second window position), every K-th
button on screen in the first is cut whole and glyph-only (as
``bench_targeting`` cuts them) and searched on the second.  Qalculate's
"=" glyph cut at 125 % answered the "=" of its "x =" key at 150 %, a case
the targeting replay has no template for.

Outcomes as in ``bench_targeting``: hit, wrong (any answer outside the true
box: the correctness bug), ambiguous, not found, refused (ambiguous on a
crop that is pixel for pixel another button's in its capture).  Deskpilot is
``matching.find`` and ``picking.choose`` as ``image.click`` runs them; CPU
time is this process's (``time.process_time``).  Replay only: no display.
Exit status 0 unless a wrong hit happened.
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

from tests.benchmarks.bench_targeting import (
    Config,
    Methods,
    _config_stem,
    glyph_box,
    identical_crops,
    judge,
    log,
    on_screen,
)
from tests.helpers.desktop_apps import Button

#: The saved scales, each at the second window position (``bench_targeting.configs``).
SCALES = (1.0, 1.25, 1.5, 2.0)

Key = tuple[str, str, int]


def load(folder: Path, config: Config) -> tuple[np.ndarray, dict[Key, Button]] | None:
    """A saved screen and its accessibility truth, or None when not saved."""
    stem = folder / _config_stem(config)
    if not stem.with_suffix(".json").exists():
        return None
    rows = json.loads(stem.with_suffix(".json").read_text())["truth"]
    truth = {
        (r["button"][0], r["button"][1], int(r["button"][2])): Button(
            r["button"][0], r["button"][1], *r["box"]
        )
        for r in rows
    }
    return cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_COLOR), truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="saved", type=Path, required=True,
                        help="what bench_targeting --save stored")  # fmt: skip
    parser.add_argument("--apps", default="galculator,qalculate,speedcrunch")
    parser.add_argument("--every", type=int, default=4, help="every K-th button (default 4)")
    parser.add_argument("--buttons", help="only buttons of these names, comma-separated")
    parser.add_argument("--json", type=Path, help="also write every case as JSON")
    args = parser.parse_args()
    wanted = None if args.buttons is None else set(args.buttons.split(","))
    methods = Methods(live=False)
    tallies: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
    cases: list[dict[str, Any]] = []
    wrong: list[str] = []
    for app in args.apps.split(","):
        for dark in (False, True):
            for source in SCALES:
                cut = load(args.saved / app, Config(source, dark, 1))
                if cut is None:
                    continue
                shot, boxes = cut
                identical = identical_crops(shot, boxes)
                templates = [
                    (name, crop, shot[y : y + h, x : x + w].copy())
                    for number, (name, button) in enumerate(boxes.items())
                    if on_screen(button) and number % max(1, args.every) == 0
                    and (wanted is None or name[0] in wanted)
                    for crop, (x, y, w, h) in (("whole", button.box), ("glyph", glyph_box(button)))
                ]  # fmt: skip
                for target in SCALES:
                    searched = (
                        None
                        if target == source
                        else load(args.saved / app, Config(target, dark, 1))
                    )
                    if searched is None:
                        continue
                    screen, truth = searched
                    pair = f"{source * 100:.0f}->{target * 100:.0f}% {'dark' if dark else 'light'}"
                    for name, crop, template in templates:
                        real = truth.get(name)
                        if real is None or not on_screen(real):
                            continue
                        started = time.process_time()
                        answer = methods.deskpilot(template, screen)
                        cpu[(app, pair)].append((time.process_time() - started) * 1000)
                        outcome = judge(answer, real)
                        if outcome == "ambiguous" and (name, crop) in identical:
                            outcome = "refused"
                        tallies[(app, pair)][outcome] += 1
                        row = {"app": app, "pair": pair, "button": list(name), "crop": crop}
                        cases.append(row | {"outcome": outcome, "point": answer[1]})
                        if outcome == "wrong":
                            wrong.append(f"{app} {pair} {name[0]!r} {crop}: answered "
                                         f"{answer[1]}, true box {list(real.box)}")  # fmt: skip
                    log(f"  {app} {pair}: done")
    report(tallies, cpu, wrong, args)
    if args.json:
        args.json.write_text(json.dumps({"cases": cases}, indent=1, ensure_ascii=False))
    return 1 if wrong else 0


def report(
    tallies: dict[tuple[str, str], Counter[str]],
    cpu: dict[tuple[str, str], list[float]],
    wrong: list[str],
    args: argparse.Namespace,
) -> None:
    print(f"Templates cut at one scale, searched at another ({args.apps}; every "
          f"{args.every}. button); load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print()
    outcomes = ("hit", "wrong", "ambiguous", "refused", "not found")
    print(f"{'app':<12} {'pair':<17} {'cases':>5} | " + " ".join(f"{o:>9}" for o in outcomes)
          + f" | {'cpu median ms':>13}")  # fmt: skip
    print("-" * 100)
    total: Counter[str] = Counter()
    for (app, pair), counts in sorted(tallies.items()):
        total.update(counts)
        print(f"{app:<12} {pair:<17} {sum(counts.values()):>5} | "
              + " ".join(f"{counts[o]:>9}" for o in outcomes)
              + f" | {float(np.median(cpu[(app, pair)])):>13.1f}")  # fmt: skip
    print("-" * 100)
    print(f"{'all':<30} {sum(total.values()):>5} | " + " ".join(f"{total[o]:>9}" for o in outcomes))
    print()
    print(f"Deskpilot wrong hits across scales: {len(wrong)}")
    for line in wrong:
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
