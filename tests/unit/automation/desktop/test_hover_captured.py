"""A button under the pointer: its thicker hover border is a frame, not a neighbouring label.

``keypads/xmessage-save-hover.png`` is the dialog of the example
``resources/examples/desktop_click_image.yaml`` (xmessage, from Debian's
x11-utils) on Xvfb under openbox, captured with the pointer resting on its
Save button.  Hovered, Xaw draws the button's rounded border two pixels thick,
its inner line within the clear ring the example's template
(``resources/examples/images/save.png``, the button not hovered) shows
around "Save".  The ring check read that line as a longer label and refused
the true button (score 0.856), so the example failed whenever the pointer
was parked on the button.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from automation.blocks.desktop import labels, matching, picking, screen_ink
from tests.unit.automation.desktop.test_labels_captured import Box, inside, load

TEMPLATE = Path(__file__).parents[4] / "resources" / "examples" / "images" / "save.png"
#: The hovered Save button (x, y, width, height) on xmessage-save-hover.png.
SAVE_HOVERED: Box = (8, 61, 50, 27)


def test_a_hovered_button_is_found_by_its_template() -> None:
    screen = load("xmessage-save-hover")
    template = cv2.imread(str(TEMPLATE), cv2.IMREAD_GRAYSCALE)
    assert template is not None
    result = matching.find(screen, template)
    assert result.found, [r.describe() for r in result.refused]
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, SAVE_HOVERED), chosen


def test_the_hover_border_is_a_frame_but_a_glyph_beside_the_label_is_not() -> None:
    """The border surrounds the label and is discounted; ink beside the label
    inside that border (here a bar drawn two pixels right of the "e", clear of
    the border) is a longer label and still refuses the place."""
    template = cv2.imread(str(TEMPLATE), cv2.IMREAD_GRAYSCALE)
    label = labels.extract(template)
    assert label is not None
    gray = cv2.cvtColor(load("xmessage-save-hover"), cv2.COLOR_BGR2GRAY)
    x, y = SAVE_HOVERED[0] + label.x, SAVE_HOVERED[1] + label.y
    assert labels.isolated(screen_ink.ScreenInk(gray), label, x, y, 1.0, label.dark)
    ix, iy, iw, ih = label.ink
    right, top = x + ix + iw, y + iy
    marked = gray.copy()
    marked[top + 2 : top + ih - 2, right + 2] = 0
    assert not labels.isolated(screen_ink.ScreenInk(marked), label, x, y, 1.0, label.dark)
