"""A light/dark-swapped label whose pieces are drawn at their own size (``swapped``).

``qalculate-arrows-light.png`` is qalculate-gtk's "‹ ›" push button at 100 %,
light, and ``qalculate-arrows-dark-150.png`` the same key at 150 %, dark, with
its neighbours: parts of screens ``tests/benchmarks/bench_targeting.py --save``
stored.  At 150 % the arrows are drawn pixel for pixel as at 100 %, further apart.
"""

from __future__ import annotations

from automation.blocks.desktop import labels, matching, picking, swapped
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: The key on qalculate-arrows-light.png (100 %) and on qalculate-arrows-dark-150.png.
ARROWS: Box = (10, 10, 53, 44)
ARROWS_DARK_150: Box = (40, 30, 62, 50)


def test_arrows_drawn_at_their_own_size_pass_piece_by_piece() -> None:
    """Swapped at 120 % (0.879, under 0.9), the label resized to 120 % scores 0.784
    unblurred; each arrow at its captured size 0.99."""
    template = crop(load("qalculate-arrows-light"), ARROWS, glyph=True)
    screen = load("qalculate-arrows-dark-150")
    result = matching.find(screen, template)
    assert result.found, (result.best, result.refused)
    assert result.stage == "inverted", result.stage
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, ARROWS_DARK_150), chosen
    label = labels.extract(matching.to_gray(template), anchored=False)
    assert label is not None
    gray = matching.to_gray(screen)
    assert (
        swapped.sharp_score(gray, label, chosen) < 0.85 <= swapped.pieces_score(gray, label, chosen)
    )


def test_blanked_arrows_are_not_answered() -> None:
    template = crop(load("qalculate-arrows-light"), ARROWS, glyph=True)
    result = matching.find(blank(load("qalculate-arrows-dark-150"), ARROWS_DARK_150), template)
    assert not result.found, (result.stage, result.matches)
