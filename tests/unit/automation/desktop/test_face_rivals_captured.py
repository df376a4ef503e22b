"""Look-alikes without a whole key's face are no places of its label (``small_ink.faced``).

``qalculate-light-125.png`` is part of qalculate-gtk's keypad at 125 %
(font-only scaling), light, from the targeting benchmark's saved screens;
``qalculate-divide-light.png`` is its "∕" key at 100 %, cut whole, and
``qalculate-x-light.png`` its "x" key, cut whole (the glyph crop is cut from
it as the benchmark cuts one).
"""

from __future__ import annotations

import cv2
import pytest

from automation.blocks.desktop import labels, matching, picking, small_ink
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: qalculate's "∕" key, its "a ∕ b" key and its "x" key on qalculate-light-125.png.
DIVIDE_125: Box = (732, 113, 54, 46)
A_OVER_B_125: Box = (240, 22, 148, 34)
X_125: Box = (22, 225, 74, 36)


def _no_face(gray_tpl: object, label: labels.Label | None) -> labels.Label | None:
    return label


def test_a_look_alike_without_the_key_s_face_does_not_hide_the_key() -> None:
    """At 125 % the "∕" key's label scores 0.934 and the "/" of the "a ∕ b" key 0.935,
    within the gap; the "a ∕ b" key shows an "a" and a "b" where the "∕" key's
    template shows face out to its border."""
    result = matching.find(load("qalculate-light-125"), load("qalculate-divide-light"))
    assert result.found, (result.best, result.refused)
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, DIVIDE_125), chosen
    assert not inside(chosen.center, A_OVER_B_125)


def test_without_the_face_the_look_alike_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(small_ink, "with_face", _no_face)
    result = matching.find(load("qalculate-light-125"), load("qalculate-divide-light"))
    assert not result.found, result.matches


def test_with_the_key_gone_its_look_alike_is_not_answered() -> None:
    screen = blank(load("qalculate-light-125"), DIVIDE_125)
    result = matching.find(screen, load("qalculate-divide-light"))
    assert not result.found, (result.stage, result.matches)


def test_a_glyph_crop_carries_no_face() -> None:
    """A glyph crop's face ends at the crop's edge, not at a border: with the "x" key
    painted out, the look-alikes without its face ("x =", "xʸ") dropped, its glyph
    crop was answered by the "×" key (0.895, label-soft)."""
    glyph = crop(load("qalculate-x-light"), (0, 0, 59, 34), glyph=True)
    gray = cv2.cvtColor(glyph, cv2.COLOR_BGR2GRAY)
    assert small_ink.with_face(gray, labels.extract(gray)).face is None  # type: ignore[union-attr]
    result = matching.find(blank(load("qalculate-light-125"), X_125), glyph)
    assert not result.found, (result.stage, result.matches)


def test_a_glyph_crop_given_a_face_is_answered_by_a_look_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why a glyph crop gets no face: given one, its look-alikes that lack it stop
    standing in the way of the one that has it."""
    monkeypatch.setattr(
        small_ink, "frame", lambda *args: small_ink.Frame((1, 1, 1, 1), (0, 0, 1, 1))
    )
    glyph = crop(load("qalculate-x-light"), (0, 0, 59, 34), glyph=True)
    result = matching.find(blank(load("qalculate-light-125"), X_125), glyph)
    assert result.found and not inside(result.matches[0].center, X_125), result.matches
