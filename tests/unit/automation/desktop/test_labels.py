"""The label stage on synthetic buttons: font-only scaling, dark faces, and labels inside labels.

Buttons are drawn with OpenCV's Hershey font: a border that keeps its size
and a label whose font grows (what GTK's ``GDK_DPI_SCALE`` does), light and
dark.  The template is always the 100 % light button.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from automation.blocks.desktop import beside_ink, keyface, labels, matching, picking


def button(
    screen: np.ndarray, x: int, y: int, text: str, font: float, *, dark: bool = False
) -> tuple[int, int, int, int]:
    """A 60x34 button at (x, y) with ``text`` centred at font size ``font``; its box."""
    face, ink, rim = (
        ((60, 60, 60), (235, 235, 235), (20, 20, 20))
        if dark
        else (
            (238, 238, 238),
            (30, 30, 30),
            (150, 150, 150),
        )
    )
    w, h = 60, 34
    cv2.rectangle(screen, (x, y), (x + w - 1, y + h - 1), face, -1)
    cv2.rectangle(screen, (x, y), (x + w - 1, y + h - 1), rim, 1)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
    origin = (x + (w - tw) // 2, y + (h + th) // 2)
    cv2.putText(screen, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font, ink, 1, cv2.LINE_AA)
    return x, y, w, h


def keypad(
    font: float, *, dark: bool = False, keys: Sequence[str] = "123456789"
) -> tuple[np.ndarray, dict]:
    """Keys three to a row, one per item of ``keys`` (a string is one key per character)."""
    bg = (45, 45, 45) if dark else (215, 215, 215)
    screen = np.full((400, 700, 3), bg, np.uint8)
    boxes = {}
    for i, key in enumerate(keys):
        boxes[key] = button(screen, 100 + (i % 3) * 70, 80 + (i // 3) * 44, key, font, dark=dark)
    return screen, boxes


def template_of(key: str) -> np.ndarray:
    screen, boxes = keypad(0.5)
    x, y, w, h = boxes[key]
    return screen[y : y + h, x : x + w].copy()


def inside(point: tuple[int, int], box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return x <= point[0] < x + w and y <= point[1] < y + h


def test_the_label_is_the_ink_clear_of_the_crop_edge() -> None:
    label = labels.extract(cv2.cvtColor(template_of("7"), cv2.COLOR_BGR2GRAY))
    assert label is not None and label.dark
    # the border is left out: the label is a small part in the middle of the button
    assert 20 < label.x < 30 and 5 < label.y < 15
    assert label.image.shape[0] < 20 and label.image.shape[1] < 20


def test_a_flat_crop_or_a_crop_of_a_border_has_no_label() -> None:
    screen, (x, y, w, h) = np.full((60, 90), 200, np.uint8), (10, 10, 60, 34)
    cv2.rectangle(screen, (x, y), (x + w - 1, y + h - 1), 90, 1)
    assert labels.extract(screen[y : y + h, x : x + w]) is None


def test_font_only_scaling_finds_the_key_by_its_label() -> None:
    """The label grows by 1.4, the button does not: only the label stage can find it."""
    screen, boxes = keypad(0.7)
    for key in "159":
        result = matching.find(screen, template_of(key))
        assert result.found and result.stage == "label", key
        chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
        assert inside(chosen.center, boxes[key]), (key, chosen)
        assert 1.2 <= chosen.scale <= 1.6


def test_a_dark_theme_with_larger_fonts_finds_the_key() -> None:
    screen, boxes = keypad(0.6, dark=True)
    for key in "37":
        result = matching.find(screen, template_of(key))
        assert result.found, key
        chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
        assert inside(chosen.center, boxes[key]), (key, chosen)


#: A keypad without a "1" key: its only "1"s are parts of longer labels.
DIGITS = ["2", "3", "4", "5", "6", "7", "8", "9"]


def longer(which: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The keypad of ``DIGITS`` and one longer label with a "1" in it: a "10" key, or
    "1/x" written beside the keys; the screen and that label's box."""
    if which == "10":
        screen, boxes = keypad(0.6, keys=[*DIGITS, "10"])
        return screen, boxes["10"]
    screen, _ = keypad(0.6, keys=DIGITS)
    cv2.putText(screen, "1/x", (420, 200), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (30, 30, 30), 1)
    (w, h), _ = cv2.getTextSize("1/x", cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    return screen, (420, 200 - h, w, h + 4)


@pytest.mark.parametrize("which", ["10", "1/x"])
def test_a_label_inside_a_longer_label_is_not_found(
    which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "1" key absent from the screen must not be found inside "10" or "1/x"."""
    screen, box = longer(which)
    result = matching.find(screen, template_of("1"))
    assert not result.found, (result.stage, result.matches)
    # the face beside the "1", clear in the template and not there, is what refuses
    # it: with those checks off (the clear ring, the key's face, the ink right beside
    # the label), the "1" of the longer label is answered
    monkeypatch.setattr(labels, "isolated", lambda *_: True)
    monkeypatch.setattr(keyface, "refusal_reason", lambda *_: None)
    monkeypatch.setattr(beside_ink, "refusal", lambda *_: None)
    unchecked = matching.find(screen, template_of("1"))
    assert unchecked.found and inside(unchecked.matches[0].center, box), unchecked


@pytest.mark.parametrize("which", ["10", "1/x"])
def test_a_1_key_beside_a_longer_label_is_found(which: str) -> None:
    """The same screens with a "1" key of their own: found, and only it."""
    screen, _ = longer(which)
    one = button(screen, 310, 212, "1", 0.6)
    result = matching.find(screen, template_of("1"))
    assert result.found, [r.describe() for r in result.refused]
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, one), chosen


def test_two_equal_labels_are_no_answer_from_the_label_stage() -> None:
    screen, _ = keypad(0.7, keys="1231")
    result = matching.find(screen, template_of("1"))
    assert not result.found, result.matches


def test_a_screen_without_ink_is_searched_without_error() -> None:
    """A region of plain face (nothing to label) is a plain miss, not an OpenCV error."""
    screen = np.full((120, 200, 3), 238, np.uint8)
    assert not matching.find(screen, template_of("7")).found
