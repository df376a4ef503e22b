"""Whether the desktop session can be driven now: is the screen locked, is the machine going to sleep.

A scheduled run that clicks and types on a locked screen types into the lock
screen, or fails on a window that is not there.  The trigger manager asks
before a desktop schedule fires, and holds the fire back while the session
is not usable (``supervisor/triggers/deferral.py``); the supervisor's
dispatch asks before it starts a queued desktop run
(``supervisor/desktop_gate.py``).  Both ask a ``SessionWatch``
(``supervisor/session_watch.py``), which keeps the state current from
D-Bus signals and uses the probe here for whole reads.

Two parts, as elsewhere in the supervisor: a pure decision
(``unusable_reason``) on a ``SessionState``, and a probe behind a small
interface (``SessionProbe``) that tests replace or point at their own bus.
``DBusSessionProbe`` asks, over D-Bus with jeepney:

* the session bus: ``org.freedesktop.ScreenSaver`` and
  ``org.gnome.ScreenSaver`` ``GetActive`` (the screen saver or lock is on);
* the system bus: logind's ``org.freedesktop.login1`` session
  ``LockedHint``, and the manager's ``PreparingForSleep`` (the
  ``PrepareForSleep`` signal's state).

A bus or a service that is not there says nothing: on a machine without a
screen saver or logind the session counts as usable, as it did before.
Every call has a short time limit, and the probe runs in a thread, never on
the supervisor's loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: Where the system bus listens when ``DBUS_SYSTEM_BUS_ADDRESS`` does not say (as jeepney).
SYSTEM_BUS_DEFAULT = "unix:path=/var/run/dbus/system_bus_socket"

#: Seconds one D-Bus call may take before its answer counts as "unknown".
CALL_TIMEOUT = 0.5

SCREENSAVERS = (
    ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver"),
    ("org.freedesktop.ScreenSaver", "/ScreenSaver", "org.freedesktop.ScreenSaver"),
    ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", "org.gnome.ScreenSaver"),
)
LOGIND = "org.freedesktop.login1"


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionState:
    """What the probe saw; ``locked_by`` names the service that said the screen is locked."""

    locked_by: str | None = None
    sleeping: bool = False


def unusable_reason(state: SessionState) -> str | None:
    """Why desktop automation must wait now, or None when the session is usable."""
    if state.sleeping:
        return "the machine is going to sleep (logind PrepareForSleep)"
    if state.locked_by is not None:
        return f"the screen is locked ({state.locked_by})"
    return None


class SessionProbe(Protocol):
    """Reads the session's state; may block for a short while (it is run in a thread)."""

    def read(self) -> SessionState: ...


class UsableSession:
    """A probe that always says "usable": for platforms without D-Bus."""

    def read(self) -> SessionState:
        return SessionState()


class DBusSessionProbe:
    """Screen savers on the session bus, logind on the system bus (see the module docstring).

    ``session_bus`` and ``system_bus`` are D-Bus addresses; None means the
    usual ones (``DBUS_SESSION_BUS_ADDRESS``, the system bus socket).  An
    empty string skips that bus.  ``session_path`` is logind's object for
    this user's session when it is known (``SessionWatch`` finds it);
    otherwise ``XDG_SESSION_ID`` or logind's ``auto`` alias is asked.
    """

    def __init__(
        self,
        *,
        session_bus: str | None = None,
        system_bus: str | None = None,
        session_path: str | None = None,
    ) -> None:
        self.session_bus = session_bus
        self.system_bus = system_bus
        self.session_path = session_path
        #: Whether the last ``read`` reached a bus at all (None: not read yet).  A read
        #: that reached none learnt nothing, and reading again learns nothing until a
        #: bus appears: ``SessionWatch`` then stops polling and waits for its reconnects.
        self.reached: bool | None = None

    def no_bus(self) -> bool:
        """Whether every bus this probe would ask names only missing sockets (no I/O but stats).

        A read would then return ``SessionState()`` without connecting anywhere:
        ``read_offline`` gives that answer without the thread a read needs.
        """
        session = self.session_bus
        if session is None:
            session = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        system = self.system_bus if self.system_bus is not None else "SYSTEM"
        return all(not address or bus_socket_missing(address) for address in (session, system))

    def read_offline(self) -> SessionState:
        """What ``read`` says when ``no_bus()``: nothing reached, nothing locked."""
        self.reached = False
        return SessionState()

    def read(self) -> SessionState:
        self.reached = False
        locked_by = self._screensaver()
        sleeping, logind_locked = self._logind()
        if locked_by is None and logind_locked:
            locked_by = "logind LockedHint"
        return SessionState(locked_by=locked_by, sleeping=sleeping)

    def _screensaver(self) -> str | None:
        address = self.session_bus
        if address is None:
            address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        if not address:
            return None
        with _connection(address) as conn:
            if conn is None:
                return None
            self.reached = True
            for name, path, interface in SCREENSAVERS:
                active = _call(conn, name, path, interface, "GetActive")
                if active:
                    return f"{name} GetActive"
        return None

    def _logind(self) -> tuple[bool, bool]:
        address = self.system_bus if self.system_bus is not None else "SYSTEM"
        if not address:
            return False, False
        with _connection(address) as conn:
            if conn is None:
                return False, False
            self.reached = True
            sleeping = _property(
                conn,
                "/org/freedesktop/login1",
                "org.freedesktop.login1.Manager",
                "PreparingForSleep",
            )
            session = os.environ.get("XDG_SESSION_ID")
            path = self.session_path or "/org/freedesktop/login1/session/auto"
            if session and self.session_path is None:
                found = _call(
                    conn, LOGIND, "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                    "GetSession", ("s", (session,)),
                )  # fmt: skip
                if isinstance(found, str):
                    path = found
            locked = _property(conn, path, "org.freedesktop.login1.Session", "LockedHint")
        return bool(sleeping), bool(locked)


def bus_socket_missing(address: str) -> bool:
    """Whether ``address`` (as jeepney takes it) names only socket files that do not exist.

    Checked before jeepney is imported: a supervisor on a machine without
    D-Bus (a headless box, a container) then never loads it, and stays
    lighter.  Addresses this cannot judge without jeepney (abstract sockets,
    other transports, escaped paths) count as present: jeepney decides.
    """
    if address == "SYSTEM":
        address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "") or SYSTEM_BUS_DEFAULT
    elif address == "SESSION":
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    paths: list[str] = []
    for part in address.split(";"):
        transport, _, info = part.partition(":")
        fields = dict(item.split("=", 1) for item in info.split(",") if "=" in item)
        path = fields.get("path")
        if transport != "unix" or path is None or "%" in path:
            return False
        paths.append(path)
    return bool(paths) and not any(os.path.exists(path) for path in paths)


@contextlib.contextmanager
def _connection(address: str) -> Any:
    """A blocking jeepney connection, or None when the bus is not there."""
    if bus_socket_missing(address):
        yield None
        return
    try:
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
    except ImportError:
        yield None
        return
    try:
        conn = open_dbus_connection(bus=address, auth_timeout=CALL_TIMEOUT)
    except Exception as exc:  # no socket, refused, auth failed: the bus says nothing
        logger.debug("D-Bus %s is not reachable: %s", address, exc)
        yield None
        return
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _call(
    conn: Any,
    name: str,
    path: str,
    interface: str,
    method: str,
    args: tuple[str, tuple[Any, ...]] | None = None,
) -> Any:
    from jeepney import (  # type: ignore[import-untyped]
        DBusAddress,
        MessageType,
        new_method_call,
    )

    address = DBusAddress(path, bus_name=name, interface=interface)
    message = new_method_call(address, method, *args) if args else new_method_call(address, method)
    try:
        reply = conn.send_and_get_reply(message, timeout=CALL_TIMEOUT)
    except Exception as exc:  # no such service or method, a timeout: unknown
        logger.debug("D-Bus %s.%s: %s", interface, method, exc)
        return None
    if reply.header.message_type is not MessageType.method_return:
        return None  # an error reply: no such service, object or method
    body = reply.body
    return body[0] if body else None


def _property(conn: Any, path: str, interface: str, name: str) -> Any:
    value = _call(
        conn, LOGIND, path, "org.freedesktop.DBus.Properties", "Get", ("ss", (interface, name))
    )
    # a variant arrives as (signature, value)
    if isinstance(value, tuple) and len(value) == 2:
        return value[1]
    return None


def default_probe() -> SessionProbe:
    """The probe ``deskpilotd`` uses: D-Bus on Linux, "always usable" elsewhere."""
    import sys

    if sys.platform.startswith("linux"):
        return DBusSessionProbe()
    return UsableSession()
