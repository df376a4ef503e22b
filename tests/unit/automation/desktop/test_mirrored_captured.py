"""A label that is its own mirror image is not answered on a glyph that is not.

``qalculate-light-125.png`` and ``qalculate-light-150.png`` are qalculate-gtk's
keypad at 125 and 150 % (light), cut from the targeting benchmark's saved
screens; its "u" key is at ``U_KEY``.  The template is a synthetic key
(``test_keypad.keypad``, OpenCV's Hershey font) with a label no calculator
shows, as ``bench_absent_targets --foreign`` draws it.  The "U" glyph
answered the "u" key: the scales stage at 0.67 on the 125 % keypad (colour,
0.859) and at 0.8 on the 150 % one (0.913), every other check passed
(``mirrored``).
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, mirrored
from automation.blocks.desktop.verification import _ink_share
from tests.unit.automation.desktop.test_keypad import FOREIGN_LABELS, crop, keypad
from tests.unit.automation.desktop.test_labels_captured import Box, inside, load

#: The "u" key on each keypad, and the scale the "U" was answered at without the check.
U_KEY: dict[str, tuple[Box, float]] = {
    "qalculate-light-125": ((22, 265, 74, 36), 0.67),
    "qalculate-light-150": ((22, 285, 84, 39), 0.8),
}


def u_glyph() -> np.ndarray:
    screen, boxes = keypad(dark=False, labels=FOREIGN_LABELS)
    return crop(screen, boxes["U"], glyph=True)


@pytest.mark.parametrize("name", sorted(U_KEY))
def test_the_u_is_not_answered_on_the_lowercase_u_key(name: str) -> None:
    result = matching.find(load(name), u_glyph())
    assert not result.found, (result.stage, result.matches)
    assert any("mirror image" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize("name", sorted(U_KEY))
def test_without_the_mirror_check_the_lowercase_u_answers_the_u(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirrored, "refusal", lambda *args: None)
    result = matching.find(load(name), u_glyph())
    assert result.found, result.refused
    key, scale = U_KEY[name]
    assert result.matches[0].scale == scale, result.matches
    assert inside(result.matches[0].center, key), result.matches


@pytest.mark.parametrize("name", sorted(U_KEY))
def test_the_u_is_its_own_mirror_image_and_the_lowercase_u_is_not(name: str) -> None:
    """The likeness of each, as ``verification.check`` reads them (the label resized to
    the answer's scale, the screen where it puts it): the loss is past ``MAX_LOSS``."""
    seen: list[tuple[float, float]] = []
    refusal = mirrored.refusal

    def spy(label: np.ndarray, label_dark: bool, here: np.ndarray, dark: bool) -> str | None:
        ours = mirrored.mirror_likeness(_ink_share(label, label_dark))
        seen.append((ours, mirrored.mirror_likeness(_ink_share(here, dark))))
        return refusal(label, label_dark, here, dark)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mirrored, "refusal", spy)
        matching.find(load(name), u_glyph())
    ours, theirs = seen[0]
    assert ours >= 0.9, seen
    assert theirs < ours - mirrored.MAX_LOSS, seen


def test_a_blank_patch_has_no_likeness() -> None:
    assert mirrored.mirror_likeness(np.zeros((5, 5), np.float32)) == -1.0
