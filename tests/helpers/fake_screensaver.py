"""A D-Bus service that answers as ``org.freedesktop.ScreenSaver`` does: for session tests.

``python -m tests.helpers.fake_screensaver ADDRESS STATE_FILE`` connects to
the bus at ``ADDRESS``, owns the name ``org.freedesktop.ScreenSaver`` and
answers ``GetActive`` on ``/org/freedesktop/ScreenSaver`` with True while
``STATE_FILE`` holds "locked".  It prints "ready" once it owns the name.
A real service on a real bus: only the screen lock behind it is a file,
since no desktop session runs here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.ScreenSaver"
PATH = "/org/freedesktop/ScreenSaver"


def main(address: str, state: Path) -> None:
    conn = open_dbus_connection(bus=address)
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # 4: do not queue
    if reply.body[0] != 1:
        raise SystemExit(f"could not own {NAME}: {reply.body}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        message = conn.receive()
        header = message.header
        if header.message_type is not MessageType.method_call:
            continue
        member = header.fields.get(HeaderFields.member)
        path = header.fields.get(HeaderFields.path)
        if path == PATH and member == "GetActive":
            locked = state.exists() and state.read_text().strip() == "locked"
            conn.send(new_method_return(message, "b", (locked,)))
        else:
            conn.send(
                new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,))
            )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
