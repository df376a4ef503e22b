"""What a search that finds nothing re-scores, on keypads captured from real apps.

``speedcrunch-light.png``, ``qalculate-light.png`` and ``galculator-light.png`` are
the calculators' keypads at 100 %, light; the templates are keys of the synthetic
keypad (``test_keypad.keypad``) with labels none of them shows, as
``bench_absent_targets --foreign`` and the not-found figures of ``bench_targeting``
draw them.  Every search ends without an answer and runs every stage, the edge
stage last.  Their faces fit a key's face at 0.5-0.67 in grey, so a grey scan down
to the edge stage's support re-scored a few hundred places per scale: the edge
stage was a quarter of such searches' CPU (45 % of one), for places whose outline
then did not fit.

The edge stage now takes the best place the grey stages' scans already re-scored
(``_Search._seen_top``) and scans nothing of its own where those scans settle the
question; its answers must be those of a scan down to the support.

The grey scans send on to full resolution only the places whose half-resolution
score is within ``MID_SLACK`` (after a quarter-resolution pass) or ``HALF_SLACK``
(as the coarse pass of a small template) of the floor.  Those slacks were 0.25 and
0.2 for losses measured at 0.18 and 0.15; they are now 0.21 and 0.18, and
``test_pruning_captured`` and ``test_half_pass_captured`` still find every place
the exhaustive map has with each 0.03 smaller.
"""

from __future__ import annotations

from typing import Any

import numpy
import pytest

from automation.blocks.desktop import correlation, matching
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import load

SCREENS = ("speedcrunch-light", "qalculate-light", "galculator-light")


def _foreign() -> dict[str, Any]:
    screen, boxes = keypad(labels=FOREIGN_LABELS)
    return {label: crop(screen, box, glyph=False) for label, box in boxes.items()}


@pytest.mark.parametrize("name", SCREENS)
def test_the_edge_stage_scans_nothing_of_its_own_for_absent_keys(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Without the stand-in, "Q" and "U" scanned scale 0.67 down to the support, and
    without the rule for the first scale, "Q" scanned it in both polarities."""
    scans: list[tuple[float, int]] = []
    original = matching._Search.best

    def best(self: Any, scale: float, sign: int, floor: float) -> Any:
        scans.append((scale, sign))
        return original(self, scale, sign, floor)

    monkeypatch.setattr(matching._Search, "best", best)
    screen = load(name)
    for label, template in _foreign().items():
        result = matching.find(screen, template)
        assert not result.found, (label, result.matches)
        assert not scans, (label, scans)


@pytest.mark.parametrize("name", SCREENS)
def test_the_stand_in_gives_the_answers_of_a_scan_down_to_the_support(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """At every scale and polarity the grey stages saw at least the support, the edge
    stage's places are the same with the stand-in and with a scan of its own."""
    compared = 0
    screen = load(name)
    seen_top = matching._Search._seen_top
    for label, template in _foreign().items():
        search = matching._Search(screen, template, 0.85, True, matching.DEFAULT_MARGIN)
        search.first_scale = matching.DEFAULT_SCALES[0]
        result = matching.SearchResult(matches=[], best=None)
        for stage, scales in (("direct", [1.0]), ("scales", matching.DEFAULT_SCALES[1:])):
            search.stage(stage, list(scales), result)
        search.stage("inverted", list(matching.DEFAULT_SCALES), result)
        floor = matching.edge_bar(0.85) - matching.DEFAULT_MARGIN
        for scale in matching.DEFAULT_SCALES:
            if not any(seen_top(search, scale, sign, matching.EDGE_GREY_GAP) for sign in (1, -1)):
                continue
            compared += 1
            with_stand_in = search._scan_edges(scale, floor)
            monkeypatch.setattr(matching._Search, "_seen_top", lambda *args: None)
            scanned = search._scan_edges(scale, floor)
            monkeypatch.setattr(matching._Search, "_seen_top", seen_top)
            assert with_stand_in == scanned, (label, scale)
    assert compared


def test_few_places_go_on_to_full_resolution_for_absent_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The windows re-scored at full resolution for the 16 foreign keys on the three
    keypads, after a quarter-resolution pass (factor 4) and as a small template's
    coarse pass (factor 2): 5,359 and 1,785, against 6,142 and 1,878 with the slacks
    of 0.25 and 0.2."""
    windows = {4: 0, 2: 0}
    factor_now: list[int] = []
    best_near, refined = correlation._Feature.best_near, correlation._refined

    def counted(self: Any, template: Any, level: int, corners: Any, *rest: Any) -> Any:
        if level == 1 and factor_now:
            windows[factor_now[-1]] += len(corners)
        return best_near(self, template, level, corners, *rest)

    def tracked(*args: Any) -> Any:
        factor_now.append(args[5])  # args[5]: the factor
        try:
            return refined(*args)
        finally:
            factor_now.pop()

    monkeypatch.setattr(correlation._Feature, "best_near", counted)
    monkeypatch.setattr(correlation, "_refined", tracked)
    templates = _foreign()
    for name in SCREENS:
        screen = load(name)
        for template in templates.values():
            matching.find(screen, template)
    assert windows[4] <= 5600, windows
    assert windows[2] <= 1830, windows


def _mosaic_windows(monkeypatch: pytest.MonkeyPatch, level: int) -> int:
    """The windows correlated one mosaic at a time at ``level`` (1: full, 2: half
    resolution) for the 16 foreign keys on the three keypads, each stacked three high
    (as many keys as a whole calculator shows)."""
    windows, level_now = [0], [0]
    best_near, mosaic = correlation._Feature.best_near, correlation._best_near

    def tracked(self: Any, template: Any, at: int, *rest: Any) -> Any:
        level_now.append(at)
        try:
            return best_near(self, template, at, *rest)
        finally:
            level_now.pop()

    def counted(screen: Any, template: Any, corners: Any, *rest: Any, **named: Any) -> Any:
        if level_now[-1] == level:
            windows[0] += len(corners)
        return mosaic(screen, template, corners, *rest, **named)

    monkeypatch.setattr(correlation._Feature, "best_near", tracked)
    monkeypatch.setattr(correlation, "_best_near", counted)
    templates = _foreign()
    for name in SCREENS:
        screen = numpy.vstack([load(name)] * 3)
        for template in templates.values():
            matching.find(screen, template)
    return windows[0]


def test_a_scan_sure_to_pay_for_the_half_resolution_map_makes_it_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every key face fits a foreign key at half resolution too, and every peak of such
    a scan is re-scored (``correlation._Feature.best_near``'s ``ahead``): the
    half-resolution windows correlated one mosaic at a time were 20,556 before the
    map that answered the rest, and are 9,648 when the scan counts the peaks still
    ahead."""
    assert _mosaic_windows(monkeypatch, 2) <= 11_000


def test_full_resolution_windows_sure_to_cost_the_map_are_read_off_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the half-resolution map is made, it tells how many of the peaks left go on
    to full resolution; when those windows would cost more than the full-resolution
    map, it is made at once.  Full-resolution windows correlated one mosaic at a
    time: 20,180 without the count, 17,068 with it."""
    assert _mosaic_windows(monkeypatch, 1) <= 18_500
