"""Run desktop blocks in a process of their own, on the display in ``DISPLAY``: for tests.

``python -m tests.integration.desktop.block_probe FOLDER STEPS_JSON`` runs each
``[block id, inputs]`` of the JSON list with ``run_block`` and prints one JSON
line per step: ``{"outputs": {...}}`` or ``{"error": "..."}``.  The steps share
one ``run_state``, as the steps of one run do (the window the last desktop
step acted on, which the focus check of keys without ``window:`` uses).

Two steps are the test's, not blocks: ``probe.spawn`` (``{argv, title}``)
starts a program and waits for its window, and ``probe.window``
(``{title, present}``) waits until a window with that title is shown (or
none is); both stand for something happening on the desktop between two
steps of the run, and leave the run's state alone.  Tests on a
display of their own use it because pyautogui binds to the display it was
first imported on, for the life of the process: running the blocks in the
test process would leave the other desktop tests typing into a display that
is gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from automation.blocks.desktop.input import (
    KeyboardHotkey,
    KeyboardPress,
    KeyboardType,
    KeyDown,
    KeyUp,
    MouseClick,
    MouseMove,
    MouseScroll,
)
from automation.blocks.desktop.ui import UiClick
from automation.blocks.desktop.windows import AppLaunch, WindowFocus, WindowWait, list_windows
from automation.errors import DeskpilotError
from automation.testing import run_block

BLOCKS = {
    block.id: block
    for block in (
        WindowFocus,
        WindowWait,
        AppLaunch,
        KeyboardType,
        KeyboardHotkey,
        KeyboardPress,
        KeyDown,
        KeyUp,
        MouseClick,
        MouseMove,
        MouseScroll,
        UiClick,
    )
}


def _shown(title: str) -> list[int]:
    return [w.id for w in list_windows(title, include_hidden=False)]


def _desktop_event(block_id: str, inputs: dict[str, object]) -> dict[str, object]:
    title = str(inputs["title"])
    pid = None
    if block_id == "probe.spawn":
        argv = [str(part) for part in inputs["argv"]]  # type: ignore[attr-defined]
        pid = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid
    present = bool(inputs.get("present", True))
    deadline = time.monotonic() + 15.0
    while bool(_shown(title)) != present:
        if time.monotonic() > deadline:
            return {"error": f"window {title!r} present={present} not seen within 15s"}
        time.sleep(0.05)
    return {"outputs": {"pid": pid, "ids": _shown(title)}}


def main(folder: Path, steps: list[tuple[str, dict[str, object]]]) -> None:
    run_state: dict[str, object] = {}
    for block_id, inputs in steps:
        if block_id.startswith("probe."):
            sys.stdout.write(json.dumps(_desktop_event(block_id, inputs)) + "\n")
            sys.stdout.flush()
            continue
        try:
            result = run_block(BLOCKS[block_id], inputs, workflow_dir=folder, run_state=run_state)
            line: dict[str, object] = {"outputs": result.emissions[-1] if result.emissions else {}}
        except DeskpilotError as exc:
            line = {"error": str(exc)}
        sys.stdout.write(json.dumps(line, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(sys.argv[2]))
