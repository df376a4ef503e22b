"""The clear ring around a label, read on screen as the template reads it.

``keypads/galculator-dark.png`` is galculator (GTK 3, Debian) at 100 % in
Adwaita dark on Xvfb, taken by ``tests/benchmarks/bench_targeting.py
--save``: its top rows of keys, dark boxes on a dark window.  Key boxes are
the ones the accessibility bus reported for that screen.

A key cropped with a few pixels of the window around it, as a user drags a
box loosely, has one piece of ink clear of the crop's edge: the key's own
border, so that border is its label (``labels.extract``), and the key's face
inside it and the window's outside are its clear ring.  Judged against the
screen's local means, which take in the window's lighter grey around the
key, that ring read as ink, and the exact key was refused as "part of a
longer label"; only a special case for answers scoring 0.995 at their own
size let it through, so the same key drawn a shade lighter (under the
pointer) was not found.  Read against the face of the template's box, as
``extract`` reads the template, the ring is clear at any score.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from automation.blocks.desktop import labels, matching, picking, screen_ink
from tests.unit.automation.desktop.test_labels_captured import Box, inside, load

#: galculator's keys (x, y, width, height) on galculator-dark.png.
KEYS: dict[str, Box] = {"C": (185, 30, 50, 34), "AC": (241, 30, 52, 34), "<-": (299, 30, 50, 34)}
#: Pixels of the window around the key in a loose crop.
LOOSE = 6


def loose(screen: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return screen[y - LOOSE : y + h + LOOSE, x - LOOSE : x + w + LOOSE].copy()


@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_loose_crop_reads_its_ring_clear_where_it_was_cut(key: str) -> None:
    screen = load("galculator-dark")
    gray = cv2.cvtColor(screen, cv2.COLOR_BGR2GRAY)
    label = labels.extract(cv2.cvtColor(loose(screen, KEYS[key]), cv2.COLOR_BGR2GRAY))
    assert label is not None and label.ring != (0, 0, 0, 0)
    x, y = KEYS[key][0] - LOOSE + label.x, KEYS[key][1] - LOOSE + label.y
    assert labels.isolated(screen_ink.ScreenInk(gray), label, x, y, 1.0, label.dark)


@pytest.mark.parametrize("lighter", [0, 8], ids=["as-captured", "a-shade-lighter"])
@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_loosely_cropped_key_is_found(key: str, lighter: int) -> None:
    """At its own size, as captured (score 1.0) and with its face a shade lighter,
    as a hovered key is drawn (score about 0.97)."""
    screen = load("galculator-dark")
    template = loose(screen, KEYS[key])
    x, y, w, h = KEYS[key]
    face = screen[y + 2 : y + h - 2, x + 2 : x + w - 2].astype(np.int16) + lighter
    screen[y + 2 : y + h - 2, x + 2 : x + w - 2] = np.clip(face, 0, 255).astype(np.uint8)
    result = matching.find(screen, template)
    assert result.found, [r.describe() for r in result.refused]
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, KEYS[key]), chosen
