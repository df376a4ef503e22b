"""A label that fills its crop, and a word whose icon keeps its size.

``qalculate-toggles-light.png`` is part of qalculate-gtk's window (GTK 3,
Debian) at 100 % light: the "Keypad" toggle above the keypad and its first
row; ``qalculate-toggles-light-150.png`` and ``qalculate-toggles-dark-150.png``
the same part at 150 % font scaling (``GDK_DPI_SCALE``), light and Adwaita
dark, all taken on Xvfb by ``tests/benchmarks/bench_targeting.py --save``.
The key boxes are the accessibility bus's.

The glyph-only crop of "a(x)ᵇ" is cut tight round its ink: the label was
the whole crop, and a label of more than 80 % of its crop was not cut at all,
so the label stage never looked for it.  The "Keypad" toggle's menu arrow
keeps its size at 150 % while the word grows: the whole ink, proposed by its
left end (the arrow's), fell 6 pixels from the word; proposed by its right
end too, it is found letter by letter.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import labels, matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: The keys on qalculate-toggles-light.png (100 %).
LIGHT: dict[str, Box] = {"Keypad": (12, 8, 64, 17), "a(x)b": (309, 74, 59, 35)}
#: The same keys on qalculate-toggles-light-150.png and qalculate-toggles-dark-150.png.
AT_150: dict[str, Box] = {"Keypad": (32, 31, 90, 24), "a(x)b": (404, 108, 84, 40)}
#: (key, glyph-only crop) of each case.
CASES = [("a(x)b", True), ("Keypad", False)]


def _template(key: str, glyph: bool) -> np.ndarray:
    return crop(load("qalculate-toggles-light"), LIGHT[key], glyph=glyph)


def test_a_glyph_crop_cut_tight_round_its_label_has_a_label() -> None:
    template = _template("a(x)b", True)
    label = labels.extract(template.mean(axis=2).astype(np.uint8))
    assert label is not None
    height, width = template.shape[:2]
    assert label.image.size > 0.8 * height * width


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("key", "glyph"), CASES, ids=[f"{k}-{g}" for k, g in CASES])
def test_found_at_150_percent(key: str, glyph: bool, theme: str) -> None:
    result = matching.find(load(f"qalculate-toggles-{theme}-150"), _template(key, glyph))
    assert result.found, (key, result.best)
    assert result.stage == "label", result.matches[0]
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, AT_150[key]), (key, chosen)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("key", "glyph"), CASES, ids=[f"{k}-{g}" for k, g in CASES])
def test_with_the_key_painted_out_nothing_is_found(key: str, glyph: bool, theme: str) -> None:
    screen = blank(load(f"qalculate-toggles-{theme}-150"), AT_150[key])
    result = matching.find(screen, _template(key, glyph))
    assert not result.found, (key, result.stage, result.matches)
