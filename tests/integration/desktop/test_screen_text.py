"""Text on screen by OCR on a desktop with a window manager: xterm and mousepad under openbox.

The module has a display of its own (openbox would reparent the windows of the other desktop
tests, which expect none), started with xterm showing a known paragraph and mousepad editing
a known file.  ``screen.read_text`` reads a window's region, a region relative to a text
target, and the whole screen, where title bars and two windows are read window by window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation.blocks.desktop.display import Box
from automation.blocks.desktop.image import ImageFind
from automation.blocks.desktop.screen_text import ScreenReadText
from automation.blocks.desktop.windows import list_windows
from automation.errors import BlockError
from automation.testing import run_block
from tests.helpers.common import eventually
from tests.helpers.openbox import openbox_desktop

XTERM_TEXT = "The quick brown fox jumps over the lazy dog while seven calm engineers measure"
EDITOR_TEXT = "Quarterly report draft\nRevenue grew faster than expected in every region"


@dataclass
class Desk:
    xterm: Box
    editor: Box
    folder: Path


def _window(pid: int) -> Box | None:
    return next((w.box for w in list_windows(include_hidden=False) if w.pid == pid), None)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    folder = tmp_path_factory.mktemp("screen-text")
    # no accessibility here (NO_AT_BRIDGE)
    with openbox_desktop(folder, ("xterm", "mousepad"), NO_AT_BRIDGE="1") as desktop:
        (folder / "report.txt").write_text(EDITOR_TEXT + "\n", encoding="utf-8")
        (folder / "xterm.txt").write_text(XTERM_TEXT + "\n", encoding="utf-8")
        xterm = desktop.start(
            "xterm", "-geometry", "90x8+40+60", "-e", "sh", "-c",
            f"fold -s -w 50 {folder / 'xterm.txt'}; sleep 600",
        )  # fmt: skip
        desktop.start("mousepad", str(folder / "report.txt"))
        xterm_box = eventually(lambda: _window(xterm.pid), timeout=15)
        editor_box = eventually(
            lambda: next(
                (w.box for w in list_windows(include_hidden=False) if "report" in w.title),
                None,
            ),
            timeout=20,
        )
        yield Desk(xterm_box, editor_box, folder)


def _read(inputs: dict[str, object], folder: Path) -> dict[str, object]:
    return run_block(ScreenReadText, inputs, workflow_dir=folder).last


def test_read_text_of_a_terminal_region(desk: Desk) -> None:
    out = eventually(
        lambda: (
            (o := _read({"region": desk.xterm.as_list()}, desk.folder))
            and "measure" in str(o["text"])
            and o
        ),
        timeout=10,
    )
    assert " ".join(str(out["text"]).split()) == XTERM_TEXT
    assert out["box"] == desk.xterm.as_list()
    words = out["words"]
    assert isinstance(words, list) and len(words) == len(XTERM_TEXT.split())
    fox = next(w for w in words if w["text"] == "fox")
    x, y, w, h = fox["box"]
    assert desk.xterm.x <= x and x + w <= desk.xterm.x + desk.xterm.width
    assert desk.xterm.y <= y and y + h <= desk.xterm.y + desk.xterm.height
    assert 0 < fox["confidence"] <= 1


def test_whole_screen_with_title_bars_and_two_windows(desk: Desk) -> None:
    from automation.blocks.desktop.ocr import similarity

    out = _read({}, desk.folder)
    lines = out["lines"]
    assert isinstance(lines, list)
    wanted = [*EDITOR_TEXT.splitlines(), "The quick brown fox jumps over the lazy dog while"]
    for line in wanted:
        # each line read whole, not run into another window's line (OCR may slip a letter)
        best = max(similarity(line, read) for read in lines)
        assert best >= 0.9, (line, lines)


def test_read_relative_to_a_text_target_and_find_a_phrase_fuzzily(desk: Desk) -> None:
    from automation.blocks.desktop.ocr import similarity

    found = run_block(
        ImageFind,
        {"target": {"anchors": [{"text": "revenue grew fastr"}]}},
        workflow_dir=desk.folder,
    ).last
    assert found["found"] and found["method"] == "ocr" and found["score"] >= 0.8
    assert desk.editor.x <= found["x"] < desk.editor.x + desk.editor.width
    label = run_block(
        ImageFind, {"target": {"anchors": [{"text": "Quarterly"}]}}, workflow_dir=desk.folder
    ).last
    out = _read(
        {
            "target": {"anchors": [{"text": "Quarterly"}]},
            "relative": [-6, -6, 300, label["box"][3] + 12],
        },
        desk.folder,
    )
    first = str(out["text"]).splitlines()[0]
    assert similarity(first, "Quarterly report draft") >= 0.9, out["text"]  # OCR may split a word


def test_a_phrase_on_screen_twice_is_ambiguous_and_a_missing_one_not_found(desk: Desk) -> None:
    with pytest.raises(BlockError, match="ambiguous text 'the'"):
        run_block(ImageFind, {"target": {"anchors": [{"text": "the"}]}}, workflow_dir=desk.folder)
    missing = run_block(
        ImageFind,
        {"target": {"anchors": [{"text": "Preferences dialog"}]}},
        workflow_dir=desk.folder,
    ).last
    assert missing["found"] is False
