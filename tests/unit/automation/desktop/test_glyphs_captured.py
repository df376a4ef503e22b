"""Labels of several letters re-hinted at a larger font, verified letter by letter.

``galculator-light.png`` is galculator's keypad (GTK 3, Debian) at 100 % light,
``galculator-dark-125.png`` the same at 125 % font scaling (``GDK_DPI_SCALE``)
in Adwaita dark, both taken on Xvfb by ``tests/benchmarks/bench_targeting.py
--save``; the key boxes are the accessibility bus's.

At 125 % GTK draws "MS", "MR" and "M+" again with each letter on its own whole
pixel: the label as one image correlates 0.65 sharp and 0.8 blurred, under
the bar, while each letter alone correlates about 0.9.  Every letter must
pass: "MR" scores about 0.6 on the "S" of "MS", so the three keys, which
share the "M" and the arrow, are never taken for each other.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

LIGHT: dict[str, Box] = {"MS": (136, 52, 59, 34), "MR": (201, 52, 59, 34), "M+": (266, 52, 59, 34)}
DARK_125: dict[str, Box] = {
    "MS": (154, 52, 68, 34),
    "MR": (228, 52, 68, 34),
    "M+": (302, 52, 68, 34),
}


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize("key", ["MS", "MR"])
def test_a_re_hinted_word_is_found_letter_by_letter(key: str, glyph: bool) -> None:
    template = crop(load("galculator-light"), LIGHT[key], glyph=glyph)
    result = matching.find(load("galculator-dark-125"), template)
    assert result.found, (key, result.best)
    assert result.matches[0].method == "label-glyphs", result.matches[0]
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, DARK_125[key]), (key, chosen)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize("key", ["MS", "MR", "M+"])
def test_with_the_key_painted_out_its_neighbours_are_not_it(key: str, glyph: bool) -> None:
    """The other memory keys share the "M" and the arrow: not found."""
    template = crop(load("galculator-light"), LIGHT[key], glyph=glyph)
    result = matching.find(blank(load("galculator-dark-125"), DARK_125[key]), template)
    assert not result.found, (key, result.stage, result.matches)
