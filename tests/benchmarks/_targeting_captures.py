"""Templates captured in the dark theme, for ``bench_targeting --from DIR --captures``.

``bench_targeting`` captures every template at 100 % light, so its dark rows are
cross-theme searches (captured light, searched dark).  A user who works in a dark
theme captures in the dark theme: ``--captures light,dark`` also cuts every selected
key, whole and glyph-only, from the saved 100 % dark screen (its AT-SPI truth is
saved beside it), exactly as the light capture cuts from the 100 % light screen, and
searches those templates on every saved configuration: the dark ones (100 % dark is
the capture itself) and the light ones (cross-theme the other way).  The judging is
the same (hit, wrong, ambiguous, refused, not found; pixel-identical crops on the
dark capture are refused and also searched with the dark capture's index and count).

Replay only: the live run captures in the light theme alone (it could cut from its
own 100 % dark screen the same way; the saved screens hold the same pixels).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks._targeting_report import IDENTICAL, WITH_INDEX, Tally
from tests.helpers.desktop_apps import Button

CAPTURES = ("light", "dark")
#: The saved configuration each capture theme cuts its templates from (scale,
#: theme, window position): light at the first position, dark at the second, the
#: only position the dark screens were saved at.
CAPTURE_STEMS = {"light": "100-light-0", "dark": "100-dark-1"}

ButtonKey = tuple[str, str, int]


def parse_captures(text: str) -> tuple[str, ...]:
    """``light,dark`` as a tuple in a fixed order; an unknown theme is an error."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(CAPTURES)
    if unknown or not names:
        raise ValueError(f"--captures takes {', '.join(CAPTURES)}; got {text!r}")
    return tuple(name for name in CAPTURES if name in names)


def glyph_box(button: Button) -> tuple[int, int, int, int]:
    """The glyph-only crop: the box less a fifth of its width and height on each side."""
    mx, my = max(2, button.width // 5), max(2, button.height // 5)
    return button.x + mx, button.y + my, button.width - 2 * mx, button.height - 2 * my


def load_truth(path: Path) -> dict[ButtonKey, Button]:
    """The AT-SPI truth ``--save`` stored beside a screen (``<stem>.json``)."""
    rows = json.loads(path.read_text())["truth"]
    return {
        (r["button"][0], r["button"][1], int(r["button"][2])): Button(
            r["button"][0], r["button"][1], *r["box"]
        )
        for r in rows
    }


def cut_templates(
    shot: np.ndarray,
    buttons: Mapping[ButtonKey, Button],
    wanted: Iterable[tuple[ButtonKey, str]],
) -> list[tuple[ButtonKey, str, np.ndarray]]:
    """The ``wanted`` (button, crop) templates cut from ``shot`` as the capture cuts
    them: ``whole`` is the button's box, ``glyph`` its ``glyph_box``.  A button the
    capture's truth lacks, or whose box is not wholly on ``shot``, gives none."""
    height, width = shot.shape[:2]
    out = []
    for name, crop in wanted:
        button = buttons.get(name)
        if button is None:
            continue
        x, y, w, h = button.box if crop == "whole" else glyph_box(button)
        if x < 0 or y < 0 or x + w > width or y + h > height or w <= 0 or h <= 0:
            continue
        out.append((name, crop, shot[y : y + h, x : x + w].copy()))
    return out


def explain_wrong(
    rows: Sequence[dict[str, Any]],
    templates: Sequence[tuple[ButtonKey, str, np.ndarray]],
    screen: np.ndarray | None,
) -> None:
    """Add the stage and best match of each wrong Deskpilot answer to its row,
    searched again outside the timing (``Methods.deskpilot`` keeps only the outcome)."""
    from automation.blocks.desktop import matching

    if screen is None:
        return
    by_name = {(name, crop): template for name, crop, template in templates}
    for row in rows:
        answers = [row.get("deskpilot") or {}, row.get("deskpilot_index") or {}]
        if not any(a.get("outcome") == "wrong" for a in answers):
            continue
        template = by_name[((row["button"][0], row["button"][1], row["button"][2]), row["crop"])]
        result = matching.find(screen, template)
        row["stage"] = result.stage
        row["best"] = None if result.best is None else result.best.as_dict()


def report_captures(
    tallies: Mapping[str, Mapping[tuple[str, str, str], Tally]],
    cases: Mapping[str, Sequence[dict[str, Any]]],
) -> None:
    """One table per capture theme: Deskpilot's outcomes and times per searched
    configuration (window positions of one scale and theme together), whole and
    glyph crops apart and together, then every wrong answer with its stage."""
    out = sys.stdout
    for theme, by_group in tallies.items():
        out.write(f"\nDeskpilot on templates captured at 100 % {theme} ({CAPTURE_STEMS[theme]}):\n")
        out.write(
            f"  {'searched':<11} {'crop':<6} {'cases':>5} {'hit':>5} {'WRONG':>5} {'ambig':>5}"
            f" {'refus':>5} {'not f':>5} {'hit %':>6} | {'cpu med':>7} {'cpu max':>7}"
            f" {'ms med':>7} | with index: hit/wrong/other\n"
        )
        groups = sorted(
            {
                g
                for m, g, _ in by_group
                if m == "deskpilot" and not g.endswith((IDENTICAL, WITH_INDEX))
            },
            key=lambda g: (g.split()[1] != theme, g.split()[1], float(g.split("%")[0])),
        )
        for group in groups:
            crops = {c: t for (m, g, c), t in by_group.items() if m == "deskpilot" and g == group}
            both = Tally()
            for t in crops.values():
                both.outcomes.update(t.outcomes)
                both.times += t.times
                both.cpu += t.cpu
            indexed: Counter[str] = Counter()
            for (m, g, _), t in by_group.items():
                if m == "deskpilot" and g == group + WITH_INDEX:
                    indexed.update(t.outcomes)
            for crop, t in [*sorted(crops.items()), ("both", both)]:
                o = t.outcomes
                line = (
                    f"  {group:<11} {crop:<6} {t.cases:>5} {o['hit']:>5} {o['wrong']:>5}"
                    f" {o['ambiguous']:>5} {o['refused']:>5} {o['not found'] + o['uniform']:>5}"
                    f" {t.rate('hit'):>6.1f} | {t.median_cpu():>7.1f}"
                    f" {max(t.cpu, default=float('nan')):>7.1f} {t.median():>7.1f} |"
                )
                if crop == "both" and indexed:
                    other = sum(indexed.values()) - indexed["hit"] - indexed["wrong"]
                    line += f" {indexed['hit']}/{indexed['wrong']}/{other}"
                out.write(line + "\n")
        wrong = [
            (row, answer)
            for row in cases.get(theme, ())
            for answer in ("deskpilot", "deskpilot_index")
            if (row.get(answer) or {}).get("outcome") == "wrong"
        ]
        out.write(f"  wrong answers on templates captured at 100 % {theme}: {len(wrong)}\n")
        for row, answer in wrong:
            best = row.get("best") or {}
            score = best.get("score")
            out.write(
                f"    {row['app']} {row['button'][0]!r} {row['crop']} searched {row['config']}"
                f"{' with index ' + str(row[answer]['index']) if answer.endswith('index') else ''}"
                f" -> {row[answer]['point']} (true box {row['truth']}; stage {row.get('stage')},"
                f" {best.get('method')} scale {best.get('scale')}"
                f" score {score if score is None else round(float(score), 3)})\n"
            )
