"""Text targets on saved screens: does OCR ever answer at the wrong place?  No display needed.

    .venv/bin/python -m tests.benchmarks.bench_text_targets --from /tmp/hitrate/saved
        [--apps galculator,qalculate,speedcrunch] [--every K] [--painted-every K] [--cold]
        [--json PATH]

Replays what a ``text`` anchor does (``targets._find_text``: ``ocr.read_screen``
window by window, then ``ocr.locate``) on the full screenshots and AT-SPI truth
``bench_targeting --save`` stored (three calculators at 100/125/150/200 %,
light and dark, three window positions at 100 % light).  The window box is
what differs from the desktop's colour (Xvfb has no other window there).

**Present** cases: every button whose label is on no other button of the
screen (a label two keys carry cannot name one) searched by its label.  The
outcome is *hit* (the answer's centre is in the button's box), *wrong*
(anywhere else: the worst outcome), *not found* or *ambiguous* (refused).

**Absent** cases, where every answer is wrong:

* *painted*: each of those buttons with its face painted over in its face
  colour (as ``bench_absent_targets`` does), its label searched on the
  painted screen;
* *foreign*: the labels the other two calculators carry and this one does
  not (spaces aside), searched on each of its screens.

An absent label answered on a key is wrong (a click there presses another
key).  One answered off every key is listed apart as *text off the keys*,
not counted wrong: the label is text the app really shows there (the "+" of
qalculate's example text "5 + 2 / 3" once the "+" key is painted out), the
answer reads it, and no key is pressed.  Read the list to check it.

Times are CPU (``time.process_time``): *read* per screen (the same read
serves every label searched on it, as it would for a step), *find* per
label (``ocr.locate``, with any re-reading it does).  Readings of unchanged
marks are kept from one lookup to the next (``ocr.read_line``), so the
first short label on each screen is reported apart, and ``--cold`` drops
them before every lookup.  The load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from automation.blocks.desktop import ocr, short_text  # noqa: E402
from automation.blocks.desktop.display import Box  # noqa: E402

APPS = ("galculator", "qalculate", "speedcrunch")
OUTCOMES = ("hit", "wrong", "not found", "ambiguous")


def window_box(screen: np.ndarray) -> Box:
    """The box of everything that is not the desktop's colour (its top-left pixel)."""
    differs = np.any(screen != screen[0, 0], axis=2)
    ys, xs = np.nonzero(differs)
    if not len(xs):
        return Box(0, 0, screen.shape[1], screen.shape[0])
    return Box(
        int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
    )


def painted_out(screen: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The screen with a button's face (its box less a 3-pixel frame) in its face colour."""
    x, y, w, h = box
    out = screen.copy()
    out[y + 3 : y + h - 3, x + 3 : x + w - 3] = out[y + h // 2, x + 3]
    return out


def read(screen: np.ndarray) -> tuple[list[ocr.Word], Box, float]:
    """Words of the screen as a text anchor reads them, the origin, and the CPU ms taken."""
    height, width = screen.shape[:2]
    origin = Box(0, 0, width, height)
    cpu = time.process_time()
    words = ocr.read_screen(screen, origin, windows=[window_box(screen)])
    return words, origin, (time.process_time() - cpu) * 1000


def resolve(
    screen: np.ndarray, origin: Box, words: list[ocr.Word], label: str, cold: bool = False
) -> tuple[str, ocr.TextMatch | None, float]:
    """(outcome before judging: found / not found / ambiguous, the answer, CPU ms);
    ``cold``: without the readings kept from earlier lookups."""
    if cold:
        ocr.forget_lines()
    cpu = time.process_time()
    try:
        hit = ocr.locate(screen, origin, words, label)
        outcome = "found" if hit is not None else "not found"
    except ocr.AmbiguousText:
        hit, outcome = None, "ambiguous"
    return outcome, hit, (time.process_time() - cpu) * 1000


def contains(box: list[int], point: tuple[int, int]) -> bool:
    x, y, w, h = box
    return x <= point[0] < x + w and y <= point[1] < y + h


def on_screen(box: list[int], width: int, height: int) -> bool:
    x, y, w, h = box
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height


def searchable(label: str) -> bool:
    return bool(ocr.normalise(label))


def size_class(label: str) -> str:
    length = len(ocr.normalise(label).replace(" ", ""))
    return "1 char" if length == 1 else "2 chars" if length == 2 else "3+ chars"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="saved", type=Path, required=True)
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--every", type=int, default=1, help="every K-th label only")
    parser.add_argument(
        "--painted-every",
        type=int,
        default=1,
        help="paint out every K-th of those labels' keys (a read each); 0: none",
    )
    parser.add_argument(
        "--cold", action="store_true", help="every lookup without earlier lookups' readings"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        ocr.tessdata_dir()
    except ocr.OcrUnavailable as exc:
        print(f"skipped: {exc}")
        return 0
    apps = [a for a in args.apps.split(",") if (args.saved / a).is_dir()]
    labels_of: dict[str, set[str]] = {}
    for app in APPS:
        rows = json.loads((args.saved / app / "100-light-0.json").read_text())["truth"]
        labels_of[app] = {r["button"][0] for r in rows}
    present: dict[str, Counter[str]] = defaultdict(Counter)
    by_size: dict[str, Counter[str]] = defaultdict(Counter)
    absent: dict[str, Counter[str]] = defaultdict(Counter)
    read_ms: dict[str, list[float]] = defaultdict(list)
    find_ms: dict[str, list[float]] = defaultdict(list)
    cases: list[dict[str, Any]] = []
    first_ms: list[float] = []  # the first short label searched on each screen
    wrong: list[str] = []
    off_keys: list[str] = []
    load = os.getloadavg()
    for app in apps:
        foreign = sorted(
            {label for other in APPS if other != app for label in labels_of[other]} - labels_of[app]
        )
        own = {"".join(label.split()) for label in labels_of[app]}
        foreign = [
            label for label in foreign if searchable(label) and "".join(label.split()) not in own
        ][:: args.every]
        for stem in sorted((args.saved / app).glob("*.json")):
            config = stem.stem
            group = f"{app} {config}"
            truth = json.loads(stem.read_text())["truth"]
            screen = cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_COLOR)
            counts = Counter(r["button"][0] for r in truth)
            height, width = screen.shape[:2]
            keys = [
                r
                for r in truth
                if counts[r["button"][0]] == 1
                and searchable(r["button"][0])
                and on_screen(r["box"], width, height)
            ]
            keys = keys[:: args.every]
            words, origin, ms = read(screen)
            read_ms[group].append(ms)
            short_seen = False
            for row in keys:
                label = row["button"][0]
                outcome, hit, ms = resolve(screen, origin, words, label, args.cold)
                find_ms[group].append(ms)
                if short_text.is_short(label) and not short_seen:
                    first_ms.append(ms)
                    short_seen = True
                if outcome == "found":
                    assert hit is not None
                    outcome = "hit" if contains(row["box"], hit.box.center) else "wrong"
                present[group][outcome] += 1
                by_size[size_class(label)][outcome] += 1
                case = {"app": app, "config": config, "kind": "present", "label": label}
                case |= {"outcome": outcome, "box": row["box"]}
                if hit is not None:
                    case |= {"read": hit.text, "at": hit.box.as_list(), "score": hit.score}
                    case |= {"confidence": hit.confidence}
                cases.append(case)
                if outcome == "wrong":
                    assert hit is not None
                    wrong.append(
                        f"{group} present {label!r}: {hit.describe()} "
                        f"confidence {hit.confidence:.2f}; key {row['box']}"
                    )
            for label in foreign:
                outcome, hit, ms = resolve(screen, origin, words, label, args.cold)
                outcome = absent_outcome(hit, truth, outcome)
                absent[group]["foreign " + outcome] += 1
                if hit is not None:
                    (wrong if outcome == "answered" else off_keys).append(
                        f"{group} foreign {label!r}: {hit.describe()}"
                    )
                    cases.append(
                        {"app": app, "config": config, "kind": "foreign", "label": label}
                        | {"outcome": outcome, "read": hit.text, "at": hit.box.as_list()}
                    )
            for row in keys[:: args.painted_every] if args.painted_every else []:
                label = row["button"][0]
                painted = painted_out(screen, tuple(row["box"]))
                painted_words, origin, ms = read(painted)
                outcome, hit, ms = resolve(painted, origin, painted_words, label, args.cold)
                outcome = absent_outcome(hit, truth, outcome)
                absent[group]["painted " + outcome] += 1
                if hit is not None:
                    (wrong if outcome == "answered" else off_keys).append(
                        f"{group} painted {label!r}: {hit.describe()}; key {row['box']}"
                    )
                    cases.append(
                        {"app": app, "config": config, "kind": "painted", "label": label}
                        | {"outcome": outcome, "read": hit.text, "at": hit.box.as_list()}
                    )
            print(f"  {group}: done", file=sys.stderr, flush=True)
    report(present, by_size, absent, read_ms, find_ms, first_ms, wrong, off_keys, load)
    if args.json:
        args.json.write_text(json.dumps({"cases": cases, "load": load}, indent=1))
    return 1 if wrong else 0


def absent_outcome(hit: ocr.TextMatch | None, truth: list[dict[str, Any]], outcome: str) -> str:
    """What an answer to a label that is not on any key is: wrong when it is on a key
    (a click there presses another one), text off the keys otherwise (the example text
    "5 + 2 / 3" beside a painted-out "+" key: that text is on screen, the answer reads
    it, and no key is pressed)."""
    if hit is None:
        return outcome
    on_a_key = any(contains(r["box"], hit.box.center) for r in truth)
    return "answered" if on_a_key else "text off the keys"


def report(
    present: dict[str, Counter[str]],
    by_size: dict[str, Counter[str]],
    absent: dict[str, Counter[str]],
    read_ms: dict[str, list[float]],
    find_ms: dict[str, list[float]],
    first_ms: list[float],
    wrong: list[str],
    off_keys: list[str],
    load: tuple[float, float, float],
) -> None:
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        f"{'config':<26} {'cases':>5} {'hit':>4} {'wrong':>5} {'not found':>9} "
        f"{'ambig':>5}  {'read cpu ms':>11} {'find cpu ms':>11}  absent (answered = wrong)"
    )
    total: Counter[str] = Counter()
    total_absent: Counter[str] = Counter()
    for group in sorted(present.keys() | absent.keys()):
        tally = present[group]
        total += tally
        total_absent += absent[group]
        finds = find_ms[group] or [0.0]
        print(
            f"{group:<26} {sum(tally.values()):>5} {tally['hit']:>4} {tally['wrong']:>5} "
            f"{tally['not found']:>9} {tally['ambiguous']:>5}  "
            f"{statistics.median(read_ms[group] or [0.0]):>11.0f} "
            f"{statistics.median(finds):>6.1f}/{max(finds):<4.0f}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(absent[group].items()))
        )
    print(
        f"{'total':<26} {sum(total.values()):>5} {total['hit']:>4} {total['wrong']:>5} "
        f"{total['not found']:>9} {total['ambiguous']:>5}  "
        + " " * 24
        + ", ".join(f"{k} {v}" for k, v in sorted(total_absent.items()))
    )
    for size in sorted(by_size):
        tally = by_size[size]
        print(
            f"  {size:<24} {sum(tally.values()):>5} {tally['hit']:>4} {tally['wrong']:>5} "
            f"{tally['not found']:>9} {tally['ambiguous']:>5}"
        )
    all_finds = [ms for values in find_ms.values() for ms in values]
    all_reads = [ms for values in read_ms.values() for ms in values]
    if all_finds and all_reads:
        print(
            f"find cpu ms median {statistics.median(all_finds):.1f} max {max(all_finds):.0f}; "
            f"read cpu ms median {statistics.median(all_reads):.0f} max {max(all_reads):.0f}"
        )
    if first_ms:
        print(
            f"first short-text find on each screen cpu ms median "
            f"{statistics.median(first_ms):.1f} max {max(first_ms):.0f} "
            "(later finds reuse the readings of unchanged marks)"
        )
    print(f"wrong answers: {len(wrong)}")
    for line in wrong:
        print("  " + line)
    print(f"answers at text off the keys (not counted wrong; check them): {len(off_keys)}")
    for line in off_keys:
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
