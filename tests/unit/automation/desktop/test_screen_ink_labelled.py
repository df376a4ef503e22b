"""The screen's ink components are OpenCV's, whichever label type counts them."""

from __future__ import annotations

import cv2
import numpy as np

from automation.blocks.desktop import matching, screen_ink
from tests.unit.automation.desktop.test_labels_captured import load


def test_the_ink_of_a_captured_screen_has_the_components_opencv_finds() -> None:
    gray = matching.to_gray(load("galculator-dark-200"))
    for dark in (True, False):
        mask = screen_ink.ink_mask(gray, dark)
        for image in (mask, cv2.dilate(mask, np.ones((3, 5), np.uint8))):
            count, _, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=8)
            got_count, got = screen_ink.labelled(image)
            assert count > 20
            assert got_count == count
            assert np.array_equal(got, stats)


def test_more_components_than_sixteen_bits_count_are_counted_in_thirty_two() -> None:
    dots = np.zeros((600, 600), np.uint8)
    dots[::2, ::2] = 255  # 90,000 single pixels
    count, stats = screen_ink.labelled(dots)
    assert count == 90_001
    assert np.array_equal(stats, cv2.connectedComponentsWithStats(dots, connectivity=8)[2])
