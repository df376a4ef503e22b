"""The label stage's answers checked on the key around the label (``keyface``), on captures.

``qalculate-light.png`` is qalculate-gtk's keypad at 100 % on Xvfb (its
templates are cut from it, as a user captures them).  The other two PNGs are
screens of the same app from ``tests/benchmarks/bench_targeting.py --save``
where the key searched for is not shown, but the same glyph is, elsewhere:

* ``qalculate-help-text.png``: its help line at 100 %, 'e.g. "5 + 2 / 3"';
* ``qalculate-light-150-x-equals.png``: part of its keypad at 150 % font
  scaling, with the "x =" key but not the "=" key.

The label stage found the "2", the "+" and the "=" there (0.97 to 0.999), each
with a clear ring of 5 pixels around it: any answer is a wrong click.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import keyface, labels, matching
from tests.unit.automation.desktop.test_labels_captured import crop, inside, load

#: qalculate-gtk's keys on qalculate-light.png (100 %).
TWO: tuple[int, int, int, int] = (539, 74, 56, 43)
PLUS: tuple[int, int, int, int] = (658, 119, 53, 43)
EQUALS: tuple[int, int, int, int] = (717, 74, 53, 88)
#: The "x =" key on qalculate-light-150-x-equals.png.
X_EQUALS_150: tuple[int, int, int, int] = (4, 47, 84, 39)
#: Where the label stage found the whole "2" and "+" keys' labels on
#: qalculate-help-text.png (the template's box), and the "=" on
#: qalculate-light-150-x-equals.png.
HELP_TEXT_PLACES = {"2": (313, -2), "+": (301, -2)}
EQUALS_ON_X_EQUALS = matching.Match(23, 14, 64, 106, 0.97, 1.2, "label")


def face_refusal(template: matching.Image, screen: matching.Image, place: matching.Match) -> str:
    """Why the face around the template's label at ``place`` is not the template's."""
    gray = matching.to_gray(template)
    label = labels.extract(gray)
    assert label is not None
    reason = keyface.refusal_reason(
        matching.to_gray(screen), label, keyface.extent(gray, label), place
    )
    assert reason is not None
    return reason


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize("key", ["2", "+"])
def test_a_key_s_glyph_in_a_line_of_text_is_not_the_key(key: str, glyph: bool) -> None:
    """The help line's "2" and "+" are the keys' own glyphs at their own size (0.999),
    with the clear ring around them; a word's space away stand "+" and "/" (or
    "5" and "2"), where the key's face, and even the glyph crop, shows nothing.
    A whole key's label is not even proposed there (``small_ink.faced``): its
    face is checked at the place directly."""
    template = crop(load("qalculate-light"), {"2": TWO, "+": PLUS}[key], glyph=glyph)
    screen = load("qalculate-help-text")
    result = matching.find(screen, template)
    assert not result.found, (result.stage, result.matches)
    if glyph:
        reasons = [r.reason for r in result.refused]
        assert any("in the face the template shows clear" in r for r in reasons), reasons
    else:
        th, tw = template.shape[:2]
        place = matching.Match(*HELP_TEXT_PLACES[key], tw, th, 0.999, 1.0, "label")
        assert "in the face the template shows clear" in face_refusal(template, screen, place)


def test_the_equals_of_an_x_equals_key_is_not_the_equals_key() -> None:
    """At 150 % the "=" key's label answered the "=" of "x =" (0.97, scale 1.2): its
    clear ring holds, but an "x" stands a dozen pixels to its left, where the
    whole "=" key shows twenty pixels of face (checked at the place directly: the
    label stage no longer proposes it, ``small_ink.faced``)."""
    template = crop(load("qalculate-light"), EQUALS)
    screen = load("qalculate-light-150-x-equals")
    result = matching.find(screen, template)
    assert not result.found, (result.stage, result.matches)
    assert inside(EQUALS_ON_X_EQUALS.center, X_EQUALS_150)
    reason = face_refusal(template, screen, EQUALS_ON_X_EQUALS)
    assert "in the face the template shows clear" in reason


def test_a_whole_key_s_face_reaches_its_border_and_a_glyph_crop_s_its_edge() -> None:
    """The whole "=" key shows face out to its border, 20 pixels to each side and 41
    above and below, less a third a theme may draw differently; its glyph crop,
    out to the crop's edge."""
    screen = load("qalculate-light")
    whole = matching.to_gray(crop(screen, EQUALS))
    label = labels.extract(whole)
    assert label is not None
    left, top, right, bottom = keyface.extent(whole, label)
    assert (left, top, right, bottom) == (13, 27, 13, 27)
    glyph = matching.to_gray(crop(screen, EQUALS, glyph=True))
    glyph_label = labels.extract(glyph)
    assert glyph_label is not None
    assert keyface.extent(glyph, glyph_label) == (11, 25, 11, 25)


def test_the_face_on_screen_allows_for_a_larger_label_and_a_smaller_key() -> None:
    # a label 10 pixels wide drawn at 150 % grows 5 pixels, half of it into each side
    assert keyface.on_screen(20, 10, 1.5) == 17
    # a label drawn at 50 % is on a key drawn at 50 %
    assert keyface.on_screen(20, 10, 0.5) == 10
    assert keyface.on_screen(2, 40, 2.0) == 0


#: qalculate-gtk's "π" and "5" keys on qalculate-light.png (100 %).
PI: tuple[int, int, int, int] = (309, 14, 59, 34)
FIVE: tuple[int, int, int, int] = (539, 28, 56, 44)
#: The same keys on qalculate-dark-200-pi-5.png (200 %, Adwaita dark).
PI_DARK_200: tuple[int, int, int, int] = (18, 18, 118, 68)
FIVE_DARK_200: tuple[int, int, int, int] = (478, 46, 112, 88)


@pytest.mark.parametrize(
    ("key", "glyph", "box"), [(PI, False, PI_DARK_200), (FIVE, True, FIVE_DARK_200)], ids=["π", "5"]
)
def test_a_dark_theme_s_shadow_above_a_label_is_not_another_key_s_ink(
    key: tuple[int, int, int, int], glyph: bool, box: tuple[int, int, int, int]
) -> None:
    """Adwaita dark draws two dark rows above each light label at 200 %: the label
    stage finds "π" (0.89) and "5" (0.85) on their keys, and the row that lies beyond
    the ring slack counted 14 and 10 pixels of ink in the face the template shows
    clear.  It is the label's own ink moved up a pixel or two, in the other polarity."""
    template = crop(load("qalculate-light"), key, glyph=glyph)
    result = matching.find(load("qalculate-dark-200-pi-5"), template)
    assert result.found, result.refused
    assert inside(result.matches[0].center, box), result.matches


def test_ink_of_the_other_polarity_away_from_the_label_is_still_another_key_s() -> None:
    """At the "π" key's answer, a dark bar as dark as the label's shadow drawn upright
    ten columns left of its ink, in the face the whole key shows clear, counts: no
    shift of the label's ink by two pixels covers it."""
    screen = load("qalculate-dark-200-pi-5")
    template = matching.to_gray(crop(load("qalculate-light"), PI))
    label = labels.extract(template)
    assert label is not None
    result = matching.find(screen, crop(load("qalculate-light"), PI))
    assert result.found, result.refused
    clear = keyface.extent(template, label)
    gray = matching.to_gray(screen)
    assert keyface.stray(gray, label, clear, result.matches[0]) == 0
    # the label's ink starts at column 71, rows 45 to 59; its shadow is at rows 43 and 44
    gray[46:58, 60:62] = gray[43, 75]
    assert keyface.stray(gray, label, clear, result.matches[0]) > keyface.FACE_STRAY
