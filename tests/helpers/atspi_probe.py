"""Print the buttons of one application as JSON, read from the accessibility bus.

    python -m tests.helpers.atspi_probe APP_NAME [--press ITEM_NAME]

Run as a child process with the session's ``DBUS_SESSION_BUS_ADDRESS`` and
``DISPLAY``: libatspi binds to one bus for the life of a process, so the
test process itself never loads it.  Output: ``{"buttons": [[name, role, x,
y, width, height], ...]}`` in screen pixels, only buttons that are showing
and have an area.  Exit status 2 when the application is not on the bus yet.
With ``--press``, first run the first action of the menu item of that name
(speedcrunch's keypad is shown through View > Keypad); exit status 3 when
there is no such item yet.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(argv: list[str]) -> int:
    import gi

    gi.require_version("Atspi", "2.0")
    from gi.repository import Atspi

    wanted = argv[0].lower()
    press = argv[2] if len(argv) > 2 and argv[1] == "--press" else None
    desktop = Atspi.get_desktop(0)
    found: list[list[Any]] = []
    pressed: list[str] = []
    apps = [desktop.get_child_at_index(i) for i in range(desktop.get_child_count())]
    app = next((a for a in apps if a is not None and (a.get_name() or "").lower() == wanted), None)
    if app is None:
        return 2

    def walk(node: Any, depth: int) -> None:
        if node is None or depth > 40:
            return
        role = node.get_role_name() or ""
        if press is not None and "menu item" in role and node.get_name() == press:
            Atspi.Action.do_action(node, 0)
            pressed.append(press)
            return
        if "button" in role:
            states = node.get_state_set()
            box = node.get_extents(Atspi.CoordType.SCREEN)
            if states.contains(Atspi.StateType.SHOWING) and box.width > 0 and box.height > 0:
                found.append([node.get_name() or "", role, box.x, box.y, box.width, box.height])
        for index in range(node.get_child_count()):
            walk(node.get_child_at_index(index), depth + 1)

    walk(app, 0)
    if press is not None:
        return 0 if pressed else 3
    sys.stdout.write(json.dumps({"buttons": found}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
