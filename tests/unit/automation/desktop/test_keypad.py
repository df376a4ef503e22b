"""The matcher on synthetic keypads: the right key, or an ambiguity naming the look-alikes.

A keypad of near-identical keys is where a matcher that keeps only a few
coarse peaks goes wrong: the true key is dropped early and a look-alike
passes the bar.  These keypads are drawn with OpenCV (fast, no display);
``tests/integration/desktop/test_keypad_calculator.py`` does the same on a
real calculator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from automation.blocks.context import BlockContext
from automation.blocks.desktop import image, matching, picking
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.image import FindInput
from automation.blocks.desktop.targets import (
    AmbiguousTarget,
    Anchor,
    Target,
    locate,
)
from automation.errors import BlockError

LABELS = ["7", "8", "9", "/", "4", "5", "6", "*", "1", "2", "3", "-", "0", ".", "=", "+"]
# Labels none of the benchmark's calculators shows anywhere (keys, display, menus): a key
# drawn with one of them is absent from their screens, so any answer for it is wrong.
FOREIGN_LABELS = ["Q", "G", "U", "W", "Z", "K", "J", "Y", "R", "N", "@", "#", "&", "?", "$", "~"]
KEY_W, KEY_H, GAP = 58, 34, 6


def keypad(
    origin: tuple[int, int] = (203, 117),
    scale: float = 1.0,
    dark: bool = False,
    blank: int = -1,
    labels: Sequence[str] = LABELS,
) -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A 1280x720 light screen with a 4x4 keypad of gradient keys; ``blank`` has no glyph."""
    screen = np.full((720, 1280, 3), 242, np.uint8)
    rng = np.random.default_rng(3)
    for i in range(40):  # some unrelated text around, as on a real desktop
        x, y = int(rng.integers(0, 1200)), int(rng.integers(15, 715))
        cv2.putText(screen, f"row {i}", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1)
    boxes: dict[str, tuple[int, int, int, int]] = {}
    w, h, gap = round(KEY_W * scale), round(KEY_H * scale), round(GAP * scale)
    for index, label in enumerate(labels):
        row, col = divmod(index, 4)
        x, y = origin[0] + col * (w + gap), origin[1] + row * (h + gap)
        for dy in range(h):  # the same vertical gradient on every key
            shade = 250 - int(30 * dy / h)
            screen[y + dy, x : x + w] = (shade, shade, shade)
        cv2.rectangle(screen, (x, y), (x + w - 1, y + h - 1), (150, 150, 150), 1)
        if index != blank:
            size = 0.7 * scale
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, size, 2)
            cv2.putText(
                screen,
                label,
                (x + (w - tw) // 2, y + (h + th) // 2),
                cv2.FONT_HERSHEY_SIMPLEX,
                size,
                (30, 30, 30),
                2,
                cv2.LINE_AA,
            )
        boxes[label] = (x, y, w, h)
    if dark:
        screen = 255 - screen
    return screen, boxes


def inside(point: tuple[int, int], box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return x <= point[0] < x + w and y <= point[1] < y + h


def crop(screen: np.ndarray, box: tuple[int, int, int, int], glyph: bool) -> np.ndarray:
    x, y, w, h = box
    if glyph:  # the glyph and a little of the face: no border
        return screen[y + 7 : y + h - 7, x + 14 : x + w - 14].copy()
    return screen[y : y + h, x : x + w].copy()


@pytest.mark.parametrize("glyph", [False, True], ids=["whole-key", "glyph-only"])
@pytest.mark.parametrize("origin", [(203, 117), (1001, 450)])
def test_every_key_is_found_on_its_own_key(origin: tuple[int, int], glyph: bool) -> None:
    screen, boxes = keypad(origin)
    for label, box in boxes.items():
        result = matching.find(screen, crop(screen, box, glyph))
        assert result.found, label
        chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
        assert inside(chosen.center, box), (label, chosen, result.candidates[:3])
        assert result.stage == "direct" and chosen.method == "color"
        # the full-resolution best agrees with a plain full-resolution correlation
        scores = cv2.matchTemplate(screen, crop(screen, box, glyph), cv2.TM_CCOEFF_NORMED)
        _, _, _, (px, py) = cv2.minMaxLoc(scores)
        assert (chosen.x, chosen.y) == (px, py), label


@pytest.mark.parametrize(
    ("scale", "dark"), [(1.25, False), (1.5, False), (2.0, False), (1.0, True)]
)
def test_keys_captured_at_100_percent_light_are_right_or_refused(scale: float, dark: bool) -> None:
    """At another scale or theme a key is found on itself, or reported ambiguous: never wrong."""
    light, boxes = keypad()
    screen, scaled = keypad((150, 90), scale=scale, dark=dark)
    found = 0
    for label, box in list(boxes.items())[::2]:
        result = matching.find(screen, crop(light, box, glyph=False))
        if not result.found:
            continue
        try:
            chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
        except picking.Ambiguous:
            continue
        assert inside(chosen.center, scaled[label]), (label, chosen)
        # a label match measures its scale from the ink's height: to a few per cent
        tolerance = 0.06 if chosen.method == "label" else 0.01
        assert chosen.scale == pytest.approx(scale, abs=tolerance)
        found += 1
    assert found >= len(boxes) // 4  # most keys are still told apart


def test_a_blank_key_face_is_ambiguous_with_every_close_key_named() -> None:
    screen, boxes = keypad(blank=5)  # "5" has no glyph
    template = crop(screen, boxes["5"], glyph=False)
    doubled = screen.copy()
    x, y, w, h = boxes["0"]
    doubled[y : y + h, x : x + w] = template  # a second blank key
    result = matching.find(doubled, template)
    with pytest.raises(picking.Ambiguous) as caught:
        picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    places = {(m.x, m.y) for m in caught.value.close}
    assert places == {boxes["5"][:2], boxes["0"][:2]}
    # index and nearest_to resolve it, in reading order and by distance
    first = picking.choose(result.candidates, margin=0.05, index=0)
    assert (first.x, first.y) == boxes["5"][:2]  # "5" is on the second row, "0" on the fourth
    near = picking.choose(result.candidates, margin=0.05, nearest=(boxes["0"][0], 700))
    assert (near.x, near.y) == boxes["0"][:2]
    with pytest.raises(picking.IndexOutOfRange):
        picking.choose(result.candidates, margin=0.05, index=2)


def test_fallbacks_run_only_when_the_direct_match_fails() -> None:
    screen, boxes = keypad()
    template = crop(screen, boxes["8"], glyph=False)
    direct = matching.find(screen, template)
    assert direct.stage == "direct" and direct.scales_tried == [1.0]
    dark, _ = keypad(dark=True)
    inverted = matching.find(dark, template)
    assert inverted.stage == "inverted" and inverted.matches[0].method == "inverted"
    assert inside(inverted.matches[0].center, boxes["8"])


def test_reading_order_groups_rows() -> None:
    def at(x: int, y: int) -> matching.Match:
        return matching.Match(x, y, 40, 20, 0.99, 1.0, "gray")

    ordered = picking.reading_order([at(300, 52), at(10, 100), at(100, 48), at(200, 50)])
    assert [(m.x, m.y) for m in ordered] == [(100, 48), (200, 50), (300, 52), (10, 100)]


def test_equally_near_places_are_ambiguous_too() -> None:
    a = matching.Match(0, 0, 20, 20, 0.99, 1.0, "gray")
    b = matching.Match(100, 0, 20, 20, 0.98, 1.0, "gray")
    with pytest.raises(picking.Ambiguous, match="equally near"):
        picking.choose([a, b], margin=0.05, nearest=(60, 10))


# -- the target layer: the error a user sees, and how the target resolves it -----------


@pytest.fixture
def blank_keys(tmp_path: Path) -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]], Path]:
    screen, boxes = keypad(blank=5)
    template = crop(screen, boxes["5"], glyph=False)
    x, y, w, h = boxes["0"]
    screen[y : y + h, x : x + w] = template
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), template)
    return screen, boxes, path


def _locate(target: Target, screen: np.ndarray, folder: Path, evidence: Evidence) -> Box:
    ctx = BlockContext(run_id="t", node_id="n", workflow_dir=folder, artifacts_dir=folder)
    options = image._options(FindInput(template="target.png"))  # the block's defaults
    found = locate(ctx, target, screen, Box(0, 0, 1280, 720), options, evidence)
    assert found is not None
    return found.box


def test_ambiguous_target_names_both_places_and_scores(blank_keys, tmp_path: Path) -> None:
    screen, boxes, path = blank_keys
    evidence = Evidence()
    with pytest.raises(AmbiguousTarget) as caught:
        _locate(Target(anchors=[Anchor(image=str(path))]), screen, tmp_path, evidence)
    message = str(caught.value)
    assert message.startswith(f"ambiguous target image:{path}: 2 places score within 0.05")
    for label in ("5", "0"):
        x, y, w, h = boxes[label]
        assert f"[{x}, {y}, {w}, {h}] score 1.000" in message
    assert "region" in message and "index" in message and "nearest_to" in message
    assert "with count: 2" in message  # what to write beside the index
    assert not caught.value.retryable
    assert sorted(b.as_list()[:2] for b, _ in evidence.candidates) == sorted(
        [list(boxes["5"][:2]), list(boxes["0"][:2])]
    )


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"index": 1}, "0"),
        ({"index": 1, "count": 2}, "0"),
        ({"nearest_to": [400, 100]}, "5"),
        ({"region": [0, 230, 1280, 300]}, "0"),
        ({"nearest_to": {"anchors": [{"image": "eight.png"}]}}, "5"),
    ],
    ids=["index", "index-of-count", "nearest-point", "region", "nearest-target"],
)
def test_the_target_resolves_the_ambiguity(blank_keys, tmp_path: Path, extra, key) -> None:
    screen, boxes, path = blank_keys
    cv2.imwrite(str(tmp_path / "eight.png"), crop(screen, boxes["8"], glyph=True))
    target = Target.model_validate({"anchors": [{"image": str(path)}], **extra})
    box = _locate(target, screen, tmp_path, Evidence())
    assert inside(box.center, boxes[key])


def test_an_anchor_with_an_offset_resolves_it(blank_keys, tmp_path: Path) -> None:
    screen, boxes, path = blank_keys
    cv2.imwrite(str(tmp_path / "nine.png"), crop(screen, boxes["9"], glyph=False))
    # "5" is one key down and one key left of "9"
    offset = [-(KEY_W + GAP), KEY_H + GAP]
    target = Target(anchors=[Anchor(image="nine.png", offset=offset)])
    assert inside(_locate(target, screen, tmp_path, Evidence()).center, boxes["5"])


def test_a_later_anchor_may_find_it_but_a_position_never_stands_in(
    blank_keys, tmp_path: Path
) -> None:
    screen, boxes, path = blank_keys
    guess = Target(anchors=[Anchor(image=str(path)), Anchor(position=[5, 5])])
    with pytest.raises(AmbiguousTarget):
        _locate(guess, screen, tmp_path, Evidence())


def test_index_and_nearest_to_together_are_refused() -> None:
    with pytest.raises(ValueError, match="index or nearest_to"):
        Target.model_validate({"anchors": [{"image": "a.png"}], "index": 0, "nearest_to": [1, 2]})


def test_an_index_made_for_another_count_of_look_alikes_fails_and_clicks_nothing(
    blank_keys, tmp_path: Path
) -> None:
    """A third blank key appears before the one meant: "the second of two" is refused.

    Without ``count`` the index quietly names another key (the wrong-success case:
    on qalculate's 24 identical menu arrows an index taken at 100 % light named
    another arrow in 7 of 32 replayed configurations)."""
    screen, boxes, path = blank_keys
    x, y, w, h = boxes["8"]
    screen[y : y + h, x : x + w] = crop(screen, boxes["5"], glyph=False)  # a blank key above both
    plain = Target.model_validate({"anchors": [{"image": str(path)}], "index": 1})
    assert inside(_locate(plain, screen, tmp_path, Evidence()).center, boxes["5"])  # not "0"
    counted = Target.model_validate({"anchors": [{"image": str(path)}], "index": 1, "count": 2})
    evidence = Evidence()
    with pytest.raises(BlockError) as caught:
        _locate(counted, screen, tmp_path, evidence)
    message = str(caught.value)
    assert "index 1 of 2 was asked for, but 3 places match" in message, message
    assert "Nothing was clicked" in message
    assert len(evidence.candidates) == 3  # the failure screenshot draws all three


@pytest.mark.parametrize(
    "extra",
    [{"count": 2}, {"index": 2, "count": 2}, {"index": 0, "count": 0}],
    ids=["count-alone", "index-not-below-count", "count-zero"],
)
def test_count_goes_with_an_index_below_it(extra) -> None:
    with pytest.raises(ValueError, match="count"):
        Target.model_validate({"anchors": [{"image": "a.png"}], **extra})


def test_choose_refuses_an_index_when_the_count_changed() -> None:
    screen, boxes = keypad(blank=5)
    template = crop(screen, boxes["5"], glyph=False)
    doubled = screen.copy()
    x, y, w, h = boxes["0"]
    doubled[y : y + h, x : x + w] = template
    result = matching.find(doubled, template)
    chosen = picking.choose(result.candidates, margin=0.05, index=1, count=2)
    assert (chosen.x, chosen.y) == boxes["0"][:2]
    with pytest.raises(picking.CountChanged) as caught:
        picking.choose(result.candidates, margin=0.05, index=1, count=3)
    assert len(caught.value.found) == 2
