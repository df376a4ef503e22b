"""A label's dot joined to a stroke on screen is another label (``dots``), on captures.

``speedcrunch-dark.png`` is speedcrunch's keypad at 100 %, dark, and
``speedcrunch-light-125-seven.png`` part of it at 125 %, light, around its
"7" key (both cut from ``bench_targeting --save`` screens).  The templates
are synthetic "?" keys (``test_keypad.keypad``, OpenCV's Hershey font), as
``bench_absent_targets --foreign`` draws them: nothing on screen is a "?",
and the label stage answered the "7" at 0.88 and 1.12 times the key's size,
its stem drawn on through the gap above the "?"'s dot.

``qalculate-light.png`` (100 %) and ``qalculate-light-125.png`` show
qalculate's "±" key, whose "+" the toolkit draws down into the bar at 125 %:
two strokes joined, no dot, and still the "±".
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import (
    dots,
    ink_pieces,
    labels,
    matching,
    stroke_directions,
    verification,
)
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import crop as cut
from tests.unit.automation.desktop.test_labels_captured import inside, load

#: The "7" key on each screen, and the "±" key on qalculate-light.png and -125.png.
SEVEN = {"speedcrunch-dark": (13, 0, 58, 34), "speedcrunch-light-125-seven": (106, 75, 65, 38)}
PLUS_MINUS = (422, 74, 53, 43)
PLUS_MINUS_125 = (492, 209, 54, 45)

CASES = [("speedcrunch-dark", True, True), ("speedcrunch-light-125-seven", False, True)]
CASES += [("speedcrunch-light-125-seven", False, False)]


def question_key(dark: bool, glyph: bool) -> np.ndarray:
    screen, boxes = keypad(dark=dark, labels=FOREIGN_LABELS)
    return crop(screen, boxes["?"], glyph=glyph)


@pytest.mark.parametrize(("screen", "dark", "glyph"), CASES)
def test_a_stroke_through_the_gap_above_a_dot_is_another_label(
    screen: str, dark: bool, glyph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # at 0.88 the "?"'s strokes also run other ways than the 7's (``stroke_directions``):
    # this check is tested on its own
    monkeypatch.setattr(stroke_directions, "refusal", lambda *args: None)
    result = matching.find(load(screen), question_key(dark, glyph))
    assert not result.found, (result.stage, result.matches)
    assert any("a dot of its label" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize(("screen", "dark", "glyph"), CASES)
def test_without_the_dot_check_the_7_answers_the_question_mark(
    screen: str, dark: bool, glyph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dots, "joined", lambda *args: None)
    monkeypatch.setattr(stroke_directions, "refusal", lambda *args: None)
    result = matching.find(load(screen), question_key(dark, glyph))
    assert result.found, result.refused
    assert result.matches[0].method == "label-soft", result.matches
    assert abs(result.matches[0].scale - 1.0) > verification.SAME_SIZE, result.matches
    assert inside(result.matches[0].center, SEVEN[screen]), result.matches


def test_two_strokes_a_toolkit_joins_at_another_size_are_still_the_label() -> None:
    """The "±" at 125 %: its pieces do not correspond (``ink_pieces`` would refuse it),
    but neither is a dot."""
    template = cut(load("qalculate-light"), PLUS_MINUS)
    screen = load("qalculate-light-125")
    result = matching.find(screen, template)
    assert result.found, result.refused
    answer = result.matches[0]
    assert inside(answer.center, PLUS_MINUS_125), answer
    label = labels.extract(matching.to_gray(template))
    assert label is not None
    lh, lw = label.image.shape[:2]
    x = answer.x + round(label.x * answer.scale)
    y = answer.y + round(label.y * answer.scale)
    height, width = round(lh * answer.scale), round(lw * answer.scale)
    here = matching.to_gray(screen)[y : y + height, x : x + width]
    assert ink_pieces.mismatch(label.image, label.dark, here, True, answer.scale) is not None
    assert dots.joined(label.image, label.dark, here, True, answer.scale) is None
