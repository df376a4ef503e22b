"""Window and app blocks against real X clients (the Qt test window, xterm) on Xvfb."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from automation.blocks.desktop.windows import (
    AppLaunch,
    WindowClose,
    WindowFocus,
    WindowList,
    WindowMinimize,
    WindowMove,
    WindowResize,
    WindowWait,
)
from automation.errors import BlockError, BlockInputError
from automation.testing import run_block
from tests.helpers.common import eventually


def test_list_move_resize_minimise_focus_and_close(open_window, tmp_path: Path) -> None:
    window = open_window("--title", "Invoice — editor ✓")
    listed = run_block(WindowList, {"title": "^Invoice"}, workflow_dir=tmp_path).last
    assert listed["count"] == 1
    entry = listed["windows"][0]
    assert entry["title"] == "Invoice — editor ✓" and entry["pid"] == window.process.pid
    assert entry["box"] == window.box("window")

    moved = run_block(
        WindowMove, {"title": "Invoice", "x": 300, "y": 250}, workflow_dir=tmp_path
    ).last
    assert moved["box"][:2] == [300, 250]
    resized = run_block(
        WindowResize, {"title": "Invoice", "width": 700, "height": 500}, workflow_dir=tmp_path
    ).last
    assert resized["box"][2:] == [700, 500]

    run_block(WindowMinimize, {"title": "Invoice"}, workflow_dir=tmp_path)
    assert run_block(WindowList, {"title": "Invoice"}, workflow_dir=tmp_path).last["count"] == 0
    assert (
        run_block(
            WindowList, {"title": "Invoice", "include_hidden": True}, workflow_dir=tmp_path
        ).last["count"]
        == 1
    )
    focused = run_block(WindowFocus, {"title": "Invoice"}, workflow_dir=tmp_path).last
    assert focused["title"] == "Invoice — editor ✓"
    assert run_block(WindowList, {"title": "Invoice"}, workflow_dir=tmp_path).last["count"] == 1

    run_block(WindowClose, {"title": "Invoice"}, workflow_dir=tmp_path)
    assert window.process.wait(timeout=5) == 0  # the app closed itself, as on its close button
    run_block(
        WindowWait, {"title": "Invoice", "until": "disappears", "timeout": 2}, workflow_dir=tmp_path
    )


def test_focus_sends_keys_to_the_focused_window(open_window, tmp_path: Path) -> None:
    from automation.blocks.desktop.input import KeyboardType, MouseClick, MouseMove

    first = open_window("--title", "First", name="a")
    second = open_window("--title", "Second", "--x", "900", name="b")
    run_block(
        MouseClick,
        {"x": first.center("name")[0], "y": first.center("name")[1]},
        workflow_dir=tmp_path,
    )
    run_block(
        MouseClick,
        {"x": second.center("name")[0], "y": second.center("name")[1]},
        workflow_dir=tmp_path,
    )
    run_block(MouseMove, {"x": 1800, "y": 1000}, workflow_dir=tmp_path)  # pointer over neither
    run_block(WindowFocus, {"title": "^First$"}, workflow_dir=tmp_path)
    run_block(KeyboardType, {"text": "to first"}, workflow_dir=tmp_path)
    first.wait_for(lambda s: s["text"] == "to first")
    assert second.state()["text"] == ""


def test_missing_window_and_bad_pattern(xvfb_display, tmp_path: Path) -> None:
    with pytest.raises(BlockError, match="no window matches title 'Nope-.*'") as caught:
        run_block(WindowFocus, {"title": "Nope-.*", "timeout": 0.2}, workflow_dir=tmp_path)
    assert "screenshot:" in str(caught.value)
    with pytest.raises(BlockInputError, match="not a valid regex"):
        run_block(WindowList, {"title": "(["}, workflow_dir=tmp_path)
    with pytest.raises(BlockError, match="did appear|did not appear|appear within"):
        run_block(WindowWait, {"title": "Nope", "timeout": 0.2}, workflow_dir=tmp_path)


@pytest.mark.skipif(
    shutil.which("xterm") is None, reason="xterm is not installed (apt-get install xterm)"
)
def test_launch_waits_for_the_window(xvfb_display, tmp_path: Path) -> None:
    out = run_block(
        AppLaunch,
        {
            "command": ["xterm", "-T", "launched-term", "-e", "sleep 30"],
            "window": "^launched-term$",
        },
        workflow_dir=tmp_path,
    ).last
    try:
        assert out["title"] == "launched-term" and out["window_id"]
        assert psutil.Process(out["pid"]).name() == "xterm"
    finally:
        run_block(WindowClose, {"title": "^launched-term$"}, workflow_dir=tmp_path)
    eventually(
        lambda: (
            not psutil.pid_exists(out["pid"])
            or psutil.Process(out["pid"]).status() == psutil.STATUS_ZOMBIE
        )
    )


def test_launch_reports_a_program_that_exits_early(xvfb_display, tmp_path: Path) -> None:
    with pytest.raises(BlockError, match="exited with code 3 before its window appeared"):
        run_block(
            AppLaunch, {"command": ["sh", "-c", "exit 3"], "window": "x"}, workflow_dir=tmp_path
        )
    with pytest.raises(BlockError, match="was not found"):
        run_block(AppLaunch, {"command": ["no-such-program-xyz"]}, workflow_dir=tmp_path)
