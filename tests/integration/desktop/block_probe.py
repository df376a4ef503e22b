"""Run desktop blocks in a process of their own, on the display in ``DISPLAY``: for tests.

``python -m tests.integration.desktop.block_probe FOLDER STEPS_JSON`` runs each
``[block id, inputs]`` of the JSON list with ``run_block`` and prints one JSON
line per step: ``{"outputs": {...}}`` or ``{"error": "..."}``.  Tests on a
display of their own use it because pyautogui binds to the display it was
first imported on, for the life of the process: running the blocks in the
test process would leave the other desktop tests typing into a display that
is gone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from automation.blocks.desktop.input import (
    KeyboardHotkey,
    KeyboardType,
    KeyDown,
    KeyUp,
    MouseClick,
    MouseMove,
    MouseScroll,
)
from automation.blocks.desktop.ui import UiClick
from automation.blocks.desktop.windows import WindowFocus
from automation.errors import DeskpilotError
from automation.testing import run_block

BLOCKS = {
    block.id: block
    for block in (
        WindowFocus,
        KeyboardType,
        KeyboardHotkey,
        KeyDown,
        KeyUp,
        MouseClick,
        MouseMove,
        MouseScroll,
        UiClick,
    )
}


def main(folder: Path, steps: list[tuple[str, dict[str, object]]]) -> None:
    for block_id, inputs in steps:
        try:
            result = run_block(BLOCKS[block_id], inputs, workflow_dir=folder)
            line: dict[str, object] = {"outputs": result.emissions[-1] if result.emissions else {}}
        except DeskpilotError as exc:
            line = {"error": str(exc)}
        sys.stdout.write(json.dumps(line, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(sys.argv[2]))
