"""keyboard.type into real Debian apps: a terminal (keys), a text editor (checked paste).

xterm ignores Ctrl+V, so the default method must send key events, remapping
spare keys for non-ASCII characters; the shell writes what arrived into a file
(``cat > file``), which is read back.  Mousepad (GTK) gets a paste that the
step waits on: typed then saved with Ctrl+S twenty times in a row, the file
must hold exactly the text each time, never an empty save.
"""

from __future__ import annotations

from pathlib import Path

from automation.blocks.desktop.windows import WindowInfo
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.apps import started
from tests.integration.desktop.conftest import Flows

TYPE_FLOW = """
deskpilot: 1
name: type-into-app
inputs:
  window: {type: integer}
  text: {type: string}
nodes:
  focus:
    block: window.focus
    with: {window_id: "{{ inputs.window }}"}
  type:
    block: keyboard.type
    with: {text: "{{ inputs.text }}"}
links:
  - focus -> type
outputs:
  method: "{{ nodes.type.method }}"
  window: "{{ nodes.type.window }}"
"""

SAVE_FLOW = """
deskpilot: 1
name: type-and-save
inputs:
  window: {type: integer}
  text: {type: string}
nodes:
  focus:
    block: window.focus
    with: {window_id: "{{ inputs.window }}"}
  select_all:
    block: keyboard.hotkey
    with: {keys: [ctrl, a]}
  type:
    block: keyboard.type
    with: {text: "{{ inputs.text }}"}
  save:
    block: keyboard.hotkey
    with: {keys: [ctrl, s]}
links:
  - focus -> select_all
  - select_all -> type
  - type -> save
outputs:
  method: "{{ nodes.type.method }}"
"""

TEXT = "Grüße, naïve café ✓ Ωμέγα 日本語 ß"


def _focus_pointer(window: WindowInfo) -> None:
    """Without a window manager keys follow the pointer once focus reverts: keep it on."""
    from automation.blocks.desktop.display import gui

    x, y = window.box.center
    gui().moveTo(x, y)


def test_non_ascii_into_xterm_with_the_default_method(
    xvfb_display: XDisplay, flows: Flows, tmp_path: Path
) -> None:
    out = tmp_path / "typed.txt"
    command = ["xterm", "-T", "typing-xterm", "-e", "sh", "-c", f"cat > '{out}'"]
    with started(xvfb_display, command, "typing-xterm", tmp_path / "xterm.log") as app:
        _focus_pointer(app.window)
        result = flows.run(TYPE_FLOW, {"window": app.window.id, "text": TEXT + "\n"})
        assert result.ok, result.error
        assert result.outputs["method"] == "keys"
        assert "xterm" in result.outputs["window"].lower()
        eventually(lambda: out.read_text(encoding="utf-8") == TEXT + "\n", timeout=10)


def test_mousepad_saves_exactly_what_was_typed_20_times(
    xvfb_display: XDisplay, flows: Flows, tmp_path: Path
) -> None:
    document = tmp_path / "note.txt"
    document.write_text("start\n", encoding="utf-8")
    command = ["dbus-run-session", "--", "mousepad", "--disable-server", str(document)]
    title = r"note\.txt - Mousepad$"
    seen: list[str] = []
    with started(xvfb_display, command, title, tmp_path / "mousepad.log") as app:
        _focus_pointer(app.window)
        for run in range(20):
            text = f"run {run}: {TEXT}"
            result = flows.run(SAVE_FLOW, {"window": app.window.id, "text": text})
            assert result.ok, result.error
            assert result.outputs["method"] == "clipboard"

            def saved(text: str = text) -> bool:
                content = document.read_text(encoding="utf-8")
                seen.append(content)
                return content == text

            eventually(saved, timeout=10, interval=0.02)
    assert "" not in seen, "an empty file was saved"
