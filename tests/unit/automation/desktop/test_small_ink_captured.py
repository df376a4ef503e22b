"""Keys whose label is small ink (a dot, a slash), on captures (``small_ink``).

The PNGs under ``keypads/`` are parts of screens that
``tests/benchmarks/bench_targeting.py --save`` stored (real galculator,
qalculate-gtk and speedcrunch on Xvfb); templates are cut from the 100 %
light captures as a user cuts them.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import labels, matching, picking, small_ink
from tests.unit.automation.desktop.test_labels_captured import Box, blank, crop, inside, load

#: The "." and "," keys on qalculate-light.png (100 %), -125.png and -150.png.
QALCULATE_DOT: dict[str, Box] = {
    "qalculate-light": (539, 119, 56, 43),
    "qalculate-light-125": (611, 256, 57, 45),
    "qalculate-light-150": (667, 275, 65, 49),
}
QALCULATE_COMMA: dict[str, Box] = {
    "qalculate-light": (422, 119, 53, 43),
    "qalculate-light-125": (492, 256, 54, 45),
    "qalculate-light-150": (532, 275, 62, 49),
}
#: The "." and "-" keys on galculator-light.png (100 %) and its other captures.
GALCULATOR_DOT: dict[str, Box] = {
    "galculator-light": (71, 212, 59, 34),
    "galculator-dark-125": (80, 212, 68, 34),
    "galculator-light-150": (95, 220, 73, 34),
    "galculator-dark-200": (140, 422, 118, 68),
}
GALCULATOR_MINUS: dict[str, Box] = {
    "galculator-light": (201, 172, 59, 34),
    "galculator-dark-125": (228, 172, 68, 34),
    "galculator-light-150": (253, 180, 73, 34),
}


def answer(screen_name: str, template: object, box: Box) -> matching.Match:
    result = matching.find(load(screen_name), template)  # type: ignore[arg-type]
    assert result.found, (result.best, result.refused)
    chosen = picking.choose(result.candidates, margin=matching.DEFAULT_MARGIN)
    assert inside(chosen.center, box), chosen
    return chosen


@pytest.mark.parametrize(
    ("keys", "screen_name"),
    [
        (GALCULATOR_DOT, "galculator-dark-125"),
        (GALCULATOR_DOT, "galculator-light-150"),
        (GALCULATOR_DOT, "galculator-dark-200"),
        (GALCULATOR_MINUS, "galculator-dark-125"),
        (GALCULATOR_MINUS, "galculator-light-150"),
        (QALCULATE_DOT, "qalculate-light-125"),
        (QALCULATE_DOT, "qalculate-light-150"),
    ],
)
def test_a_dot_or_a_short_dash_is_found_by_the_key_around_it(
    keys: dict[str, Box], screen_name: str
) -> None:
    """A label of 2 by 2 pixels (or 4 by 1) gives the label stage no scale, and at
    125 % and above, or in a dark theme, no whole-template stage found these keys.
    The key's face around the ink gives the scale, and the ink lies where the
    template's does in it."""
    light = "galculator-light" if keys is not QALCULATE_DOT else "qalculate-light"
    template = crop(load(light), keys[light])
    assert labels.extract(matching.to_gray(template)) is None  # no scale from the ink
    chosen = answer(screen_name, template, keys[screen_name])
    assert chosen.method == "label-key", chosen


@pytest.mark.parametrize("screen_name", ["qalculate-light-125", "qalculate-light-150"])
def test_a_blanked_dot_is_not_answered_by_the_comma_key(screen_name: str) -> None:
    """At 125 and 150 % the "," key's ink (3 by 4 and 4 by 5 pixels) correlates with the
    "." template's stretched onto it as well as the "." key's own (0.89 and 0.91),
    on a face of the same size, in the same place.  A dot is hinted to whole rows
    and stays two rows high while the key grows 5 to 15 %; the comma's tail is
    rows more: not the template."""
    template = crop(load("qalculate-light"), QALCULATE_DOT["qalculate-light"])
    screen = blank(load(screen_name), QALCULATE_DOT[screen_name])
    result = matching.find(screen, template)
    assert not result.found, (result.stage, result.matches)
    comma = blank(load(screen_name), QALCULATE_COMMA[screen_name])
    assert matching.find(comma, template).found  # the "." itself, with the comma gone


def test_a_glyph_crop_of_a_dot_shows_no_key_to_read() -> None:
    """A glyph crop's face reaches the crop's edge: no key around the dot, no frame."""
    screen = load("galculator-light")
    glyph = matching.to_gray(crop(screen, GALCULATOR_DOT["galculator-light"], glyph=True))
    label = labels.extract(glyph, anchored=False)
    assert label is not None
    assert small_ink.frame(glyph, label) is None
    whole = matching.to_gray(crop(screen, GALCULATOR_DOT["galculator-light"]))
    whole_label = labels.extract(whole, anchored=False)
    assert whole_label is not None
    found = small_ink.frame(whole, whole_label)
    assert found is not None and found.runs == (27, 18, 28, 12)
