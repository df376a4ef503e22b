"""Labels told from their look-alikes, on keypads captured from real apps.

The PNGs under ``keypads/`` are screenshots taken on Xvfb by
``tests/benchmarks/bench_targeting.py --save``: galculator (GTK 3) at 100 %
light and at 150 % font scaling (``GDK_DPI_SCALE``, ``galculator-light-150``),
speedcrunch (Qt 5) in its light and its dark style.  Key boxes are the ones
the accessibility bus reported for those screens.

Templates are cut from the 100 % light screens and searched where the toolkit
drew the labels again: only the label stage can find them, and its best place
("3") scores 0.93 while a look-alike ("8", "9") scores 0.83, within the
stage's gap, so it used to refuse.  The strokes where the two keys differ
side with the true key.  With the true key painted out, the look-alikes stay
below the bar and nothing is found.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: galculator's digit keys on galculator-light.png (100 %) and galculator-light-150.png.
GALCULATOR_100: dict[str, Box] = {
    "9": (136, 92, 59, 34),
    "3": (136, 172, 59, 34),
}
GALCULATOR_150: dict[str, Box] = {
    "9": (174, 100, 73, 34),
    "3": (174, 180, 73, 34),
}
#: speedcrunch's digit keys on speedcrunch-light.png and speedcrunch-dark.png.
SPEEDCRUNCH_LIGHT: dict[str, Box] = {"8": (79, 6, 70, 27), "6": (152, 36, 70, 27)}
SPEEDCRUNCH_DARK: dict[str, Box] = {"8": (80, 6, 71, 29), "6": (154, 38, 71, 29)}

CASES = [
    ("galculator-light", GALCULATOR_100, "galculator-light-150", GALCULATOR_150, "3", False),
    ("galculator-light", GALCULATOR_100, "galculator-light-150", GALCULATOR_150, "3", True),
    ("galculator-light", GALCULATOR_100, "galculator-light-150", GALCULATOR_150, "9", False),
    ("speedcrunch-light", SPEEDCRUNCH_LIGHT, "speedcrunch-dark", SPEEDCRUNCH_DARK, "8", False),
    ("speedcrunch-light", SPEEDCRUNCH_LIGHT, "speedcrunch-dark", SPEEDCRUNCH_DARK, "6", False),
]
IDS = [f"{shown}-{key}-{'glyph' if glyph else 'whole'}" for _, _, shown, _, key, glyph in CASES]


@pytest.mark.parametrize(("source", "boxes", "shown", "truth", "key", "glyph"), CASES, ids=IDS)
def test_a_digit_within_the_gap_of_a_look_alike_is_found_on_its_own_key(
    source: str, boxes: dict[str, Box], shown: str, truth: dict[str, Box], key: str, glyph: bool
) -> None:
    template = crop(load(source), boxes[key], glyph=glyph)
    result = matching.find(load(shown), template)
    assert result.found, (key, result.best)
    # speedcrunch's dark keys are found whole, swapped, before their labels (``swapped``)
    assert result.stage in ("label", "inverted"), result.stage
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, truth[key]), (key, chosen)


@pytest.mark.parametrize(("source", "boxes", "shown", "truth", "key", "glyph"), CASES, ids=IDS)
def test_with_the_digit_painted_out_its_look_alikes_are_not_found(
    source: str, boxes: dict[str, Box], shown: str, truth: dict[str, Box], key: str, glyph: bool
) -> None:
    template = crop(load(source), boxes[key], glyph=glyph)
    result = matching.find(blank(load(shown), truth[key]), template)
    assert not result.found, (key, result.stage, result.matches)


#: speedcrunch's "cos" and "arccos" keys on speedcrunch-light.png and speedcrunch-dark.png.
COS_LIGHT: dict[str, Box] = {"cos": (517, 66, 70, 27), "arccos": (590, 66, 70, 27)}
COS_DARK: dict[str, Box] = {"cos": (524, 70, 71, 29), "arccos": (598, 70, 71, 29)}


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_letters_joined_in_the_template_and_apart_on_screen_are_found(glyph: bool) -> None:
    """In the light style anti-aliasing joins "cos" into one blob of ink; the dark
    style draws its letters apart, so no screen ink had the blob's shape and the
    label was never even proposed.  The blob's tallest piece at twice the ink
    contrast (one letter) proposes it too.  With the key painted out, "cos" in
    "arccos" is not it."""
    template = crop(load("speedcrunch-light"), COS_LIGHT["cos"], glyph=glyph)
    result = matching.find(load("speedcrunch-dark"), template)
    assert result.found, result.best
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, COS_DARK["cos"]), chosen
    gone = matching.find(blank(load("speedcrunch-dark"), COS_DARK["cos"]), template)
    assert not gone.found, (gone.stage, gone.matches)


def test_the_same_label_at_two_sizes_is_not_told_apart() -> None:
    """qalculate's "x" key and another "x" on its dark keypad (``qalculate-dark-x-row``,
    100 %, Adwaita dark; the template cut from the light theme) both score 0.986, at
    scales 0.96 and 1.04.  Brought to one size, the other place's blur made the wrong
    one look closer: the same label at two sizes is a question of size, which the
    differing pixels cannot settle, so it stays unanswered, never the other "x"."""
    screen = load("qalculate-dark-x-row")
    result = matching.find(screen, load("qalculate-x-light"))
    if result.found:
        chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
        assert inside(chosen.center, (62, 180, 59, 34)), chosen
