"""Absent keys on keypads captured from real apps: refused, never answered by a look-alike.

The PNGs under ``keypads/`` are screenshots of galculator and qalculate-gtk
(GTK 3, Debian) on Xvfb, taken by ``tests/benchmarks/bench_targeting.py
--save``: ``galculator-light.png`` at 100 %, ``galculator-light-150.png`` and
``-200.png`` at 150 and 200 %, ``qalculate-light.png`` at 100 % (each the
part of the screen with the keys).  Key boxes are the ones the accessibility
bus reported for those screens.  Templates are cut from the 100 % screen as a
user captures them (whole key, or glyph only), then the key is painted over in
its face colour, as ``bench_absent_targets`` does: any answer is a wrong click.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from automation.blocks.context import BlockContext
from automation.blocks.desktop import image, matching, picking
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.image import FindInput
from automation.blocks.desktop.targets import Anchor, Target, locate
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


def test_the_not_found_error_names_the_refused_look_alike(tmp_path: Path) -> None:
    """What the user reads: not found, and which place looked like the target, at
    what score, and why it is not it; the failure screenshot draws that place."""
    screen = load("galculator-light")
    cv2.imwrite(str(tmp_path / "three.png"), crop(screen, THREE))
    ctx = BlockContext(run_id="t", node_id="n", workflow_dir=tmp_path, artifacts_dir=tmp_path)
    options = image._options(FindInput(template="three.png"))  # the block's defaults
    evidence = Evidence()
    height, width = screen.shape[:2]
    origin = Box(100, 50, width, height)  # the screenshot's place on the desktop
    target = Target(anchors=[Anchor(image="three.png")])
    assert locate(ctx, target, blank(screen, THREE), origin, options, evidence) is None
    x, y, w, h = EIGHT
    assert evidence.candidate == Box(x + 100, y + 50, w, h)
    assert evidence.candidate_label == "refused look-alike"
    error = image._not_found(FindInput(template="three.png"), evidence, None)
    message = str(error)
    assert "image three.png was not found on screen" in message
    assert f"[{x + 100}, {y + 50}, {w}, {h}] (score 0.916" in message
    assert "was refused: its label correlates only" in message


#: qalculate-gtk's keys on qalculate-light.png (100 %; its templates are cut from it).
X_BAR: tuple[int, int, int, int] = (111, 14, 59, 34)
DOT: tuple[int, int, int, int] = (539, 119, 56, 43)
COMMA: tuple[int, int, int, int] = (422, 119, 53, 43)
#: galculator at 200 % (galculator-light-200.png): its "*" and "." keys.
STAR_200: tuple[int, int, int, int] = (412, 16, 118, 68)
DOT_200: tuple[int, int, int, int] = (152, 176, 118, 68)
STAR: tuple[int, int, int, int] = (201, 132, 59, 34)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_blanked_x_bar_is_not_found_where_a_stroke_is_missing(glyph: bool) -> None:
    """qalculate's "x̄" label correlates 0.864 with an "x" elsewhere (the bar over
    it missing): the label stage answered it.  Four of the label's 27 pixels
    of ink have nothing under them there: refused."""
    screen = load("qalculate-light")
    result = matching.find(blank(screen, X_BAR), crop(screen, X_BAR, glyph=glyph))
    assert not result.found, (result.stage, result.matches)
    assert any("have none under them" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_blanked_dot_is_not_found_on_a_blank_face_or_a_comma(glyph: bool) -> None:
    """The whole "." key is mostly face and frame: on the full screen it answered
    the blank face left where the key was (0.911 direct, then 0.906 through the
    edges), where its dot correlates 0.  The "." glyph answered the "," key at
    125 %: a dot resized to 2.5 pixels fits a comma's head as well: refused."""
    screen = load("qalculate-light")
    result = matching.find(blank(screen, DOT), crop(screen, DOT, glyph=glyph))
    assert not result.found, (result.stage, result.matches)
    if glyph:
        assert inside(result.refused[0].match.center, COMMA), result.refused
    present = matching.find(screen, crop(screen, DOT, glyph=glyph))
    assert present.found and inside(present.matches[0].center, DOT), present.matches


def test_a_star_shrunk_to_a_blob_is_not_found_on_the_dot_key() -> None:
    """galculator's "*" glyph, captured at 100 %, searched at 200 % with its key gone:
    at 67 % its 6-pixel star is a 4-pixel blob, and it answered the "." key."""
    template = crop(load("galculator-light"), STAR, glyph=True)
    result = matching.find(blank(load("galculator-light-200"), STAR_200), template)
    assert not result.found, (result.stage, result.matches)
    assert any(inside(r.match.center, DOT_200) for r in result.refused), result.refused


#: speedcrunch's digit keys on speedcrunch-light.png (100 %).
DIGITS: dict[str, tuple[int, int, int, int]] = {
    "8": (79, 6, 70, 27),
    "9": (152, 6, 70, 27),
    "5": (79, 36, 70, 27),
    "6": (152, 36, 70, 27),
}


@pytest.mark.parametrize(
    ("key", "glyph"), [("9", False), ("6", False), ("6", True), ("8", True)], ids=str
)
def test_an_absent_digit_is_not_answered_while_a_refused_look_alike_scores_as_well(
    key: str, glyph: bool
) -> None:
    """With speedcrunch's "9" painted out, the "8" key answered its whole template at
    0.876: its label check passes (an "8" is a "9" and a stroke), while the
    "5" key, scoring 0.854 beside it, is refused on its label.  Nothing sets
    the "8" apart from a key that is not the "9": refused, naming the look-alike.
    (Whole, the "8" itself is refused first: it encloses face the "9" leaves open;
    the "8" glyph, its own mirror image, is refused on the "6" key, which is not.)"""
    screen = load("speedcrunch-light")
    box = DIGITS[key]
    result = matching.find(blank(screen, box), crop(screen, box, glyph=glyph))
    assert not result.found, (result.stage, result.matches)
    reasons = ("does not stand out from its look-alikes", "encloses", "mirror image")
    assert any(any(reason in r.reason for reason in reasons) for r in result.refused), (
        result.refused
    )
    present = matching.find(screen, crop(screen, box, glyph=glyph))
    assert present.found and inside(present.matches[0].center, box), present.matches


def test_a_best_candidate_over_the_confidence_says_it_was_set_aside() -> None:
    """A search that saw a place over the confidence and answered nothing (the label
    stage's look-alike gap records no refusal) must not read as a contradiction: the
    error says the place was set aside, where it is, and what resolves it."""
    evidence = Evidence(candidate=Box(362, 454, 34, 28), score=0.993)
    message = str(image._not_found(FindInput(template="slash.png"), evidence, None))
    assert "best candidate scored 0.993 at [362, 454, 34, 28], over the confidence" in message
    assert "set aside" in message and "region" in message
    evidence = Evidence(candidate=Box(362, 454, 34, 28), score=0.61)
    message = str(image._not_found(FindInput(template="slash.png"), evidence, None))
    assert message.endswith("best candidate scored 0.610"), message
