"""The shipped xterm example drives a real third-party program end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from automation.engine.engine import Engine
from automation.validation import load_valid
from tests.helpers.common import eventually

EXAMPLE = Path(__file__).resolve().parents[3] / "resources" / "examples" / "desktop_xterm.yaml"


@pytest.mark.skipif(
    shutil.which("xterm") is None, reason="xterm is not installed (apt-get install xterm)"
)
def test_xterm_example_writes_the_file(xvfb_display, desktop_registry, tmp_path: Path) -> None:
    out = tmp_path / "hello.txt"
    loaded = load_valid(EXAMPLE, desktop_registry)
    engine = Engine(desktop_registry, artifacts_dir=tmp_path / "artifacts")
    try:
        result = engine.run(loaded, {"out": str(out), "message": "hello from the xterm test"})
    finally:
        engine.close()
    assert result.ok, result.error
    assert out.read_text(encoding="utf-8") == "hello from the xterm test\n"
    assert result.outputs["text"] == "hello from the xterm test\n"
    pid = result.outputs["pid"]
    eventually(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    )


IMAGE_EXAMPLE = EXAMPLE.with_name("desktop_click_image.yaml")  # as shipped: test_examples.py


def test_click_image_example_heals_to_the_alternative(
    open_window, desktop_registry, tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    from automation.blocks.desktop.display import Box, grab

    light = open_window(name="light")
    x, y, w, h = light.box("save")
    capture, _ = grab(Box(x + w // 2 - 60, y + h // 2 - 14, 120, 28))
    light.close()
    stale = np.full((28, 120, 3), 250, np.uint8)
    cv2.putText(stale, "Old look", (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 90, 0), 2)
    cv2.imwrite(str(tmp_path / "stale.png"), stale)
    cv2.imwrite(str(tmp_path / "capture.png"), capture)
    dark = open_window("--dark", scale=1.25, name="dark")
    engine = Engine(desktop_registry, artifacts_dir=tmp_path / "artifacts")
    try:
        result = engine.run(
            load_valid(IMAGE_EXAMPLE, desktop_registry),
            {
                "template": str(tmp_path / "stale.png"),
                "alternative": str(tmp_path / "capture.png"),
                "dialog": False,
            },
        )
    finally:
        engine.close()
    assert result.ok, result.error
    assert result.outputs["anchor"] == "alternative" and result.outputs["healed"] is True
    dark.wait_for(lambda s: s["save_clicks"] == 1)
    assert Path(result.outputs["screenshot"]).exists()
    assert (tmp_path / "stale.refreshed.png").exists()
