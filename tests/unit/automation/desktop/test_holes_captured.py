"""A label whose open side another label closes: galculator's "MS" and "MR" keys.

``galculator-light-ms-mr.png`` is the two memory keys of galculator (GTK 3)
at 100 %, light, cut from the targeting benchmark's saved keypad; "MR" is
drawn insensitive (fainter ink).  With "MS" painted out, the "MS" template
answered the "MR" key: the "R" covers the "S" within the pixel of play that
the ink checks allow, and its stem closes the "S"'s open side inside one
piece, which joins no two pieces (``verification.bridged_gaps``).  What
tells them apart is the face the "R" encloses and the "S" leaves open.
"""

from __future__ import annotations

import numpy as np
import pytest

from automation.blocks.desktop import matching, verification
from tests.unit.automation.desktop.test_labels_captured import blank, crop, inside, load

#: The keys on galculator-light-ms-mr.png (the accessibility bus's boxes, shifted).
MS = (16, 13, 59, 34)
MR = (81, 13, 59, 34)


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_a_blanked_key_is_not_answered_by_the_key_that_closes_its_letter(glyph: bool) -> None:
    screen = load("galculator-light-ms-mr")
    result = matching.find(blank(screen, MS), crop(screen, MS, glyph=glyph))
    assert not result.found, (result.stage, result.matches)
    assert any(inside(r.match.center, MR) for r in result.refused), result.refused
    assert any("encloses" in r.reason for r in result.refused), result.refused


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
def test_without_the_enclosure_check_the_look_alike_is_answered(
    glyph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above is what refuses: with it off, "MR" is the answer."""
    monkeypatch.setattr(verification, "_enclosed", lambda ink: np.zeros(ink.shape, bool))
    screen = load("galculator-light-ms-mr")
    result = matching.find(blank(screen, MS), crop(screen, MS, glyph=glyph))
    assert result.found, result.refused
    assert inside(result.matches[0].center, MR), result.matches


@pytest.mark.parametrize("glyph", [False, True], ids=["whole", "glyph"])
@pytest.mark.parametrize("key", [MS, MR], ids=["MS", "MR"])
def test_each_key_itself_is_found(key: tuple[int, int, int, int], glyph: bool) -> None:
    screen = load("galculator-light-ms-mr")
    result = matching.find(screen, crop(screen, key, glyph=glyph))
    assert result.found, result.refused
    assert inside(result.matches[0].center, key), result.matches
