"""The desktop block module: registers cleanly, declares its resource, touches no display on import."""

from __future__ import annotations

import subprocess
import sys

from automation.blocks import desktop
from automation.blocks.registry import BlockRegistry

EXPECTED = {
    "mouse.move", "mouse.click", "mouse.drag", "mouse.scroll", "mouse.position",
    "keyboard.type", "keyboard.press", "keyboard.hotkey", "keyboard.key_down", "keyboard.key_up",
    "clipboard.get", "clipboard.set",
    "screen.size", "screen.screenshot", "screen.pixel", "screen.wait_for_color",
    "image.find", "image.wait", "image.click",
    "window.list", "window.focus", "window.move", "window.resize", "window.minimize",
    "window.close", "window.wait", "app.launch",
}  # fmt: skip


def test_every_block_registers_and_needs_the_desktop() -> None:
    registry = BlockRegistry()
    registry.register_module(desktop)
    assert set(registry.ids()) == EXPECTED
    for block in registry:
        assert block.resources == frozenset({"desktop"}), block.id
        assert block.category == "desktop"
        for name, field in block.Input.model_fields.items():
            assert field.description, f"{block.id}.{name} has no description"


def test_import_needs_no_display_and_no_qt() -> None:
    code = (
        "import os, sys\n"
        "os.environ.pop('DISPLAY', None)\n"
        "sys.modules['PySide6'] = None\n"
        "import automation.blocks.desktop as d\n"
        "assert len(d.BLOCKS) > 20\n"
        "assert 'pyautogui' not in sys.modules and 'mss' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_step_without_a_display_fails_plainly(tmp_path) -> None:
    code = (
        "import os\n"
        "os.environ.pop('DISPLAY', None)\n"
        "from automation.blocks.desktop.input import MousePosition\n"
        "from automation.errors import BlockError\n"
        "from automation.testing import run_block\n"
        "try:\n"
        f"    run_block(MousePosition, {{}}, workflow_dir=__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "except BlockError as exc:\n"
        "    print(type(exc).__name__, exc.retryable, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("DisplayUnavailable False no display: DISPLAY is not set"), (
        done.stdout + done.stderr
    )
