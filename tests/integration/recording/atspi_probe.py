"""Run as a script inside an accessibility session: print an app's buttons as JSON.

``python -m tests.integration.recording.atspi_probe galculator`` prints
``{"name": [x, y, width, height], ...}`` in screen coordinates.  A separate
process, because the AT-SPI library binds to the session bus it first sees.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any


def _walk(node: Any, depth: int = 0) -> Iterator[Any]:
    yield node
    if depth > 30:
        return
    for index in range(node.get_child_count()):
        child = node.get_child_at_index(index)
        if child is not None:
            yield from _walk(child, depth + 1)


def main() -> None:
    import gi

    gi.require_version("Atspi", "2.0")
    from gi.repository import Atspi

    desktop = Atspi.get_desktop(0)
    buttons: dict[str, list[int]] = {}
    for index in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(index)
        if app is None or app.get_name() != sys.argv[1]:
            continue
        for node in _walk(app):
            if "button" in node.get_role_name() and node.get_name():
                box = node.get_extents(Atspi.CoordType.SCREEN)
                buttons[node.get_name()] = [box.x, box.y, box.width, box.height]
    sys.stdout.write(json.dumps(buttons))


if __name__ == "__main__":
    main()
