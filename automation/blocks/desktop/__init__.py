"""Desktop blocks: mouse, keyboard, clipboard, screen, image targeting, windows, apps,
and UI elements through the accessibility bus (``ui.*``, see ``accessibility.py``).

Every block here declares the ``desktop`` resource (one run drives the mouse
and keyboard at a time) and leaves a screenshot with the search region and the
best candidate drawn on it when it fails.

Stopping desktop automation from outside a run: call ``abort()`` (and
``resume()``) in the worker process, or create the flag files
``desktop.pause`` / ``desktop.abort`` in ``<DESKPILOT_HOME>/state/`` (see
``display.control_dir()``).  pyautogui's fail-safe stays on: moving the mouse
into a screen corner fails the step with a non-retryable error.

Nothing here touches the display at import time; pyautogui and mss connect
on the first step that needs them.
"""

from __future__ import annotations

from automation.blocks.desktop import clipboard, image, input, screen, screen_text, ui, windows
from automation.blocks.desktop.display import abort, control_dir, resume

BLOCKS = (
    *input.BLOCKS,
    *clipboard.BLOCKS,
    *screen.BLOCKS,
    *screen_text.BLOCKS,
    *image.BLOCKS,
    *windows.BLOCKS,
    *ui.BLOCKS,
)

__all__ = ["BLOCKS", "abort", "control_dir", "resume"]
