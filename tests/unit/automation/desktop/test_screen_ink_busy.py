"""The screen's ink mask is thresholded over its busy part only, and is the whole
screen's mask bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, screen_ink
from tests.unit.automation.desktop.test_keypad import keypad
from tests.unit.automation.desktop.test_labels_captured import load
from tests.unit.automation.desktop.test_matching_pruning import on_plain_desktop


def screens() -> dict[str, np.ndarray]:
    keys, _ = keypad()
    return {
        "captured": matching.to_gray(load("galculator-dark-200")),
        # a keypad on a plain desktop: most of the screen is outside the busy part,
        # at the screen's corner and edges as well as inside
        "desktop": matching.to_gray(on_plain_desktop(keys, (700, 300))),
        "corner": matching.to_gray(on_plain_desktop(keys, (0, 0))),
        "small": matching.to_gray(load("galculator-light"))[40:60, 30:70],
        "plain": np.full((40, 60), 200, np.uint8),
    }


@pytest.mark.parametrize("name", sorted(screens()))
@pytest.mark.parametrize("dark", [True, False])
def test_the_ink_of_the_busy_part_is_the_whole_screens(name: str, dark: bool) -> None:
    gray = screens()[name]
    expected = screen_ink.ink_mask(gray, dark)
    assert np.array_equal(screen_ink.ScreenInk(gray).mask(dark), expected)
    if name != "plain":  # something to compare: ink of one polarity or the other
        assert expected.any() or screen_ink.ink_mask(gray, not dark).any()
