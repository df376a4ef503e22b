"""Run inside ``dbus-run-session``: type into a real Mousepad with ``verify: true``.

A separate process because libatspi binds to one accessibility bus for the
life of a process; this one gets a private session bus (and the
accessibility bus it starts) and ends with it.  Prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from automation.blocks.desktop import accessibility, text_entry
from automation.blocks.desktop.input import KeyboardType
from automation.blocks.desktop.windows import WindowFocus, list_windows
from automation.errors import BlockError
from automation.testing import run_block

WAIT = 20.0


def main(document: str, text: str, folder: str) -> None:
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
        outcome: dict[str, object]
        try:
            outcome = run_block(
                KeyboardType, {"text": text, "verify": True}, workflow_dir=folder
            ).last
        except BlockError as exc:
            outcome = {"error": str(exc)}
        sys.stdout.write(json.dumps(outcome) + "\n")
    finally:
        app.kill()
        app.wait()


if __name__ == "__main__":
    main(*sys.argv[1:4])
