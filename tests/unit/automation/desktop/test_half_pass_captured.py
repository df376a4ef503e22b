"""A scan whose quarter-resolution map lets too many places through goes on at half
resolution, and still never drops a place that could pass: checked against the long
way on keypads captured from real apps.

On a keypad at a scale that fits none of its keys, the quarter-resolution map
of a key finds hundreds of places within its slack of the floor (every key
looks alike that coarse), while the sharper half-resolution map finds few or
none; correlating the whole screen at full resolution for those was a fifth
of a search's CPU at 200 % dark.  Here the quarter-resolution pass is made to
overflow on every scan of the grey stages' floors, and each scan must find
every place the exhaustive full-resolution map says it must (with every
slack ``HEADROOM`` smaller than the real one), and most of them must do so
without that map.
"""

from __future__ import annotations

from typing import Any

import pytest

from automation.blocks.desktop import correlation, matching
from tests.unit.automation.desktop.test_pruning_captured import (
    FLOORS,
    cases,
    exhaustive,
    narrowed_case,
    required,
)


@pytest.mark.parametrize(("app", "screen_name", "crop_kind", "number"), cases())
def test_an_overflowing_quarter_map_goes_on_at_half_resolution(
    monkeypatch, app, screen_name, crop_kind, number
) -> None:
    template, gray = narrowed_case(monkeypatch, app, screen_name, crop_kind, number)
    original = correlation._refined

    def overflowing(*args: Any) -> Any:
        return None if args[5] == 4 else original(*args)  # args[5]: the factor

    monkeypatch.setattr(correlation, "_refined", overflowing)
    failures, scans, mapped = [], 0, 0
    for scale in matching.DEFAULT_SCALES:
        scaled = correlation._resize(template, scale)
        th, tw = scaled.shape[:2]
        if correlation._coarse_factor(tw, th) < 4:
            continue
        for sign, floor in FLOORS.items():
            feature = correlation._Feature(gray, matching.DEFAULT_MARGIN)
            places = correlation._scan(feature, scaled, sign, floor)
            scans += 1
            mapped += (id(scaled), 1) in feature._scores
            scores = exhaustive(gray, scaled, sign)
            reach = 2 * (2 + correlation._REFINE_PAD)
            for x, y, score in required(scores, floor, matching.DEFAULT_MARGIN):
                if not any(
                    abs(px - x) <= reach and abs(py - y) <= reach and found >= score - 1e-3
                    for px, py, found in places
                ):
                    failures.append(f"scale {scale} sign {sign}: ({x}, {y}) at {score:.3f}")
            top = float(scores.max())
            if top >= floor and max(p[2] for p in places) < top - 1e-3:
                failures.append(f"scale {scale} sign {sign}: the best {top:.3f}")
    assert not failures, failures
    assert scans
    assert mapped * 2 < scans, f"{mapped} of {scans} scans correlated the whole screen"
