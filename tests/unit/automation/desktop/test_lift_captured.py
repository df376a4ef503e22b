"""The scales after a place reaching the bar are scanned only as low as the answer can
reach (``lift``): checked on keypads captured from real apps against full scans.

galculator's keys captured at 100 % are searched on its keypad drawn at 200 %:
the captured size scores under ``EARLY_STOP`` there, so every scale after it is
scanned, and with the lift above the stage's floor.  The answer, its candidates,
its best place, the scales tried and the refusals are those of the full scans,
also when the answer is refused and the stages after it read what the stage left.
"""

from __future__ import annotations

from typing import Any

import pytest

from automation.blocks.desktop import matching, verification
from tests.unit.automation.desktop.test_labels_captured import crop, load
from tests.unit.automation.desktop.test_pruning_captured import KEYPADS


def _templates() -> list[Any]:
    light, boxes, _ = KEYPADS["galculator"]
    screen = load(light)
    return [crop(screen, box, glyph=glyph) for box in boxes for glyph in (False, True)]


def _summary(result: matching.SearchResult) -> Any:
    return (
        result.stage,
        result.matches,
        result.candidates,
        result.best,
        result.scales_tried,
        [(r.match, r.reason) for r in result.refused],
    )


def _floors(monkeypatch: Any) -> list[float]:
    """The floors of every scan ``matching`` makes, in order."""
    floors: list[float] = []
    original = matching._scan

    def recording(feature: Any, template: Any, sign: int, floor: float, **kwargs: Any) -> Any:
        floors.append(floor)
        return original(feature, template, sign, floor, **kwargs)

    monkeypatch.setattr(matching, "_scan", recording)
    return floors


def _unlifted(monkeypatch: Any) -> None:
    monkeypatch.setattr(matching, "lifted", lambda floor, *args: floor)


@pytest.mark.parametrize("number", range(12))
def test_the_lift_gives_the_answer_of_the_full_scans(monkeypatch, number) -> None:
    screen = load("galculator-light-200")
    template = _templates()[number]
    lifted = _summary(matching.find(screen, template))
    with monkeypatch.context() as patched:
        _unlifted(patched)
        full = _summary(matching.find(screen, template))
    assert lifted == full


def test_the_scales_after_a_hit_are_scanned_higher(monkeypatch) -> None:
    """Not vacuous: keys answered at 200 % had their later scales scanned above the floor."""
    screen = load("galculator-light-200")
    floors = _floors(monkeypatch)
    answered = 0
    for template in _templates():
        floors.clear()
        result = matching.find(screen, template)
        if result.stage == "scales" and result.best is not None and result.best.scale == 2.0:
            answered += 1
            assert max(floors) > 0.85 - matching.DEFAULT_MARGIN
    assert answered >= 1


def _settled(screen: Any, template: Any) -> Any:
    """The scales stage of a search after its direct stage: what it answers and leaves."""
    search = matching._Search(screen, template, 0.85, True, matching.DEFAULT_MARGIN)
    result = matching.SearchResult(matches=[], best=None)
    search.stage("direct", [1.0], result)
    checked, _, scored = search.settled("scales", list(matching.DEFAULT_SCALES[1:]), result)
    return checked, scored, search._scans, _summary(result)


def test_a_refused_lifted_answer_leaves_what_the_full_scans_leave(monkeypatch) -> None:
    """When the checks refuse the answer, the stage is done again without the lift, so
    the stages after it see its places under the bar and its scans as they were."""
    screen = load("galculator-light-200")
    refuse = lambda *args, **kwargs: verification.Refusal(args[2], "refused for the test")  # noqa: E731
    monkeypatch.setattr(verification, "check", refuse)
    floors = _floors(monkeypatch)
    redone = 0
    for template in _templates():
        floors.clear()
        lifted = _settled(screen, template)
        redone += max(floors) > 0.85 - matching.DEFAULT_MARGIN
        with monkeypatch.context() as patched:
            _unlifted(patched)
            full = _settled(screen, template)
        assert lifted == full
    assert redone >= 1  # a lifted scan was refused, and the stage done again
