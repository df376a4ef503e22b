"""Virtual-desktop coordinates beyond the first monitor's width.

Xvfb cannot present two RandR monitors here: with ``+xinerama`` and two
screens, RandR (which mss reads) reports only the first screen, and
``xrandr --setmonitor`` on Xvfb is accepted but not listed.  What can be
tested is the coordinate model on one wide 3200x1080 screen: a window placed
past x=1920 is found at its real virtual-desktop position.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from automation.blocks.desktop.display import Box, grab
from automation.blocks.desktop.image import ImageFind
from automation.blocks.desktop.screen import ScreenSize
from automation.testing import run_block
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay, start_xvfb

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def wide_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[XDisplay]:
    display = start_xvfb(((3200, 1080),), xauthority_dir=tmp_path)
    monkeypatch.setenv("DISPLAY", display.name)
    monkeypatch.setenv("XAUTHORITY", str(display.xauthority))
    try:
        yield display
    finally:
        display.stop()


def test_window_past_the_first_monitor_is_found_in_virtual_coordinates(
    wide_display: XDisplay, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.desktop.testwindow",
            "--state",
            str(state),
            "--x",
            "2300",
            "--y",
            "500",
        ],
        cwd=ROOT,
        env=wide_display.env(QT_QPA_PLATFORM="xcb"),
        stderr=subprocess.DEVNULL,
    )
    try:

        def ready() -> dict[str, Any]:
            text = state.read_text() if state.exists() else "{}"
            return dict(json.loads(text)) if '"ready": true' in text else {}

        data = eventually(ready, timeout=15)
        x, y, w, h = data["geometry"]["save"]
        assert x > 1920
        template, _ = grab(Box(x + w // 2 - 60, y + h // 2 - 14, 120, 28))
        cv2.imwrite(str(tmp_path / "save.png"), template)
        size = run_block(ScreenSize, {}, workflow_dir=tmp_path).last
        assert size["width"] == 3200
        found = run_block(
            ImageFind, {"template": str(tmp_path / "save.png")}, workflow_dir=tmp_path
        ).last
        assert found["found"] and x <= found["x"] < x + w and y <= found["y"] < y + h
    finally:
        process.terminate()
        process.wait(timeout=5)
