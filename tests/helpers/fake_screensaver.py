"""D-Bus services that answer as a screen saver and as logind do: for session tests.

``python -m tests.helpers.fake_screensaver ADDRESS STATE_FILE [--logind]``
connects to the bus at ``ADDRESS`` and owns ``org.freedesktop.ScreenSaver``
(``GetActive`` on ``/org/freedesktop/ScreenSaver`` is True while
``STATE_FILE`` holds "locked"), or with ``--logind`` owns
``org.freedesktop.login1`` (``Properties.Get`` of the session's
``LockedHint`` is True while the file holds "locked-hint", the manager's
``PreparingForSleep`` while it holds "sleeping").  It prints "ready" once it
owns its name.  Real services on a real bus: only the state behind them is
a file, since no desktop session or logind runs here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

SCREENSAVER = ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver")
LOGIND = "org.freedesktop.login1"
SESSION_PATH = "/org/freedesktop/login1/session/auto"
MANAGER_PATH = "/org/freedesktop/login1"


def _state(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def main(address: str, state: Path, logind: bool) -> None:
    name = LOGIND if logind else SCREENSAVER[0]
    conn = open_dbus_connection(bus=address)
    reply = conn.send_and_get_reply(message_bus.RequestName(name, 4))  # 4: do not queue
    if reply.body[0] != 1:
        raise SystemExit(f"could not own {name}: {reply.body}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        message = conn.receive()
        header = message.header
        if header.message_type is not MessageType.method_call:
            continue
        member = header.fields.get(HeaderFields.member)
        path = header.fields.get(HeaderFields.path)
        if not logind and path == SCREENSAVER[1] and member == "GetActive":
            conn.send(new_method_return(message, "b", (_state(state) == "locked",)))
        elif logind and member == "Get" and path in (SESSION_PATH, MANAGER_PATH):
            _interface, prop = message.body
            value = {
                (SESSION_PATH, "LockedHint"): _state(state) == "locked-hint",
                (MANAGER_PATH, "PreparingForSleep"): _state(state) == "sleeping",
            }.get((path, prop))
            if value is None:
                conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownProperty"))
            else:
                conn.send(new_method_return(message, "v", (("b", value),)))
        else:
            conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), "--logind" in sys.argv[3:])
