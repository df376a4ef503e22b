"""Terminal text captured at 12 pt found at 16 and 20 pt, on lines captured from xterm.

The PNGs under ``keypads/`` are the text line of xterm from Debian (DejaVu Sans
Mono, ``-fs 12``, ``16``, ``20``) on Xvfb, cut to the window's width: 50
cells of 10, 13 and 17 pixels plus xterm's 2-pixel border.  ``line`` shows
"status: build-all failed, deploy-42 ok", ``lookalike`` shows
"status: deploy-41 failed, deploy-42 ok".  The template is "deploy-42" at
12 pt, cropped as a user would (``tests/integration/desktop/test_terminal_fonts.py``
does the same live).

At 16 and 20 pt the word is 1.3 and 1.7 times as wide; the listed scales
1.33 and 1.75 correlate only 0.75 and 0.72 there, so nothing was found.  The
near miss is refined to the scale that fits, where the word correlates 0.90
and 0.93.  With the look-alike on the line the answer is the right word or a
loud ambiguity, never "deploy-41".
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, picking
from tests.unit.automation.desktop.test_labels_captured import Box, inside, load

COLUMN = 26  # "deploy-42" starts in the 27th cell of both lines
LETTERS = 9


def word_box(cell: int, height: int) -> Box:
    return 2 + COLUMN * cell, 0, LETTERS * cell, height


def template() -> np.ndarray:
    line = load("xterm-line-12pt")
    x, _, width, _ = word_box(10, line.shape[0])
    return line[2 : line.shape[0] - 2, x - 1 : x + width].copy()


@pytest.mark.parametrize(("size", "cell", "scale"), [(16, 13, 1.3), (20, 17, 1.7)])
def test_a_terminal_word_is_found_at_a_scale_between_the_listed_ones(
    size: int, cell: int, scale: float
) -> None:
    screen = load(f"xterm-line-{size}pt")
    result = matching.find(screen, template())
    assert result.found, result.best
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, word_box(cell, screen.shape[0])), chosen
    assert chosen.scale == pytest.approx(scale, abs=0.02), chosen


@pytest.mark.parametrize(("size", "cell"), [(16, 13), (20, 17)])
def test_with_a_look_alike_on_the_line_the_answer_is_the_word_or_ambiguous(
    size: int, cell: int
) -> None:
    screen = load(f"xterm-lookalike-{size}pt")
    result = matching.find(screen, template())
    if not result.found:
        return
    try:
        chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    except picking.Ambiguous:
        return
    assert inside(chosen.center, word_box(cell, screen.shape[0])), chosen
