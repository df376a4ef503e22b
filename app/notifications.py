"""Desktop notifications through ``org.freedesktop.Notifications``, the tray as a fallback.

A failed unattended run must reach the user.  The tray's balloon messages
reach only desktops that show a tray, and stock GNOME shows none, so the
desktop's own notification server (GNOME Shell, KDE Plasma, dunst, xfce4-
notifyd...) comes first and the tray only when no server answers.

The call is one D-Bus method call (``Notify``, signature ``susssasa{sv}i``)
on the session bus, made with jeepney, which the supervisor already uses for
the session probe: QtDBus in PySide6 cannot give ``replaces_id`` its unsigned
type, and servers refuse the call without it.  It blocks for at most
``TIMEOUT`` seconds, so callers run it off the GUI thread.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Literal

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
#: Seconds a call may take before the tray is used instead.
TIMEOUT = 2.0
#: How long the server shows a notification (ms); critical ones stay until dismissed.
SHOW_MS = 10_000

Urgency = Literal["low", "normal", "critical"]
_URGENCY: dict[str, int] = {"low": 0, "normal": 1, "critical": 2}


class DesktopNotifications:
    """Sends notifications to the session's notification server, if one runs."""

    def __init__(self, bus_address: str | None = None, app_name: str = "Deskpilot") -> None:
        self.bus_address = bus_address
        self.app_name = app_name
        self._lock = threading.Lock()

    def send(self, title: str, text: str, urgency: Urgency = "normal", icon: str = "") -> bool:
        """Whether a notification server took it (False: none runs, or the bus is gone)."""
        address = self.bus_address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            return False
        from jeepney import (  # type: ignore[import-untyped]
            DBusAddress,
            MessageType,
            new_method_call,
        )
        from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

        target = DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE)
        hints = {"urgency": ("y", _URGENCY[urgency]), "desktop-entry": ("s", "deskpilot")}
        body: tuple[object, ...] = (self.app_name, 0, icon, title, text, [], hints, SHOW_MS)
        with self._lock:
            try:
                with open_dbus_connection(bus=address) as connection:
                    owner = connection.send_and_get_reply(
                        message_bus.NameHasOwner(SERVICE), timeout=TIMEOUT
                    )
                    if not owner.body[0]:
                        return False
                    reply = connection.send_and_get_reply(
                        new_method_call(target, "Notify", "susssasa{sv}i", body),
                        timeout=TIMEOUT,
                    )
            except Exception as exc:  # jeepney, socket and timeout errors alike: use the tray
                log.info("desktop notification not sent: %s", exc)
                return False
        if reply.header.message_type is MessageType.error:
            log.info("the notification server refused a notification: %s", reply.body)
            return False
        return True
