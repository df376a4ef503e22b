"""A label's specks and stroke widths (``label_ink``) on screens captured from real apps.

The PNGs under ``keypads/`` come from ``bench_targeting --save`` (real
qalculate-gtk and speedcrunch on Xvfb): ``qalculate-light.png`` is qalculate
at 100 % (see ``test_absent_captured``), ``qalculate-light-slash.png`` its
"∕" key and the face around it, ``qalculate-light-7.png`` its "7" key, from
the same screen; ``qalculate-light-200-comma.png`` and
``qalculate-dark-200-comma.png`` are its help line at 200 %, light and dark
('"5 + 2 / 3",'), ending in a comma.  The italic "i" label is a slanted stem
and a dot of 2 pixels, too small to be part of the label
(``labels._MIN_INK_AREA``): without its dot the stem is a slash.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import label_ink, labels, matching, picking
from tests.unit.automation.desktop.test_labels_captured import (
    SPEEDCRUNCH_DARK,
    SPEEDCRUNCH_LIGHT,
    crop,
    inside,
    load,
)

#: qalculate-gtk's "i" key on qalculate-light.png (100 %).
I_KEY: tuple[int, int, int, int] = (309, 52, 59, 34)
#: The "7" key: all of qalculate-light-7.png.
SEVEN: tuple[int, int, int, int] = (0, 0, 56, 44)


def test_the_dot_of_the_i_is_a_speck_beside_its_label() -> None:
    template = matching.to_gray(crop(load("qalculate-light"), I_KEY, glyph=True))
    label = labels.extract(template)
    assert label is not None
    specks = label_ink.specks(template, label)
    assert len(specks) == 1, specks
    assert specks[0][1] < label.ink[1], "the dot lies above the stem"


def test_an_absent_i_is_not_answered_by_the_slash_key() -> None:
    """The stem scores 0.932 blurred on the "∕" at 1.6, every other check passed;
    where its dot would be, the "∕" key shows plain face: refused, and said so."""
    template = crop(load("qalculate-light"), I_KEY, glyph=True)
    result = matching.find(load("qalculate-light-slash"), template)
    assert not result.found, (result.stage, result.matches)
    assert result.refused and "speck" in result.refused[0].reason, result.refused


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_the_i_key_itself_is_still_found(glyph: bool) -> None:
    screen = load("qalculate-light")
    result = matching.find(screen, crop(screen, I_KEY, glyph=glyph))
    assert result.found, result.refused
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, I_KEY), chosen


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_an_absent_7_is_not_answered_by_a_comma_of_larger_text(theme: str, glyph: bool) -> None:
    """The "7" at 0.68 (0.72 dark) is a slanted blob of 6 by 4 pixels, and the
    comma of the 200 % help line scored 0.850 blurred, every check passed; the
    comma's head is 3 pixels of full ink wide, no stroke of the "7" over 2."""
    template = crop(load("qalculate-light-7"), SEVEN, glyph=glyph)
    result = matching.find(load(f"qalculate-{theme}-200-comma"), template)
    assert not result.found, (result.stage, result.matches)
    assert result.refused and "wider strokes" in result.refused[0].reason, result.refused


def test_stroke_depth_reads_the_comma_deeper_than_the_7() -> None:
    template = matching.to_gray(crop(load("qalculate-light-7"), SEVEN))
    label = labels.extract(template)
    assert label is not None
    assert label_ink.stroke_depth(label.image, label.dark, label_ink.HALF_INK) == 1
    comma = matching.to_gray(load("qalculate-light-200-comma"))[26:38, 170:181]
    assert label_ink.stroke_depth(comma, True, label_ink.CORE_INK) == 2


def test_a_smaller_dark_label_whose_ink_spreads_is_still_found() -> None:
    """Speedcrunch's dark style draws the "÷" 0.88 times as large, its light dots
    over a third column at about 0.6 of full ink: read at half ink they were 3
    pixels wide, and the key was refused; their core is 2, as captured."""
    template = crop(load("speedcrunch-light"), SPEEDCRUNCH_LIGHT["÷"])
    result = matching.find(load("speedcrunch-dark"), template)
    assert result.found, result.refused
    assert result.matches[0].scale < 1 - 0.1, result.matches[0]
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, SPEEDCRUNCH_DARK["÷"]), chosen
