"""A label stage rival that is not the label's size: speedcrunch's "x" at 100 %, dark.

``speedcrunch-dark-x-comma.png`` is a strip of speedcrunch (Qt 5) at 100 %,
dark, from the targeting benchmark's saved keypad: its "," key (under a
tooltip) on the left, its "x" key on the right.  The "x" template's label
scores 0.947 blurred on the "x" key, and 0.894 (0.701 sharp) at scale 0.88 on
the comma, within the label stage's gap; the two sizes are not compared
(``lookalikes.MAX_SCALE_RATIO``), so the stage refused and the key was
missed.  The comma's ink is 4 pixels wide and 6 tall where an "x" at 0.88
would be 6.2 by 6.2; the "x" key's is 7 by 7 for 7.3 expected
(``lookalikes.spans``).

``speedcrunch-dark-150-six.png`` is speedcrunch at 150 %, dark: its "8" and
"9" keys above its "5" and "6" keys.  With the "6" painted out, the "6" glyph
crop's best place is the "8" (0.873 blurred) and its rival the "5", whose ink
is 14 pixels wide where a "6" at its scale spans 15.6: 0.90 of it, a rival
still (``lookalikes.SPAN_FRACTION``), and nothing is answered.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import cut_holes, label_shape, lookalikes, matching
from tests.unit.automation.desktop.test_labels_captured import (
    SPEEDCRUNCH_LIGHT,
    blank,
    crop,
    inside,
    load,
)

#: The "x" key on speedcrunch-dark-x-comma.png.
X_KEY = (387, 16, 71, 29)
#: The "6" key on speedcrunch-light.png and on speedcrunch-dark-150-six.png.
SIX_LIGHT = (152, 36, 70, 27)
SIX_DARK_150 = (137, 56, 106, 44)


def test_a_rival_that_does_not_span_the_label_does_not_hide_the_key() -> None:
    template = crop(load("speedcrunch-light"), SPEEDCRUNCH_LIGHT["x"])
    result = matching.find(load("speedcrunch-dark-x-comma"), template)
    assert result.found, result.refused
    assert inside(result.matches[0].center, X_KEY), result.matches


def test_without_the_span_check_the_key_is_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above is what lets the key be found: with it off, the comma is a rival."""
    monkeypatch.setattr(lookalikes, "spans", lambda *args: True)
    template = crop(load("speedcrunch-light"), SPEEDCRUNCH_LIGHT["x"])
    result = matching.find(load("speedcrunch-dark-x-comma"), template)
    assert not result.found, result.matches


def test_a_rival_narrower_by_a_tenth_still_stands_in_the_way() -> None:
    glyph = crop(load("speedcrunch-light"), SIX_LIGHT, glyph=True)
    result = matching.find(blank(load("speedcrunch-dark-150-six"), SIX_DARK_150), glyph)
    assert not result.found, result.matches


def test_with_a_bar_near_the_label_s_width_the_look_alike_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bar of 1.5 pixels short of the label's size (0.90 here) dropped the "5".

    The "8" also encloses face the "6" leaves open, which ``label_shape`` and
    ``cut_holes`` refuse at this size: those checks are switched off too, so this
    shows the span rule alone.
    """
    monkeypatch.setattr(lookalikes, "SPAN_FRACTION", 0.95)
    monkeypatch.setattr(label_shape, "refusal", lambda *args: None)
    monkeypatch.setattr(cut_holes, "refusal", lambda *args: None)
    glyph = crop(load("speedcrunch-light"), SIX_LIGHT, glyph=True)
    result = matching.find(blank(load("speedcrunch-dark-150-six"), SIX_DARK_150), glyph)
    assert result.found, result.refused
