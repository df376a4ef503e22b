"""A label's specks (``label_ink``) on screens captured from real apps.

The PNGs under ``keypads/`` come from ``bench_targeting --save`` (real
qalculate-gtk on Xvfb): ``qalculate-light.png`` is qalculate at 100 % (see
``test_absent_captured``), ``qalculate-light-slash.png`` its "∕" key and the
face around it, from the same screen.  The italic "i" label is a slanted
stem and a dot of 2 pixels, too small to be part of the label
(``labels._MIN_INK_AREA``): without its dot the stem is a slash.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import label_ink, labels, matching, picking
from tests.unit.automation.desktop.test_labels_captured import crop, inside, load

#: qalculate-gtk's "i" key on qalculate-light.png (100 %).
I_KEY: tuple[int, int, int, int] = (309, 52, 59, 34)


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
