"""The matcher on synthetic screens: scales, inverted palettes, uniform templates, speed."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from automation.blocks.desktop import matching


def ui_screen(seed: int = 1) -> np.ndarray:
    """A 1920x1080 light 'desktop' full of text, with one distinctive button."""
    rng = np.random.default_rng(seed)
    screen = np.full((1080, 1920, 3), 235, np.uint8)
    for i in range(300):
        x, y = int(rng.integers(0, 1850)), int(rng.integers(10, 1070))
        cv2.putText(
            screen, f"Item {i}", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA
        )
    cv2.rectangle(screen, (1000, 500), (1060, 530), (200, 120, 50), -1)
    cv2.putText(
        screen, "OK!", (1010, 522), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA
    )
    return screen


@pytest.fixture(scope="module")
def screen() -> np.ndarray:
    return ui_screen()


@pytest.fixture(scope="module")
def template(screen: np.ndarray) -> np.ndarray:
    return screen[500:530, 1000:1060].copy()


def test_exact_hit_returns_python_ints(screen, template) -> None:
    result = matching.find(screen, template)
    assert result.found
    hit = result.matches[0]
    assert (hit.x, hit.y, hit.width, hit.height, hit.scale) == (1000, 500, 60, 30, 1.0)
    assert hit.score > 0.99 and hit.method == "color"
    as_dict = hit.as_dict(5, 7)
    assert as_dict["box"] == [1005, 507, 60, 30] and all(type(v) is int for v in as_dict["box"])
    assert type(as_dict["x"]) is int and type(as_dict["score"]) is float


@pytest.mark.parametrize("scale", [1.25, 1.5, 0.8, 2.0])
def test_found_on_a_scaled_screen(screen, template, scale: float) -> None:
    scaled = cv2.resize(screen, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    cx, cy = int(1030 * scale), int(515 * scale)
    crop_x, crop_y = max(0, cx - 800), max(0, cy - 450)
    view = np.ascontiguousarray(scaled[crop_y : crop_y + 900, crop_x : crop_x + 1600])
    result = matching.find(view, template)
    assert result.found
    hit = result.matches[0]
    assert hit.scale == scale
    assert abs(hit.center[0] + crop_x - cx) <= 3 and abs(hit.center[1] + crop_y - cy) <= 3


def test_inverted_palette_is_found_as_inverted(screen, template) -> None:
    result = matching.find(255 - screen, template)
    assert result.found and result.matches[0].method == "inverted"
    assert (result.matches[0].x, result.matches[0].y) == (1000, 500)


def test_colour_matters_unless_grayscale(screen, template) -> None:
    """The label stage finds the swapped button too (letter by letter: its label
    re-hinted a pixel shorter), but the colour score already said no there."""
    recoloured = screen.copy()
    recoloured[500:531, 1000:1061] = recoloured[500:531, 1000:1061][:, :, ::-1]  # swap red and blue
    result = matching.find(recoloured, template, edges=False)
    assert not result.found, result.matches
    assert [r.match.method for r in result.refused] == ["label-glyphs"]
    assert "not in its colours" in result.refused[0].reason
    assert matching.find(recoloured, template, grayscale=True, edges=False).found


def test_a_recoloured_button_is_not_answered_by_its_outline(screen, template) -> None:
    """The edge stage finds the red/blue-swapped button by its outline, but the colour
    score already said no there: refused, saying why."""
    recoloured = screen.copy()
    recoloured[500:531, 1000:1061] = recoloured[500:531, 1000:1061][:, :, ::-1]
    result = matching.find(recoloured, template)
    assert not result.found, result.matches
    assert [r.match.method for r in result.refused][-1] == "edges"
    assert all("not in its colours" in r.reason for r in result.refused)
    assert matching.find(recoloured, template, grayscale=True).found


@pytest.mark.parametrize("margin", [0.2, 0.3, 0.5])
def test_a_wide_margin_reaches_the_edge_stage_proof(screen, template, margin: float) -> None:
    """A target may ask for a look-alike margin as wide as the edge stage's grey gap or
    wider; the stage's proof then scans every rival down to the margin itself (it used
    to skip that scan and fail with an internal error on this very outline match)."""
    recoloured = screen.copy()
    recoloured[500:531, 1000:1061] = recoloured[500:531, 1000:1061][:, :, ::-1]
    result = matching.find(recoloured, template, margin=margin)
    assert not result.found, result.matches
    assert [r.match.method for r in result.refused][-1] == "edges"
    assert matching.find(recoloured, template, grayscale=True, margin=margin).found


def test_missing_template_is_not_found_and_reports_the_best_candidate(screen) -> None:
    absent = np.full((30, 60, 3), 235, np.uint8)
    cv2.circle(absent, (30, 15), 10, (0, 0, 255), 2)
    cv2.line(absent, (0, 0), (59, 29), (0, 200, 0), 1)
    result = matching.find(screen, absent)
    assert not result.found
    assert result.best is not None and result.best.score < 0.85


def test_near_uniform_template_is_refused(screen) -> None:
    flat = np.full((30, 60, 3), 235, np.uint8)
    flat[10, 10] = 240  # a speck of noise is not a shape
    with pytest.raises(matching.TemplateTooUniform, match="flat colour"):
        matching.find(screen, flat)


def test_all_matches_are_merged_and_sorted(screen, template) -> None:
    doubled = screen.copy()
    doubled[100:130, 200:260] = template
    result = matching.find(doubled, template, find_all=True)
    assert sorted((m.x, m.y) for m in result.matches) == [(200, 100), (1000, 500)]


def test_a_hit_is_fast_and_a_miss_is_bounded(screen, template) -> None:
    # CPU time, not wall time: other work on a shared machine must not fail this;
    # generous bounds, the benchmark reports the real figures
    matching.find(screen, template)  # warm caches
    times = []
    for _ in range(5):
        start = time.process_time()
        matching.find(screen, template)
        times.append(time.process_time() - start)
    assert sorted(times)[2] < 0.15
    absent = np.full((30, 60, 3), 235, np.uint8)
    cv2.circle(absent, (30, 15), 10, (0, 0, 255), 2)
    start = time.process_time()
    matching.find(screen, absent)
    assert time.process_time() - start < 2.0


def test_bad_scales_are_rejected(screen, template) -> None:
    with pytest.raises(ValueError, match="positive"):
        matching.find(screen, template, scales=[1.0, 0])
