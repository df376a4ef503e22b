"""Whole-template answers checked on the face around their label (``answer_face``), on captures.

``qalculate-light-125-equals.png`` and ``qalculate-dark-125-equals.png`` are
qalculate-gtk's "=" key at 125 % (toolkit scaling), light and dark, cut from
the targeting benchmark's saved screens (``bench_targeting --save``) by its
accessibility box, as a user captures a key.
``qalculate-light-150-x-equals.png`` and ``qalculate-dark-150-x-equals.png``
are the same part of the 150 % screens: the "x =" key and its neighbours,
not the "=" key.  ``qalculate-light-unnamed-key.png`` and ``-glyph.png`` are an
unnamed key of the 100 % screen and its glyph crop.  The "x ="'s "=" is drawn at 150 % at the size the "=" key's
is at 125 %, so the glyph crop correlated with it at scale 1.0 (0.897 light,
0.939 dark) across the borders of the narrower key: any answer is wrong.
"""

from __future__ import annotations

import pytest

from automation.blocks.desktop import answer_face, keyface, labels, matching
from tests.unit.automation.desktop.test_labels_captured import crop, inside, load

#: The "x =" key on qalculate-*-150-x-equals.png.
X_EQUALS_150: tuple[int, int, int, int] = (4, 47, 84, 39)


def equals_glyph(theme: str) -> matching.Image:
    key = load(f"qalculate-{theme}-125-equals")
    return crop(key, (0, 0, key.shape[1], key.shape[0]), glyph=True)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_glyph_on_a_smaller_key_is_not_the_key_whose_face_it_shows(theme: str) -> None:
    result = matching.find(load(f"qalculate-{theme}-150-x-equals"), equals_glyph(theme))
    assert not result.found, (result.stage, result.matches)
    reasons = [r.reason for r in result.refused]
    assert any("in the face the template shows clear" in r for r in reasons), reasons


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_without_the_face_check_the_x_equals_key_answers_at_scale_1(
    theme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answer_face, "check", lambda *args: None)
    result = matching.find(load(f"qalculate-{theme}-150-x-equals"), equals_glyph(theme))
    assert result.found, result.refused
    assert result.stage == "direct", (result.stage, result.matches)
    assert inside(result.matches[0].center, X_EQUALS_150), result.matches


def test_the_face_is_read_as_the_template_s_on_its_own_pixels() -> None:
    """qalculate's unnamed key (two chevrons, 100 %) and its glyph crop: a divider
    crosses the crop's face a shade under the ink contrast from the crop's median.
    Read against the median of the checked strips alone, that divider is ink, and the
    template's own pixels were refused (5 pixels); read against the answer's box, as
    the template's face was read, they pass."""
    screen, template = load("qalculate-light-unnamed-key"), load("qalculate-light-unnamed-glyph")
    result = matching.find(screen, template)
    assert result.found, result.refused
    place = result.matches[0]
    assert (place.x, place.y, place.scale, place.score) == (18, 16, 1.0, 1.0)
    gray, tpl = matching.to_gray(screen), matching.to_gray(template)
    label = labels.extract(tpl, anchored=False)
    assert label is not None
    assert answer_face.check(gray, tpl, label, place) is None
    assert keyface.refusal_reason(gray, label, keyface.extent(tpl, label), place) is not None
