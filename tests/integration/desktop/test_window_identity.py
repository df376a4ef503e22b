"""Windows by identity: app.launch returns its own window, and a title shared by two is an error.

Two real xterms with the same title: the older one is started by the test, the
newer one by ``app.launch``, which must return the newer one; a title-only
window step then refuses to guess, and a window id or pid picks one.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from automation.blocks.desktop.windows import AppLaunch, WindowFocus, list_windows
from automation.errors import BlockError
from automation.testing import run_block
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.apps import started

TITLE = "^same-title$"


def test_app_launch_returns_the_new_window_not_an_older_one_with_the_same_title(
    xvfb_display: XDisplay, tmp_path: Path
) -> None:
    command = ["xterm", "-T", "same-title", "-e", "sleep", "600"]
    with started(xvfb_display, command, TITLE, tmp_path / "older.log") as older:
        launched = run_block(
            AppLaunch, {"command": command, "window": TITLE}, workflow_dir=tmp_path
        ).last
        try:
            assert launched["window_id"] != older.window.id
            (mine,) = [w for w in list_windows(TITLE) if w.id == launched["window_id"]]
            assert mine.pid == launched["pid"]

            with pytest.raises(BlockError, match="2 windows match title") as caught:
                run_block(WindowFocus, {"title": TITLE, "timeout": 0}, workflow_dir=tmp_path)
            assert str(older.window.id) in str(caught.value)
            assert str(launched["window_id"]) in str(caught.value)

            by_id = run_block(
                WindowFocus, {"window_id": launched["window_id"]}, workflow_dir=tmp_path
            ).last
            assert by_id["id"] == launched["window_id"]
            by_pid = run_block(
                WindowFocus, {"title": TITLE, "pid": older.process.pid}, workflow_dir=tmp_path
            ).last
            assert by_pid["id"] == older.window.id
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launched["pid"], signal.SIGKILL)


def test_a_window_step_needs_a_title_id_or_pid(xvfb_display, tmp_path: Path) -> None:
    with pytest.raises(BlockError, match="name the window by title, window_id or pid"):
        run_block(WindowFocus, {}, workflow_dir=tmp_path)
