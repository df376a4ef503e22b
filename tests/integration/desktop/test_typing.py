"""keyboard.type into real Debian apps: a terminal (keys), a text editor (checked paste).

xterm ignores Ctrl+V, so the default method must send key events, remapping
spare keys for non-ASCII characters; the shell writes what arrived into a file
(``cat > file``), which is read back.  Mousepad (GTK) gets a paste that the
step waits on: typed then saved with Ctrl+S twenty times in a row, the file
must hold exactly the text each time, never an empty save.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from automation.blocks.desktop.input import KeyboardType
from automation.blocks.desktop.windows import WindowFocus, WindowInfo
from automation.errors import BlockError
from automation.testing import run_block
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.apps import need, started
from tests.integration.desktop.conftest import ROOT, Flows

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
MANY = "日本語のテキストを入力します。漢字、ひらがな、カタカナ、記号！？「」『』【】"


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
        # more different characters than the key map has spare keys: bound in turns
        text = f"{TEXT}\n{MANY}\n"
        result = flows.run(TYPE_FLOW, {"window": app.window.id, "text": text})
        assert result.ok, result.error
        assert result.outputs["method"] == "keys"
        assert "xterm" in result.outputs["window"].lower()
        eventually(lambda: out.read_text(encoding="utf-8") == text, timeout=10)


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


def test_verify_reads_the_typed_text_back_through_accessibility(
    xvfb_display: XDisplay, tmp_path: Path
) -> None:
    need("mousepad")
    need("dbus-run-session")
    document = tmp_path / "probe.txt"
    document.write_text("", encoding="utf-8")
    runtime = tmp_path / "runtime"  # the accessibility bus socket goes here, not in ~/.cache
    runtime.mkdir(mode=0o700)
    env = xvfb_display.env(
        LANG="C.UTF-8", PYTHONPATH=str(ROOT), NO_AT_BRIDGE="0", XDG_RUNTIME_DIR=str(runtime)
    )
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    saved = _root_property(xvfb_display, "AT_SPI_BUS", None)  # the probe starts its own bus
    probe = subprocess.Popen(
        ["dbus-run-session", "--", sys.executable, "-m", "tests.integration.desktop.verify_probe",
         str(document), TEXT, str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = probe.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(probe.pid, signal.SIGKILL)  # the session bus and what it started
        _root_property(xvfb_display, "AT_SPI_BUS", saved)
    # python-xlib prints its xauthority warnings to stdout too: keep the JSON lines
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert probe.returncode == 0 and len(lines) == 2, err.decode(errors="replace")[-2000:]
    arrived, lost = (json.loads(line) for line in lines)
    assert arrived.get("verified") is True, arrived
    assert arrived["method"] == "clipboard"
    # a modal dialog holds the editor's input: refused before anything is typed, naming both
    # windows, with evidence (verify would have caught the lost text after typing)
    error = str(lost.get("error"))
    assert "modal dialog 'Go To'" in error and "is open over" in error, lost
    assert "Mousepad' (id" in error and "(screenshot: " in error, lost


def _root_property(display: XDisplay, name: str, value: bytes | None) -> bytes | None:
    """Set (or delete, for None) a string property of the root window; returns the old value."""
    from Xlib import Xatom  # type: ignore[import-untyped]
    from Xlib import display as xdisplay

    conn = xdisplay.Display(display.name)
    try:
        root = conn.screen().root
        atom = conn.intern_atom(name)
        old = root.get_full_property(atom, Xatom.STRING)
        if value is None:
            root.delete_property(atom)
        else:
            root.change_property(atom, Xatom.STRING, 8, value)
        conn.sync()
        return bytes(old.value) if old is not None else None
    finally:
        conn.close()


def test_verify_in_a_terminal_fails_before_typing(
    xvfb_display: XDisplay, flows: Flows, tmp_path: Path
) -> None:
    out = tmp_path / "typed.txt"
    command = ["xterm", "-T", "typing-verify", "-e", "sh", "-c", f"cat > '{out}'"]
    with started(xvfb_display, command, "typing-verify", tmp_path / "xterm.log") as app:
        _focus_pointer(app.window)
        run_block(WindowFocus, {"window_id": app.window.id}, workflow_dir=tmp_path)
        with pytest.raises(BlockError, match="cannot read text back from .*terminals"):
            run_block(
                KeyboardType, {"text": "never typed\n", "verify": True}, workflow_dir=tmp_path
            )
        run_block(KeyboardType, {"text": "typed\n"}, workflow_dir=tmp_path)
        eventually(lambda: out.read_text(encoding="utf-8") == "typed\n", timeout=10)


def test_a_clipboard_reader_elsewhere_does_not_pass_for_the_window_taking_the_paste(
    xvfb_display: XDisplay, tmp_path: Path
) -> None:
    """xterm ignores Ctrl+V; another program reading the clipboard meanwhile (as clipboard
    managers do) must not make the paste look taken: the step fails loudly."""
    need("xsel")
    out = tmp_path / "typed.txt"
    command = ["xterm", "-T", "typing-reader", "-e", "sh", "-c", f"cat > '{out}'"]
    reader = subprocess.Popen(
        ["sh", "-c", "while :; do xsel --clipboard --output >/dev/null 2>&1; sleep 0.02; done"],
        env=xvfb_display.env(),
        start_new_session=True,
    )
    try:
        with started(xvfb_display, command, "typing-reader", tmp_path / "xterm.log") as app:
            _focus_pointer(app.window)
            run_block(WindowFocus, {"window_id": app.window.id}, workflow_dir=tmp_path)
            with pytest.raises(BlockError, match="the paste was read by process"):
                run_block(
                    KeyboardType, {"text": TEXT, "method": "clipboard"}, workflow_dir=tmp_path
                )
            assert out.read_text(encoding="utf-8") == ""
    finally:
        os.killpg(reader.pid, signal.SIGKILL)
        reader.wait()
