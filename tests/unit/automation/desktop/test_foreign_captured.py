"""Keys whose label is nowhere on screen, answered on another glyph at another size.

``galculator-light-display.png`` is galculator's display (GTK 3, 100 %, light,
cut from the targeting benchmark's saved screen): a bold "0" on white.  The
templates are synthetic keys (``test_keypad.keypad``, OpenCV's Hershey font)
with labels no calculator shows, as ``bench_absent_targets --foreign`` draws
them.  Nothing on the display is any of them, so every answer is wrong; the
label stage and the scale stage answered a "G" and a "U" on the "0" at 1.6 to
1.75 times their size (``label_shape``).

``galculator-light-7.png`` is galculator's "7" key at 100 %, light: a "?"
shrunk to 0.56, below the label stage's sizes, answered it.

The "Q" key answered the display's "0" at 1.56 (label stage, 0.898 blurred):
its ring of ink is the "0"'s, and only its tail, 2 pixels deep, has no ink
there (``label_shape.unexplained_ink``).

``speedcrunch-dark.png`` is speedcrunch's keypad at 100 %, dark: a dark "?"
key fits its "7" key best at 0.88 to 0.96, where the key's box reaches past
the "7" key's border, and was answered at 0.84 (0.873 blurred), where it does
not (``face_fit``).
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import (
    cut_holes,
    dots,
    face_fit,
    label_shape,
    labels,
    matching,
    small_ink,
    stroke_directions,
)
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import load


def foreign_key(label: str, glyph: bool) -> np.ndarray:
    screen, boxes = keypad(labels=FOREIGN_LABELS)
    return crop(screen, boxes[label], glyph=glyph)


@pytest.mark.parametrize(
    ("label", "glyph"), [("G", False), ("G", True), ("U", False)], ids=["G", "G-glyph", "U"]
)
def test_a_label_open_where_the_screen_s_ink_is_closed_is_not_answered(
    label: str, glyph: bool
) -> None:
    result = matching.find(load("galculator-light-display"), foreign_key(label, glyph))
    assert not result.found, (result.stage, result.matches)
    assert any("encloses" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize(
    ("label", "glyph"), [("G", False), ("G", True), ("U", False)], ids=["G", "G-glyph", "U"]
)
def test_without_the_enclosure_check_at_other_sizes_the_0_is_answered(
    label: str, glyph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above is what refuses: with it off, the display's "0" is the answer
    (once the depth check, which refuses the "G" and "U" there too, is off as well,
    and ``cut_holes``, which sees the same holes from a wider window)."""
    monkeypatch.setattr(label_shape, "enclosed_face", lambda *args: None)
    monkeypatch.setattr(label_shape, "unexplained_ink", lambda *args: None)
    monkeypatch.setattr(cut_holes, "refusal", lambda *args: None)
    result = matching.find(load("galculator-light-display"), foreign_key(label, glyph))
    assert result.found, result.refused
    assert abs(result.matches[0].scale - 1.0) > 0.5, result.matches


def test_a_glyph_cropped_tight_is_checked_on_its_whole_ink() -> None:
    """The "G" glyph's ink touches its crop, so it has no label clear of the edge;
    without ``label_shape.unframed`` its answer is not checked at all."""
    template = foreign_key("G", glyph=True)
    assert label_shape.unframed(matching.to_gray(template)) is not None
    screen = load("galculator-light-display")
    assert not matching.find(screen, template).found
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(label_shape, "unframed", lambda gray: None)
        assert matching.find(screen, template).found


def test_the_label_stage_tries_no_size_below_its_own() -> None:
    """A "?" proposed at 0.6 and tried a step below, at 0.56, answered the "7" key."""
    result = matching.find(load("galculator-light-7"), foreign_key("?", glyph=True))
    assert not result.found, (result.stage, result.matches)
    assert result.best is None or result.best.scale >= labels.MIN_SCALE, result.best


def test_below_the_label_stage_s_sizes_the_7_answers_the_question_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(With the dot check off too: the "7" draws its stem through the "?"'s dot, ``dots``.)"""
    monkeypatch.setattr(labels, "MIN_SCALE", 0.56)
    monkeypatch.setattr(dots, "joined", lambda *args: None)
    result = matching.find(load("galculator-light-7"), foreign_key("?", glyph=True))
    assert result.found, result.refused
    assert result.matches[0].scale < 0.6, result.matches


def test_a_label_with_a_stroke_the_screen_lacks_is_not_answered_at_another_size() -> None:
    result = matching.find(load("galculator-light-display"), foreign_key("Q", glyph=False))
    assert not result.found, (result.stage, result.matches)
    assert any("pixels deep" in r.reason for r in result.refused), result.refused


def test_without_the_depth_check_the_0_answers_the_q(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(label_shape, "unexplained_ink", lambda *args: None)
    result = matching.find(load("galculator-light-display"), foreign_key("Q", glyph=False))
    assert result.found, result.refused
    assert result.matches[0].method.startswith("label"), result.matches
    assert abs(result.matches[0].scale - 1.0) > 0.5, result.matches


def dark_question_key() -> np.ndarray:
    screen, boxes = keypad(dark=True, labels=FOREIGN_LABELS)
    return crop(screen, boxes["?"], glyph=False)


def test_a_place_whose_best_fit_shows_no_key_face_is_not_answered_at_a_lesser_fit() -> None:
    result = matching.find(load("speedcrunch-dark"), dark_question_key())
    assert not result.found, (result.stage, result.matches)


def test_judging_the_face_size_by_size_answers_the_7_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The face judged at each size on its own: the lesser fit at 0.84 answers (once the
    dot check, ``dots``, and the strokes' directions, ``stroke_directions``, which
    refuse it there too, are off as well)."""

    def each_size(ink: object, label: labels.Label, places: list, size: object) -> list:
        return [p for p in places if small_ink.faced(ink, label, p[0], p[1], p[3])]  # type: ignore[arg-type]

    monkeypatch.setattr(face_fit, "at_best_fit", each_size)
    monkeypatch.setattr(dots, "joined", lambda *args: None)
    monkeypatch.setattr(stroke_directions, "refusal", lambda *args: None)
    result = matching.find(load("speedcrunch-dark"), dark_question_key())
    assert result.found, result.refused
    assert result.matches[0].method.startswith("label"), result.matches
    assert result.matches[0].scale < 0.88, result.matches
