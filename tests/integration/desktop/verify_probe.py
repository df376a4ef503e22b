"""Run inside ``dbus-run-session``: type into a real Mousepad with ``verify: true``.

Types once into the editor (the text arrives), then again while the Go To
dialog is open (it does not); prints one JSON line per attempt.

A separate process because libatspi binds to one accessibility bus for the
life of a process; this one gets a private session bus (and the
accessibility bus it starts) and ends with it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from automation.blocks.desktop import accessibility, text_entry
from automation.blocks.desktop.input import KeyboardHotkey, KeyboardType
from automation.blocks.desktop.windows import WindowFocus, list_windows
from automation.errors import BlockError
from automation.testing import run_block

WAIT = 20.0


def main(document: str, text: str, folder: Path) -> None:
    app = subprocess.Popen(["mousepad", "--disable-server", document])
    try:
        deadline = time.monotonic() + WAIT
        while not (windows := list_windows(r"probe\.txt - Mousepad$", include_hidden=False)):
            if time.monotonic() > deadline:
                raise SystemExit("mousepad showed no window")
            time.sleep(0.05)
        run_block(WindowFocus, {"window_id": windows[0].id}, workflow_dir=folder)
        # the app registers on the accessibility bus a moment after its window maps
        while accessibility.focused_element(text_entry.focused_target().pid) is None:
            if time.monotonic() > deadline:
                raise SystemExit("mousepad's text view never showed on the accessibility bus")
            time.sleep(0.05)
        sys.stdout.write(json.dumps(_typed(text, folder)) + "\n")
        # a modal dialog (Go To, Ctrl+L) takes the editor's input away while the X focus
        # stays on the editor (no window manager): keys sent now never arrive
        run_block(KeyboardHotkey, {"keys": ["ctrl", "l"]}, workflow_dir=folder)
        while not list_windows("^Go To$", include_hidden=False):
            if time.monotonic() > deadline + WAIT:
                raise SystemExit("the Go To dialog did not open")
            time.sleep(0.05)
        sys.stdout.write(json.dumps(_typed("lost", folder)) + "\n")
    finally:
        app.kill()
        app.wait()


def _typed(text: str, folder: Path) -> dict[str, object]:
    try:
        return dict(
            run_block(KeyboardType, {"text": text, "verify": True}, workflow_dir=folder).last
        )
    except BlockError as exc:
        return {"error": str(exc)}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
