"""A label whose pieces are drawn at their own size on a bigger key (``own_size``).

``qalculate-arrows-light.png`` is qalculate-gtk's "‹ ›" push button at 100 %,
light; ``qalculate-arrows-light-150.png`` and ``qalculate-arrows-dark-150.png``
the same key at 150 % with its neighbours: parts of screens
``tests/benchmarks/bench_targeting.py --save`` stored.  At 150 % the key is
1.17 times as wide, its arrows pixel for pixel as at 100 %, 24 pixels apart
instead of 19: no single scale fits the whole crop.  ``qalculate-chevrons-light.png``
and ``qalculate-chevrons-light-150.png`` are the "⌄ ⌃" key above it, alike.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import keyface, labels, matching, own_size, picking
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load
from tests.unit.automation.desktop.test_swapped_pieces_captured import ARROWS, ARROWS_DARK_150

SCREENS = ["qalculate-arrows-light-150", "qalculate-arrows-dark-150"]
#: The "⌄ ⌃" key on qalculate-chevrons-light.png (100 %) and -light-150.png.
CHEVRONS: Box = (10, 10, 53, 44)
CHEVRONS_150: Box = (40, 30, 62, 50)


@pytest.mark.parametrize("screen_name", SCREENS)
def test_a_whole_key_whose_arrows_keep_their_size_is_found_by_its_pieces(
    screen_name: str,
) -> None:
    """The whole crop peaks at 0.71-0.72 (120 %); each arrow scores 0.99-1.0 at its
    captured size, at one place only, their layout spread 1.26."""
    template = crop(load("qalculate-arrows-light"), ARROWS)
    result = matching.find(load(screen_name), template)
    assert result.found, (result.best, result.refused)
    assert result.stage == "pieces", result.stage
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, ARROWS_DARK_150), chosen
    assert chosen.score >= own_size.PIECE_BAR
    assert 1.2 < chosen.scale < 1.3, chosen


@pytest.mark.parametrize("screen_name", SCREENS)
def test_blanked_arrows_are_not_answered_by_their_pieces(screen_name: str) -> None:
    template = crop(load("qalculate-arrows-light"), ARROWS)
    result = matching.find(blank(load(screen_name), ARROWS_DARK_150), template)
    assert not result.found, (result.stage, result.matches)


def test_a_piece_drawn_twice_answers_nothing() -> None:
    """The key's row again below the screen: each arrow is on screen twice, so its place
    does not say which key is the label's."""
    screen = load("qalculate-arrows-light-150")
    _, y, _, h = ARROWS_DARK_150
    doubled = np.vstack([screen, screen[y - 2 : y + h + 2]])
    template = crop(load("qalculate-arrows-light"), ARROWS)
    result = matching.find(doubled, template)
    assert not result.found, (result.stage, result.matches)


def test_the_spread_must_be_one_factor_for_every_piece() -> None:
    """Pieces moved apart along one axis only, or closer together, are not a layout spread."""
    template = [(6.0, 8.0), (25.0, 8.0)]
    assert own_size._spread(template, [(100.0, 50.0), (124.0, 50.0)]) == pytest.approx(24 / 19)
    assert own_size._spread(template, [(100.0, 50.0), (124.0, 55.0)]) is None
    assert own_size._spread(template, [(100.0, 50.0), (115.0, 50.0)]) is None
    assert own_size._spread(template, [(100.0, 50.0), (150.0, 50.0)]) is None


@pytest.mark.parametrize("glyph", [False, True])
def test_a_faint_line_the_template_shows_beside_the_pieces_is_not_clear_face(
    glyph: bool,
) -> None:
    """The "⌄ ⌃" key's separator is 19 to 26 grey levels off the face at 100 %, its
    upper part under ``INK_CONTRAST``; at 150 % it reaches it above the chevrons.  Read
    at the usual contrast, the template shows clear face there and the key is refused."""
    template = crop(load("qalculate-chevrons-light"), CHEVRONS, glyph=glyph)
    result = matching.find(load("qalculate-chevrons-light-150"), template)
    assert result.found, (result.best, result.refused)
    assert result.stage == "pieces", result.stage
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, CHEVRONS_150), chosen
    gray_tpl = matching.to_gray(template)
    label = labels.extract(gray_tpl, anchored=False)
    assert label is not None
    usual = keyface.extent(gray_tpl, label)
    faint = keyface.extent(gray_tpl, label, own_size.FAINT_CONTRAST)
    assert faint[1] < usual[1], (faint, usual)
