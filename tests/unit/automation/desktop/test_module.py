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
    "screen.size", "screen.screenshot", "screen.pixel", "screen.wait_for_color", "screen.read_text",
    "image.find", "image.wait", "image.click",
    "window.list", "window.focus", "window.move", "window.resize", "window.minimize",
    "window.close", "window.wait", "app.launch",
    "ui.find", "ui.click", "ui.get_text", "ui.set_text", "ui.wait",
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
        "assert 'gi' not in sys.modules and 'tesserocr' not in sys.modules\n"
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


def test_every_desktop_step_has_a_default_timeout() -> None:
    """A node that sets no timeout (and a workflow with no default) still gets one."""
    from automation.engine.plan import step_timeout
    from automation.loader import parse_workflow

    registry = BlockRegistry()
    registry.register_module(desktop)
    loaded = parse_workflow(
        "deskpilot: 1\nname: t\nnodes:\n"
        "  read: {block: clipboard.get}\n"
        "  wait: {block: window.wait, with: {title: x, timeout: 30}}\n"
        "  later: {block: window.wait, with: {title: x, timeout: '{{ inputs.t }}'}}\n"
        "  own: {block: clipboard.get, timeout: 3s}\n"
        "  typed: {block: keyboard.type, with: {text: abcd, interval: 1}}\n"
    )
    workflow = loaded.workflow

    def timeout(node: str) -> float | None:
        return step_timeout(workflow, node, registry.get(workflow.nodes[node].block))

    assert timeout("read") == 120.0
    assert timeout("wait") == 150.0  # the wait the node asks for comes on top
    assert timeout("later") == 120.0 + 3600.0  # unknown until run time: bounded anyway
    assert timeout("own") == 3.0
    assert timeout("typed") == 120.0 + 4 * 1.01
    for block in registry:
        assert block.timeout_for({}) is not None, block.id
