"""The tables ``bench_targeting`` prints: kept apart so the benchmark itself stays one
screen of set-up and cases (the product's 800-line rule, applied to benchmarks too)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field

METHODS = ("deskpilot", "opencv", "pyautogui")
#: Tallies of the cases of indistinguishable buttons are also kept under "<group>" + this.
IDENTICAL = " identical"
#: Tallies of the indistinguishable cases searched with their capture's ``index``.
WITH_INDEX = " with index"


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, outcome: str, seconds: float, cpu_seconds: float = float("nan")) -> None:
        self.outcomes[outcome] += 1
        self.times.append(seconds * 1000)
        self.cpu.append(cpu_seconds * 1000)

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())

    def rate(self, outcome: str) -> float:
        return 100.0 * self.outcomes[outcome] / self.cases if self.cases else 0.0

    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    def median_cpu(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")


def report(
    tallies: dict[tuple[str, str, str], Tally],
    per_app: dict[tuple[str, str], Tally],
    not_found: dict[str, list[tuple[float, float]]],
    wrong: list[str],
    args: argparse.Namespace,
    method_names: tuple[str, ...] = METHODS,
) -> None:
    out = sys.stdout
    indexed = {k: v for k, v in tallies.items() if k[1].endswith(WITH_INDEX)}
    identical = {k: v for k, v in tallies.items() if k[1].endswith(IDENTICAL)}
    tallies = {k: v for k, v in tallies.items() if not k[1].endswith((IDENTICAL, WITH_INDEX))}
    load = os.getloadavg()[0]
    out.write(
        f"\nImage targeting on real keypads ({args.apps}; every {args.every}. button"
        f"{', quick' if args.quick else ''}{', replayed' if args.replay else ''});"
        f" load average {load:.1f}\n\n"
    )
    head = f"{'config':<12} {'crop':<6} {'cases':>5} |"
    for method in method_names:
        head += f" {method + ' hit/wrong %':>22} {'ms':>6} {'cpu':>5} |"
    out.write(head + "  deskpilot ambiguous/refused/not found %\n")
    out.write("-" * len(head) + "\n")
    groups = sorted(
        {(g, c) for _, g, c in tallies},
        key=lambda k: (k[0].split()[1], float(k[0].split("%")[0]), k[1]),
    )
    for group, crop in groups:
        line = f"{group:<12} {crop:<6} {tallies[('deskpilot', group, crop)].cases:>5} |"
        for method in method_names:
            t = tallies[(method, group, crop)]
            line += (
                f" {t.rate('hit'):>13.1f} / {t.rate('wrong'):>5.1f} {t.median():>6.1f}"
                f" {t.median_cpu():>5.1f} |"
            )
        d = tallies[("deskpilot", group, crop)]
        line += (
            f"  {d.rate('ambiguous'):.1f} / {d.rate('refused'):.1f}"
            f" / {d.rate('not found') + d.rate('uniform'):.1f}\n"
        )
        out.write(line)
    out.write("\nPer scale and theme (whole and glyph crops together):\n")
    pooled: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for (method, group, _), t in tallies.items():
        pooled[(method, group)].outcomes.update(t.outcomes)
        pooled[(method, group)].times += t.times
        pooled[(method, group)].cpu += t.cpu
    pooled_identical: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (method, group, _), t in identical.items():
        pooled_identical[(method, group.removesuffix(IDENTICAL))].update(t.outcomes)
    pooled_indexed: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, group, _), t in indexed.items():
        pooled_indexed[group.removesuffix(WITH_INDEX)].update(t.outcomes)
    out.write(
        head.replace(f" {'crop':<6}", "       ")
        + "  deskpilot without indistinguishable: cases, hit/wrong %"
        + " | with their index: hit/wrong %\n"
    )
    for group in sorted(
        {g for _, g in pooled}, key=lambda g: (g.split()[1], float(g[:-1].split("%")[0]))
    ):
        line = f"{group:<12}        {pooled[('deskpilot', group)].cases:>5} |"
        for method in method_names:
            t = pooled[(method, group)]
            line += (
                f" {t.rate('hit'):>13.1f} / {t.rate('wrong'):>5.1f} {t.median():>6.1f}"
                f" {t.median_cpu():>5.1f} |"
            )
        if "deskpilot" in method_names:
            cases, hit, wrong_ = _without(
                pooled[("deskpilot", group)].outcomes, pooled_identical[("deskpilot", group)]
            )
            line += f"  {cases:>5}, {hit:5.1f} / {wrong_:4.1f}"
            _, hit, wrong_ = _with_index(
                pooled[("deskpilot", group)].outcomes,
                pooled_identical[("deskpilot", group)],
                pooled_indexed[group],
            )
            line += f" | {hit:5.1f} / {wrong_:4.1f}"
        out.write(line + "\n")
    out.write("\nAt 100 % light (three window positions), per app:\n")
    for (method, key), t in sorted(per_app.items(), key=lambda i: (i[0][1], i[0][0])):
        out.write(
            f"  {key:<12} {method:<10} hit {t.rate('hit'):5.1f} %  wrong {t.rate('wrong'):5.1f} %"
            f"  median {t.median():6.1f} ms (cpu {t.median_cpu():5.1f})  ({t.cases} cases)\n"
        )
    out.write("\nTotals over every scale and theme:\n")
    for method in method_names:
        total = Tally()
        for (m, _, _), t in tallies.items():
            if m == method:
                total.outcomes.update(t.outcomes)
                total.times += t.times
                total.cpu += t.cpu
        out.write(
            f"  {method:<10} hit {total.rate('hit'):5.1f} %  wrong {total.rate('wrong'):5.1f} %"
            f"  median {total.median():6.1f} ms (cpu {total.median_cpu():5.1f})"
            f"  ({total.cases} cases; {dict(total.outcomes)})\n"
        )
        apart: Counter[str] = Counter()
        for (m, _, _), t in identical.items():
            if m == method:
                apart.update(t.outcomes)
        if apart:
            cases, hit, wrong_ = _without(total.outcomes, apart)
            out.write(
                f"  {method:<10} hit {hit:5.1f} %  wrong {wrong_:5.1f} %  without the"
                f" {sum(apart.values())} cases of indistinguishable buttons ({cases} cases;"
                f" those: {dict(apart)})\n"
            )
        if method == "deskpilot" and apart:
            by_index: Counter[str] = Counter()
            for t in indexed.values():
                by_index.update(t.outcomes)
            cases, hit, wrong_ = _with_index(total.outcomes, apart, by_index)
            out.write(
                f"  {method:<10} hit {hit:5.1f} %  wrong {wrong_:5.1f} %  with the capture's"
                f" index and count for the indistinguishable buttons ({cases} cases;"
                f" those: {dict(by_index)}; {sum(apart.values()) - sum(by_index.values())}"
                " had no index from the capture)\n"
            )
    out.write("\nDeskpilot not found (16 keys absent from the app's screen, 100 % light):\n")
    for key, pairs in not_found.items():
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        out.write(
            f"  {key:<12} median {statistics.median(walls):6.1f} ms  max {max(walls):6.1f} ms"
            f"  cpu median {statistics.median(cpus):6.1f} ms  max {max(cpus):6.1f} ms\n"
        )
    out.write(f"Deskpilot wrong hits: {len(wrong)}\n")
    for line in wrong[:20]:
        out.write(f"  {line}\n")


def _rates(outcomes: Counter[str]) -> tuple[int, float, float]:
    """Cases, hit % and wrong % of ``outcomes``."""
    cases = sum(outcomes.values())
    if not cases:
        return 0, 0.0, 0.0
    return cases, 100.0 * outcomes["hit"] / cases, 100.0 * outcomes["wrong"] / cases


def _without(outcomes: Counter[str], apart: Counter[str]) -> tuple[int, float, float]:
    """Cases, hit % and wrong % of ``outcomes`` less the cases in ``apart``."""
    return _rates(outcomes - apart)


def _with_index(
    outcomes: Counter[str], apart: Counter[str], by_index: Counter[str]
) -> tuple[int, float, float]:
    """Cases, hit % and wrong % of ``outcomes`` with the indistinguishable cases
    (``apart``) answered as searched with their index (``by_index``); those the
    capture gave no index count as neither hit nor wrong."""
    merged = outcomes - apart + by_index
    merged["no index"] += sum(apart.values()) - sum(by_index.values())
    return _rates(merged)


def report_resolvers(resolvers: dict[tuple[str, str], Tally]) -> None:
    """Accessibility and OCR resolution of the same buttons, per scale and theme."""
    if not resolvers:
        return
    out = sys.stdout
    out.write(
        "\nAccessibility (AT-SPI find by name) and OCR (grab + read + ocr.locate) resolution,"
        " at the second window position:\n"
    )
    out.write(
        f"  {'resolver':<14} {'config':<12} {'cases':>5}  {'hit %':>6} {'wrong %':>7}"
        f"  {'median ms':>9} {'cpu ms':>7}  outcomes\n"
    )
    for (resolver, group), t in sorted(
        resolvers.items(),
        key=lambda i: (i[0][0], i[0][1].split()[1], float(i[0][1].split("%")[0])),
    ):
        out.write(
            f"  {resolver:<14} {group:<12} {t.cases:>5}  {t.rate('hit'):>6.1f} "
            f"{t.rate('wrong'):>7.1f}  {t.median():>9.1f} {t.median_cpu():>7.1f}"
            f"  {dict(t.outcomes)}\n"
        )
