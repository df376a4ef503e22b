"""The matcher's shortcuts give the answers the long way gives.

Each shortcut in ``matching`` skips work only when the skipped work could not
change the result; these tests check that against the long way (a dilated
map, a full-resolution correlation of the whole screen) on synthetic keypads.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from automation.blocks.desktop import correlation, matching
from tests.unit.automation.desktop.test_keypad import LABELS, crop, keypad


def dilated_peaks(scores: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """The definition: places no lower than their 3x3 neighbourhood, best first."""
    dilated = cv2.dilate(scores, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero((scores >= dilated) & (scores >= floor))
    order = np.argsort(-scores[ys, xs], kind="stable")
    return xs[order], ys[order]


@pytest.mark.parametrize("shape", [(270, 480), (540, 960), (5, 7), (1, 9)])
@pytest.mark.parametrize("floor", [-2.0, 0.3, 0.6, 0.95])
@pytest.mark.parametrize("ties", [False, True])
def test_local_peaks_are_those_of_the_dilated_map(shape, floor, ties) -> None:
    rng = np.random.default_rng(7)
    scores = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 2) * 2 - 0.5
    scores[0, :] = 0.97  # a plateau along the border
    if ties:
        scores = np.round(scores, 1)
    expected = dilated_peaks(scores, floor)
    xs, ys = correlation._local_peaks(scores, floor)
    assert xs.tolist() == expected[0].tolist()
    assert ys.tolist() == expected[1].tolist()


def full_map(screen: np.ndarray, template: np.ndarray, sign: int) -> np.ndarray:
    gray_screen, gray_tpl = matching.to_gray(screen), matching.to_gray(template)
    scores = cv2.matchTemplate(gray_screen, gray_tpl, cv2.TM_CCOEFF_NORMED)
    cv2.patchNaNs(scores, 0.0)
    return scores * sign


@pytest.mark.parametrize("key", ["5", "=", "0"])
@pytest.mark.parametrize("sign", [1, -1])
def test_the_best_place_is_the_best_of_the_full_resolution_map(key, sign) -> None:
    screen, boxes = keypad()
    template = crop(screen, boxes[key], glyph=False)
    if sign < 0:
        screen = 255 - screen
    search = matching._Search(screen, template, 0.85, True, matching.DEFAULT_MARGIN)
    top = search.best(1.0, sign, 0.6)
    scores = full_map(screen, template, sign)
    _, high, _, (hx, hy) = cv2.minMaxLoc(scores)
    assert top is not None
    assert top[2] == pytest.approx(high, abs=1e-4)
    assert (top[0], top[1]) == (hx, hy)
    # nothing reaches a floor above the best: no answer
    assert search.best(1.0, sign, high + 0.01) is None


def test_an_earlier_complete_scan_answers_for_the_best(monkeypatch) -> None:
    screen, boxes = keypad()
    template = crop(screen, boxes["7"], glyph=False)
    search = matching._Search(screen, template, 0.85, True, matching.DEFAULT_MARGIN)
    places = search.scan(1.0, 1, 0.8)
    calls = []
    original = correlation._scan

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(matching, "_scan", counted)
    top = search.best(1.0, 1, 0.6)
    assert not calls  # the exact hit cleared the scan's floor: it is the best overall
    assert top == max(places, key=lambda p: p[2])


@pytest.mark.parametrize("glyph", [False, True])
@pytest.mark.parametrize("key", LABELS)
def test_a_split_keypad_is_one_the_edge_stage_would_refuse(key, glyph) -> None:
    """When ``_split`` skips a scale, the full map shows a distinct place within the
    gap of the best: the long way would have refused an edge match there too."""
    screen, boxes = keypad()
    template = crop(screen, boxes[key], glyph=glyph)
    search = matching._Search(screen, template, 0.85, True, matching.DEFAULT_MARGIN)
    search.scan(1.0, 1, 0.8)
    th, tw = template.shape[:2]
    gap = matching.EDGE_GREY_GAP
    if not search._split(1.0, 1, gap, tw, th):
        return
    scores = full_map(screen, template, 1)
    _, high, _, (hx, hy) = cv2.minMaxLoc(scores)
    best = matching.Match(hx, hy, tw, th, high, 1.0, "gray")
    xs, ys = correlation._local_peaks(scores, high - gap)
    assert any(
        not best.same_place(matching.Match(int(x), int(y), tw, th, 0.0, 1.0, "gray"))
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True)
    )


def test_a_lone_button_is_not_split() -> None:
    screen = np.full((600, 800, 3), 235, np.uint8)
    cv2.rectangle(screen, (300, 200), (360, 230), (200, 120, 50), -1)
    cv2.putText(screen, "OK!", (310, 222), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
    template = screen[200:231, 300:361].copy()
    search = matching._Search(screen, template, 0.85, True, matching.DEFAULT_MARGIN)
    search.scan(1.0, 1, 0.8)
    assert not search._split(1.0, 1, matching.EDGE_GREY_GAP, 61, 31)


def on_plain_desktop(screen: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    """``screen`` placed on a larger, plain desktop, its top-left corner at ``at``."""
    desktop = np.full((900, 1600, 3), 40, np.uint8)
    x, y = at
    h, w = screen.shape[:2]
    desktop[y : y + h, x : x + w] = screen[: 900 - y, : 1600 - x]
    return desktop


def test_the_busy_box_holds_every_pixel_that_differs_from_a_neighbour() -> None:
    plain = np.full((50, 80), 7, np.uint8)
    assert correlation._busy_box(plain) == (0, 0, 0, 0)
    plain[10, 20] = 8
    assert correlation._busy_box(plain) == (19, 9, 22, 12)  # both pixels of each pair
    plain[49, 79] = 0
    assert correlation._busy_box(plain) == (19, 9, 80, 50)


def contrast(screen: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Where a window of the template's size has at least a third of its spread."""
    values = screen.astype(np.float64)
    h, w = template.shape[:2]
    mean = cv2.boxFilter(values, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    square = cv2.boxFilter(
        values * values, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
    )
    spread = np.sqrt(np.maximum(square - mean * mean, 0))
    return spread[: screen.shape[0] - h + 1, : screen.shape[1] - w + 1] >= template.std() / 3


@pytest.mark.parametrize("at", [(0, 0), (300, 200), (1000, 500)])
def test_correlating_the_busy_part_matches_the_whole_screen(at) -> None:
    """Only windows meeting the busy box are correlated; the others are plain and
    score 0 either way.  The spreads are exact; scores agree to OpenCV's own
    rounding (its transform blocks depend on the image size)."""
    keys, boxes = keypad()
    screen = matching.to_gray(on_plain_desktop(keys, at))
    feature = correlation._Feature(screen, matching.DEFAULT_MARGIN)
    for key in ("5", "="):
        template = matching.to_gray(crop(keys, boxes[key], glyph=False))
        for factor in (1, 2, 4):
            small = correlation._coarse(template, factor)
            expected = cv2.matchTemplate(feature.screen(factor), small, cv2.TM_CCOEFF_NORMED)
            expected = np.nan_to_num(expected)
            got = np.nan_to_num(feature.correlate(factor, small))
            assert got.shape == expected.shape
            # where the screen has contrast (near-plain windows are noise either way)
            assert np.abs(got - expected)[contrast(feature.screen(factor), small)].max() < 0.01
            if factor > 1:
                values = feature.screen(factor).astype(np.float32)
                h, w = small.shape[:2]
                mean = cv2.boxFilter(
                    values, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
                )
                square = cv2.boxFilter(
                    values * values, -1, (w, h), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
                )
                spread = np.sqrt(np.maximum(square - mean * mean, 0))[
                    : 1 - h or None, : 1 - w or None
                ]
                feature.flat(factor, (h, w), 10.0)
                # kept for the windows that meet the busy box only: the rest are plain
                part, x0, y0 = feature._spread[(factor, h, w)]
                kept = np.zeros_like(spread)
                kept[y0 : y0 + part.shape[0], x0 : x0 + part.shape[1]] = part
                assert np.array_equal(kept, spread)


@pytest.mark.parametrize("at", [(0, 0), (700, 300), (1300, 650)])
def test_a_key_on_a_plain_desktop_is_found_wherever_the_window_is(at) -> None:
    keys, boxes = keypad()
    desktop = on_plain_desktop(keys, at)
    x, y, w, h = boxes["8"]
    template = keys[y : y + h, x : x + w].copy()
    result = matching.find(desktop, template)
    if x + at[0] + w > 1600 or y + at[1] + h > 900:
        assert not result.found
        return
    assert result.found
    assert (result.matches[0].x, result.matches[0].y) == (x + at[0], y + at[1])


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("margin", [matching.DEFAULT_MARGIN, 0.0])
def test_a_scan_bound_to_overflow_goes_straight_to_the_full_map(monkeypatch, sign, margin):
    """Hundreds of places that could pass (a texture that fits everywhere): the scan
    skips re-scoring peaks it would throw away, and answers as the long way does."""
    rng = np.random.default_rng(3)
    cell = (rng.random((12, 12)) * 255).astype(np.uint8)
    screen = np.tile(cell, (60, 90))
    screen = cv2.add(screen, (rng.random(screen.shape) * 40).astype(np.uint8))
    if sign < 0:
        screen = 255 - screen
    template = np.tile(cell, (4, 4))
    feature = correlation._Feature(screen, matching.DEFAULT_MARGIN)
    decided = []
    original = correlation._bound_to_overflow
    monkeypatch.setattr(
        correlation, "_bound_to_overflow", lambda *a: decided.append(original(*a)) or decided[-1]
    )
    shortcut = correlation._scan(feature, template, sign, 0.3, margin=margin)
    assert decided == [True]  # decided before the first batch
    calls = []
    monkeypatch.setattr(correlation, "_bound_to_overflow", lambda *a: calls.append(a) or False)
    long_way = correlation._scan(
        correlation._Feature(screen, matching.DEFAULT_MARGIN), template, sign, 0.3, margin=margin
    )
    assert calls  # the long way did re-score batch after batch
    assert sorted(shortcut) == sorted(long_way)


@pytest.mark.parametrize("key", ["5", "=", "0"])
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("level", [1, 2])
def test_a_map_gives_each_window_its_own_best(key, sign, level) -> None:
    """Windows read off the template's map (full or half resolution) hold the places
    and scores that correlating each window on its own gives (at the screen's
    edges too), and the map is correlated only once the windows cost as much.

    On a near-plain window the two roundings differ by a few thousandths and
    may pick another of its equally poor places; no such window goes on to
    full resolution (that takes at least the lowest floor less ``MID_SLACK``)."""
    screen, boxes = keypad()
    gray = matching.to_gray(screen)
    template = matching.to_gray(crop(screen, boxes[key], glyph=False))
    feature = correlation._Feature(gray, matching.DEFAULT_MARGIN)
    if level == 1:
        tpl, image = template, gray
    else:
        tpl, image = feature.coarse_template(template, 2)[0], feature.screen(2)
    rng = np.random.default_rng(5)
    corners = [
        (int(x) % image.shape[1], int(y) % image.shape[0]) for x, y in rng.integers(0, 999, (60, 2))
    ]
    corners += [(0, 0), (image.shape[1] - 1, image.shape[0] - 1), (-3, 2)]
    expected = correlation._best_near(image, tpl, corners, 4, sign)
    assert feature.best_near(template, level, corners[:1], 4, sign) == expected[:1]
    assert not feature._scores  # one window: no map
    while not feature._scores:
        read = feature.best_near(template, level, corners, 4, sign)
    read = feature.best_near(template, level, corners, 4, sign)
    assert len(read) == len(expected)
    th, tw = tpl.shape
    for (x, y, score), (ex, ey, expected_score) in zip(read, expected, strict=True):
        if expected_score < 0.1:
            assert score < 0.11
            continue
        assert score == pytest.approx(expected_score, abs=1e-3)
        if (x, y) != (ex, ey):  # a tie within rounding: the place read is as good
            alone = cv2.matchTemplate(image[y : y + th, x : x + tw], tpl, cv2.TM_CCOEFF_NORMED)
            assert sign * float(alone[0, 0]) == pytest.approx(expected_score, abs=1e-3)


@pytest.mark.parametrize("key", ["5", "="])
@pytest.mark.parametrize("sign", [1, -1])
def test_windows_correlated_in_strips_hold_each_windows_own_best(monkeypatch, key, sign) -> None:
    """Windows correlated side by side in strips no wider than ``_STRIP_WIDTH`` give
    each window the place and score that correlating it alone gives (up to
    rounding on near-plain windows, as in the test above), and a window asked
    for twice is correlated once.  A mosaic of several 2048-pixel rows cost
    more than twice as much for a 70x55 template."""
    screen, boxes = keypad()
    gray = matching.to_gray(screen)
    template = cv2.resize(matching.to_gray(crop(screen, boxes[key], glyph=False)), None, fx=2, fy=2)
    th, tw = template.shape
    rng = np.random.default_rng(3)
    corners = [(int(x), int(y)) for x, y in rng.integers(0, 400, (40, 2))]
    corners += [(bx - 1, by + 2) for bx, by, _, _ in boxes.values()]
    corners += corners[:5]  # asked twice
    widths: list[int] = []
    real = cv2.matchTemplate

    def counted(image: np.ndarray, tpl: np.ndarray, method: int) -> np.ndarray:
        widths.append(image.shape[1])
        return real(image, tpl, method)

    monkeypatch.setattr(cv2, "matchTemplate", counted)
    found = correlation._best_near(gray, template, corners, 4, sign, strips=True)
    tile = tw + 8
    assert max(widths) <= max(tile, correlation._STRIP_WIDTH)
    distinct = len(set(corners))
    assert sum(width // tile for width in widths) == distinct < len(corners)
    monkeypatch.setattr(cv2, "matchTemplate", real)
    for (cx, cy), (x, y, score) in zip(corners, found, strict=True):
        alone = correlation._best_near(gray, template, [(cx, cy)], 4, sign)[0]
        assert score == pytest.approx(alone[2], abs=1e-3)
        if alone[2] > 0.5:
            assert (x, y) == alone[:2]
