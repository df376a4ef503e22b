"""Labels of several pieces whose pieces another size joins or parts, and a label
told from a look-alike that lacks one of its pieces.

``qalculate-light-125.png`` and ``qalculate-light-150.png`` are parts of
qalculate-gtk's window (GTK 3, Debian) at 125 % and 150 % font scaling
(``GDK_DPI_SCALE``), taken on Xvfb by ``tests/benchmarks/bench_targeting.py
--save``; ``qalculate-light.png`` is its keypad at 100 %, and
``qalculate-exact-light.png`` and ``qalculate-fx-light.png`` its "Exact" and
"f(x)" buttons at 100 %, cut from the same capture.  The key boxes are the
accessibility bus's.

At 100 % the "E" and the "x" of "Exact" touch, at 150 % they stand apart; at
100 % the "+" and the bar of "±" are apart, at 125 % one piece.  The label
stage proposes places by a label's tallest piece of ink, so no piece on
screen was shaped like it and nothing was found.  A label of several pieces
is now also proposed by its whole ink (the screen's ink grouped across small
gaps).  The "x̄" key scores within the gap of the "x" keys as a whole label;
the "x" keys lack its bar, so they are no rivals.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: The templates' keys on qalculate-light.png (100 %).
LIGHT: dict[str, Box] = {"x̄": (111, 14, 59, 34), "±": (422, 74, 53, 43)}
#: The same keys on qalculate-light-125.png and qalculate-light-150.png.
AT: dict[str, dict[str, Box]] = {
    "125": {
        "Exact": (75, 22, 159, 34),
        "f(x)": (136, 65, 74, 36),
        "x̄": (136, 145, 74, 36),
        "±": (492, 209, 54, 45),
    },
    "150": {
        "Exact": (77, 21, 175, 38),
        "f(x)": (146, 68, 84, 40),
        "x̄": (146, 156, 84, 39),
        "±": (532, 224, 62, 49),
    },
}
CASES = [("Exact", "125"), ("Exact", "150"), ("f(x)", "125"), ("±", "125"), ("x̄", "150")]


def template(key: str, glyph: bool) -> np.ndarray:
    if key == "Exact":
        whole = load("qalculate-exact-light")
    elif key == "f(x)":
        whole = load("qalculate-fx-light")
    else:
        return crop(load("qalculate-light"), LIGHT[key], glyph=glyph)
    height, width = whole.shape[:2]
    return crop(whole, (0, 0, width, height), glyph=glyph)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize(("key", "size"), CASES)
def test_a_label_whose_pieces_join_or_part_is_found(key: str, size: str, glyph: bool) -> None:
    result = matching.find(load(f"qalculate-light-{size}"), template(key, glyph))
    assert result.found, (key, size, result.best, result.refused)
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, AT[size][key]), (key, chosen)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize(("key", "size"), CASES)
def test_with_the_key_painted_out_nothing_else_is_it(key: str, size: str, glyph: bool) -> None:
    """The "+" key, the "x" keys, "f(x)"'s other "x": not found."""
    screen = blank(load(f"qalculate-light-{size}"), AT[size][key])
    result = matching.find(screen, template(key, glyph))
    assert not result.found, (key, size, result.stage, result.matches)


#: galculator's "3" key on galculator-light.png (100 %) and galculator-dark-200.png
#: (``GDK_SCALE=2``, Adwaita dark, cut from the same kind of capture).
THREE: Box = (136, 172, 59, 34)
THREE_200: Box = (270, 342, 118, 68)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_blob_that_fits_only_blurred_is_no_rival(glyph: bool) -> None:
    """At 200 % dark the "3" scores 0.907 blurred and 0.805 sharp on its key; a
    small blob elsewhere scores 0.818 blurred but 0.61 sharp, which the sharp
    verification would not even list: it no longer makes the answer ambiguous."""
    template = crop(load("galculator-light"), THREE, glyph=glyph)
    result = matching.find(load("galculator-dark-200"), template)
    assert result.found, (result.best, result.refused)
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, THREE_200), chosen
    absent = matching.find(blank(load("galculator-dark-200"), THREE_200), template)
    assert not absent.found, (absent.stage, absent.matches)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_word_is_not_found_where_one_of_its_pieces_is_missing(glyph: bool) -> None:
    """qalculate's "x!" (``qalculate-xfact-light.png``, 100 % light) on its dark
    keypad at 100 % (``qalculate-dark-xy.png``) without its "x!" key: proposed by its
    whole ink on the "xʸ" key, its "x" and its "!" fit the "x" and the "y" there
    letter by letter; the dot of the "!" has nothing under it, so not found."""
    whole = load("qalculate-xfact-light")
    height, width = whole.shape[:2]
    template = crop(whole, (0, 0, width, height), glyph=glyph)
    result = matching.find(load("qalculate-dark-xy"), template)
    assert not result.found, (result.stage, result.matches)
