"""D-Bus services that answer and signal as a screen saver and as logind do: for session tests.

``python -m tests.helpers.fake_screensaver ADDRESS STATE_FILE [--logind|--gnome] [--quiet]``
connects to the bus at ``ADDRESS`` and owns ``org.freedesktop.ScreenSaver``
(or ``org.gnome.ScreenSaver`` with ``--gnome``): ``GetActive`` is True
while ``STATE_FILE`` holds "locked", and ``ActiveChanged(b)`` is emitted
when that changes.  With ``--logind`` it owns ``org.freedesktop.login1``:
``GetSession``/``GetSessionByPID`` name one session object,
``Properties.Get`` of its ``LockedHint`` is True while the file holds
"locked-hint" (``Lock``/``Unlock`` and ``PropertiesChanged`` are emitted
when that changes), the manager's ``PreparingForSleep`` while it holds
"sleeping" (``PrepareForSleep(b)`` on each change).  With ``--display-only``
as well, the process has no session of its own (``GetSession`` and
``GetSessionByPID`` answer logind's errors, as for a supervisor started as a
systemd user service): only the user object's ``Display`` property names the
graphical session, whose object then carries the lock; a lock also emits a
decoy ``Lock`` from another session first, which a watch must not be
subscribed to.  ``--quiet`` answers
calls but emits no signals (a service that does not signal: only polling
sees it).  It prints "ready" once it owns its name.

Real services on a real (private) bus: logind and a desktop's screen saver
cannot run on these machines, so only the state behind them is a file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

SCREENSAVERS = {
    "freedesktop": ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver"),
    "gnome": ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver"),
}
LOGIND = "org.freedesktop.login1"
SESSION_PATH = "/org/freedesktop/login1/session/_3test"
AUTO_PATH = "/org/freedesktop/login1/session/auto"
USER_PATH = "/org/freedesktop/login1/user/self"
#: The user's graphical session, found only through ``User.Display`` (``--display-only``).
DISPLAY_ID = "c7"
DISPLAY_PATH = f"/org/freedesktop/login1/session/{DISPLAY_ID}"
#: Another session of the user (a text login): its Lock says nothing about the display.
OTHER_PATH = "/org/freedesktop/login1/session/c9"
MANAGER_PATH = "/org/freedesktop/login1"
SESSION = "org.freedesktop.login1.Session"
MANAGER = "org.freedesktop.login1.Manager"
#: Seconds between looks at the state file.
LOOK = 0.02


def _state(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _signals(
    logind: bool, name: str, path: str, before: str, after: str, session_path: str = SESSION_PATH
) -> list[object]:
    """What the real service emits when its state goes from ``before`` to ``after``."""
    out: list[object] = []
    if not logind:
        was, now = before == "locked", after == "locked"
        if was != now:
            out.append(new_signal(DBusAddress(path, interface=name), "ActiveChanged", "b", (now,)))
        return out
    was, now = before == "locked-hint", after == "locked-hint"
    if was != now:
        if now and session_path != SESSION_PATH:
            out.append(new_signal(DBusAddress(OTHER_PATH, interface=SESSION), "Lock"))
        session = DBusAddress(session_path, interface=SESSION)
        out.append(new_signal(session, "Lock" if now else "Unlock"))
        props = DBusAddress(session_path, interface="org.freedesktop.DBus.Properties")
        out.append(
            new_signal(
                props, "PropertiesChanged", "sa{sv}as", (SESSION, {"LockedHint": ("b", now)}, [])
            )
        )
    was, now = before == "sleeping", after == "sleeping"
    if was != now:
        manager = DBusAddress(MANAGER_PATH, interface=MANAGER)
        out.append(new_signal(manager, "PrepareForSleep", "b", (now,)))
    return out


def main(address: str, state: Path, flags: list[str]) -> None:
    logind = "--logind" in flags
    quiet = "--quiet" in flags
    display_only = "--display-only" in flags
    session_path = DISPLAY_PATH if display_only else SESSION_PATH
    name, path = SCREENSAVERS["gnome" if "--gnome" in flags else "freedesktop"]
    if logind:
        name, path = LOGIND, MANAGER_PATH
    conn = open_dbus_connection(bus=address)
    reply = conn.send_and_get_reply(message_bus.RequestName(name, 4))  # 4: do not queue
    if reply.body[0] != 1:
        raise SystemExit(f"could not own {name}: {reply.body}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    seen = _state(state)
    while True:
        now = _state(state)
        if now != seen and not quiet:
            for signal in _signals(logind, name, path, seen, now, session_path):
                conn.send(signal)
        seen = now
        try:
            message = conn.receive(timeout=LOOK)
        except TimeoutError:
            continue
        header = message.header
        if header.message_type is not MessageType.method_call:
            continue
        member = header.fields.get(HeaderFields.member)
        at = header.fields.get(HeaderFields.path)
        current = _state(state)
        if not logind and at == path and member == "GetActive":
            conn.send(new_method_return(message, "b", (current == "locked",)))
        elif logind and member in ("GetSession", "GetSessionByPID") and at == MANAGER_PATH:
            if display_only:
                error = "NoSuchSession" if member == "GetSession" else "NoSessionForPID"
                conn.send(new_error(message, f"org.freedesktop.login1.{error}"))
            else:
                conn.send(new_method_return(message, "o", (SESSION_PATH,)))
        elif logind and member == "Get" and at == USER_PATH and message.body[1] == "Display":
            display = (DISPLAY_ID, DISPLAY_PATH) if display_only else ("", "/")
            conn.send(new_method_return(message, "v", (("(so)", display),)))
        elif logind and member == "Get" and at in (session_path, AUTO_PATH, MANAGER_PATH):
            _interface, prop = message.body
            session = at in (session_path, AUTO_PATH)
            value = {
                (True, "LockedHint"): current == "locked-hint",
                (False, "PreparingForSleep"): current == "sleeping",
            }.get((session, prop))
            if value is None:
                conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownProperty"))
            else:
                conn.send(new_method_return(message, "v", (("b", value),)))
        else:
            conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
