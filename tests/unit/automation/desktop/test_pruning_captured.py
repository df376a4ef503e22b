"""The coarse pass never drops a place that could pass: checked against the long way on
keypads captured from real apps.

A scan (``correlation._scan``) looks only where the blurred, shrunk screen
correlates within a slack of the floor, so the slacks are claims about real
screens: that no place scoring at least the floor at full resolution scores
more than the slack less on the coarse map (``coarse_slack``) or at half
resolution (``MID_SLACK``).  Here every scan a grey stage runs (each default
scale, both signs, the stages' floors) is compared with an exhaustive
full-resolution ``matchTemplate`` of the whole screen: every local best that
reaches the floor, or comes within the margin of the best, must be among the
places the scan re-scored, at its score; and the scan's best must be the best
overall.  The scans run with every slack ``HEADROOM`` smaller than the real
one, so the slacks are not at the edge of what these screens need (a larger
slack only re-scores more places).  With 0.12 less, the dark theme's "." at
125 % is dropped and this test fails.

Screens and key boxes are those of ``test_labels_captured`` (galculator and
speedcrunch from Debian on Xvfb, through ``bench_targeting --save``):
templates are keys of the 100 % light screens, cropped whole and glyph-only,
searched there and on the 150 %, 200 % and dark screens.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from automation.blocks.desktop import correlation, matching
from tests.unit.automation.desktop.test_labels_captured import crop, load

#: (light screen, key boxes spread over its keypad, the screens they are searched on)
KEYPADS = {
    "galculator": (
        "galculator-light",
        # "(", "MS", "8", "*", "." and "+"
        [
            (6 + 65 * i, 52 + 40 * j, 59, 34)
            for i, j in ((0, 0), (2, 0), (1, 1), (3, 2), (1, 4), (3, 4))
        ],
        ["galculator-light", "galculator-light-150", "galculator-light-200", "galculator-dark-125"],
    ),
    "speedcrunch": (
        "speedcrunch-light",
        # "^", "!", "(", "tan", "arccos" and "÷"
        [
            (6 + 73 * i, 6 + 30 * j, 70, 27)
            for i, j in ((5, 1), (5, 3), (4, 2), (7, 3), (8, 2), (3, 0))
        ],
        ["speedcrunch-light", "speedcrunch-dark"],
    ),
}
#: The floors the grey stages scan at with the default confidence: direct and scales
#: (sign 1), inverted (sign -1).
FLOORS = {
    1: 0.85 - matching.DEFAULT_MARGIN,
    -1: matching.inverted_bar(0.85) - matching.DEFAULT_MARGIN,
}
#: How much smaller every slack may be with nothing dropped still.
HEADROOM = 0.03


def exhaustive(gray: np.ndarray, template: np.ndarray, sign: int) -> np.ndarray:
    scores = cv2.matchTemplate(gray, template, cv2.TM_CCOEFF_NORMED)
    cv2.patchNaNs(scores, 0.0)
    return scores * sign


def required(scores: np.ndarray, floor: float, margin: float) -> list[tuple[int, int, float]]:
    """The local bests (3x3) a scan must return: at least the floor, or within the
    margin of the best (only when the best reaches the floor)."""
    top = float(scores.max())
    if top < floor:
        return []
    bound = max(floor, top - margin)
    dilated = cv2.dilate(scores, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero((scores >= dilated) & (scores >= bound))
    return [(int(x), int(y), float(scores[y, x])) for x, y in zip(xs, ys, strict=True)]


def dropped(gray: np.ndarray, template: np.ndarray, sign: int, floor: float) -> list[str]:
    """What a scan misses of what the exhaustive map says it must find."""
    scores = exhaustive(gray, template, sign)
    feature = correlation._Feature(gray, matching.DEFAULT_MARGIN)
    places = correlation._scan(feature, template, sign, floor)
    # a window of re-scored places reports its best; a place it holds is covered by
    # that best when the best scores at least as much (2 * pad apart at most)
    reach = 2 * (2 + correlation._REFINE_PAD)
    missing = []
    for x, y, score in required(scores, floor, matching.DEFAULT_MARGIN):
        if not any(
            abs(px - x) <= reach and abs(py - y) <= reach and found >= score - 1e-3
            for px, py, found in places
        ):
            missing.append(f"({x}, {y}) at {score:.3f}")
    top = float(scores.max())
    if top >= floor and max(p[2] for p in places) < top - 1e-3:
        missing.append(f"the best {top:.3f}")
    return missing


def narrowed_case(
    monkeypatch: Any, app: str, screen_name: str, crop_kind: str, number: int
) -> tuple[Any, Any]:
    """A case's grey template and screen, with every slack ``HEADROOM`` smaller."""
    light, boxes, _ = KEYPADS[app]
    template = matching.to_gray(crop(load(light), boxes[number], glyph=crop_kind == "glyph"))
    gray = matching.to_gray(load(screen_name))
    for name in ("COARSE_SLACK", "HALF_SLACK", "MID_SLACK"):
        monkeypatch.setattr(correlation, name, getattr(correlation, name) - HEADROOM)
    return template, gray


def cases() -> list[tuple[str, str, str, int]]:
    return [
        (app, screen, crop_kind, number)
        for app, (_, boxes, screens) in KEYPADS.items()
        for screen in screens
        for crop_kind in ("whole", "glyph")
        for number in range(len(boxes))
    ]


@pytest.mark.parametrize(("app", "screen_name", "crop_kind", "number"), cases())
def test_a_scan_finds_every_place_the_full_map_has(
    monkeypatch, app, screen_name, crop_kind, number
) -> None:
    template, gray = narrowed_case(monkeypatch, app, screen_name, crop_kind, number)
    failures = []
    for scale in matching.DEFAULT_SCALES:
        scaled = correlation._resize(template, scale)
        th, tw = scaled.shape[:2]
        if th > gray.shape[0] or tw > gray.shape[1]:
            continue
        for sign, floor in FLOORS.items():
            missing = dropped(gray, scaled, sign, floor)
            if missing:
                failures.append(f"scale {scale} sign {sign}: {', '.join(missing)}")
    assert not failures, failures
