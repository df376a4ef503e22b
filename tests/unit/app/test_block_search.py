"""Ranking blocks for the palette's search, without Qt."""

from __future__ import annotations

from app.editor.block_search import Searchable, rank, score

BLOCKS = [
    Searchable.of("control.delay", "Delay", "Wait, then pass the value on.", "control"),
    Searchable.of(
        "control.fail", "Fail", "Fail the run (or, if its error pin is linked...)", "control"
    ),
    Searchable.of("control.if", "If", "Branch on a condition.", "control"),
    Searchable.of("control.pass", "Pass", "Do nothing and pass the value on.", "control"),
    Searchable.of(
        "mouse.drag", "Drag", "Press a button, move to a point while holding it.", "desktop"
    ),
    Searchable.of("mouse.move", "Move mouse", "Move the mouse pointer.", "desktop"),
    Searchable.of("file.move", "Move or rename", "Move or rename a file.", "files"),
]


def test_an_exact_title_or_id_beats_a_word_in_a_description() -> None:
    assert rank("pass", BLOCKS)[0][0].block_id == "control.pass"
    assert rank("if", BLOCKS)[0][0].block_id == "control.if"
    assert rank("control.fail", BLOCKS)[0][0].block_id == "control.fail"


def test_every_word_must_appear_somewhere() -> None:
    assert score("move rename", BLOCKS[-1]) is not None
    assert score("move rename", BLOCKS[-2]) is None
    assert [b.block_id for b, _ in rank("zzz", BLOCKS)] == []


def test_ties_go_to_the_shorter_title() -> None:
    ranked = [b.block_id for b, _ in rank("move", BLOCKS)]
    assert ranked[:2] == ["mouse.move", "file.move"]
    assert ranked[-1] == "mouse.drag", "a description hit ranks last"


def test_an_empty_query_matches_everything_equally() -> None:
    assert all(score("  ", block) == 0.0 for block in BLOCKS)
