"""Absent keys on keypads captured from real apps: refused, never answered by a look-alike.

The PNGs under ``keypads/`` are screenshots of galculator (GTK 3, Debian) on
Xvfb, taken by ``tests/benchmarks/bench_targeting.py --save``:
``galculator-light.png`` at 100 %, ``galculator-light-150.png`` at 150 %
(part of the screen: the keypad).  Key boxes are the ones the accessibility
bus reported for those screens.  Templates are cut from the 100 % screen as a
user captures them (whole key, or glyph only), then the key is painted over in
its face colour, as ``bench_absent_targets`` does: any answer is a wrong click.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import matching, picking
from tests.unit.automation.desktop.test_labels_captured import blank, crop, inside, load

#: galculator's keys (x, y, width, height) on galculator-light.png (100 %).
THREE: tuple[int, int, int, int] = (136, 172, 59, 34)
EIGHT: tuple[int, int, int, int] = (71, 92, 59, 34)
PLUS: tuple[int, int, int, int] = (201, 212, 59, 34)
#: The same app at 150 % (galculator-light-150.png): its "+" key.
PLUS_150: tuple[int, int, int, int] = (253, 220, 73, 34)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_blanked_3_is_not_answered_by_the_8_key(glyph: bool) -> None:
    """The "3" template correlates 0.916 whole (0.877 glyph-only) with the "8" key,
    face and border alike, and its label 0.852 with the "8": the direct stage,
    then the label stage, answered the "8".  Blurred, the label scores 0.842
    there (an "8" is a "3" and more): refused, with the "8" named as evidence."""
    screen = load("galculator-light")
    template = crop(screen, THREE, glyph=glyph)
    result = matching.find(blank(screen, THREE), template)
    assert not result.found, (result.stage, result.matches)
    assert result.refused, "the refused look-alike is the evidence"
    refused = result.refused[0]
    assert inside(refused.match.center, EIGHT), refused
    assert "refused" in refused.describe() and "label" in refused.reason


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_the_3_key_itself_is_still_found(glyph: bool) -> None:
    screen = load("galculator-light")
    result = matching.find(screen, crop(screen, THREE, glyph=glyph))
    assert result.found and not result.refused, result.refused
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, THREE), chosen


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_blanked_plus_is_not_found_inside_m_plus(glyph: bool) -> None:
    """At 150 % the "M" of "M+" stands 6 pixels left of its "+": clear of the
    template's ring of 5 pixels, but not of that ring at the label's scale (1.32).
    The label stage answered the "M+" key; the "+" of a longer label is not it."""
    template = crop(load("galculator-light"), PLUS, glyph=glyph)
    screen = blank(load("galculator-light-150"), PLUS_150)
    result = matching.find(screen, template)
    assert not result.found, (result.stage, result.matches)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_the_plus_key_at_150_is_still_found(glyph: bool) -> None:
    template = crop(load("galculator-light"), PLUS, glyph=glyph)
    result = matching.find(load("galculator-light-150"), template)
    assert result.found, result.best
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, PLUS_150), chosen
