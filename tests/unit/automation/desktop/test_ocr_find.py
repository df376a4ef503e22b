"""Fuzzy finding of a phrase among OCR words (words made in the test, no Tesseract)."""

from __future__ import annotations

import pytest

from automation.blocks.desktop.display import Box
from automation.blocks.desktop.ocr import (
    AmbiguousText,
    Word,
    closest,
    find,
    find_one,
    lines,
    normalise,
    similarity,
    text_of,
)


def words(*rows: tuple[int, str], region: int = 1) -> list[Word]:
    """Each row: (y, "text of the line"); words 10 px apart per character."""
    made = []
    for number, (y, text) in enumerate(rows):
        x = 10
        for part in text.split():
            made.append(Word(part, Box(x, y, 8 * len(part), 14), 0.9, (region, 1, 1, number)))
            x += 8 * len(part) + 6
    return made


def test_normalise_ignores_case_punctuation_and_spacing() -> None:
    assert normalise("  Save   Report: ") == "save report"
    assert normalise("«Total»") == "total"
    assert similarity("Save report", "SAVE REPORT.") == 1.0


def test_a_phrase_is_found_across_words_with_ocr_slips() -> None:
    screen = words((20, "File Edit View"), (60, "Save rep0rt now"))
    hit = find_one(screen, "Save report")
    assert hit is not None and hit.text == "Save rep0rt"
    assert 0.8 <= hit.score < 1.0
    assert hit.box == Box(10, 60, 32 + 6 + 48, 14)


def test_nothing_close_enough_is_none_and_closest_says_what_was_there() -> None:
    screen = words((20, "File Edit View"))
    assert find_one(screen, "Preferences") is None
    assert closest(screen, "Fil")[0].text == "File"


def test_the_same_phrase_in_two_places_is_ambiguous() -> None:
    screen = words((20, "Save"), (80, "Save as"))
    with pytest.raises(AmbiguousText, match="2 places read alike") as caught:
        find_one(screen, "Save")
    assert len(caught.value.matches) == 2
    assert find_one(screen, "Save as") is not None  # more words resolve it


def test_a_much_better_place_is_not_ambiguous() -> None:
    screen = words((20, "Total"), (80, "Totals"))
    hit = find_one(screen, "Total")  # 1.0 against 0.91: not within the 0.05 margin
    assert hit is not None and hit.box.y == 20


def test_overlapping_spans_are_one_place() -> None:
    screen = words((20, "Save report"))
    assert len(find(screen, "Save report", similarity_min=0.5)) == 1


def test_lines_come_top_to_bottom_and_left_to_right() -> None:
    screen = words((60, "second line"), (20, "first line"))
    assert [w.text for w in lines(screen)[0]] == ["first", "line"]
    assert text_of(screen) == "first line\nsecond line"
