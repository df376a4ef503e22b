"""The user's preferences for the window and the tray, in the GUI's settings file.

They live in ``gui.ini`` under the config folder (``open_settings``), next to
the window's geometry, and never hold a secret: the API token of a remote
connection is in the OS keyring, and the connection itself in
``connection.json``, which the CLI shares (``supervisor.remote``).

Every reader loads them when it needs them (a new schedule's time zone, a
failure to notify), so a change in Edit › Preferences… applies at once,
without a restart: QSettings objects of one file in one process share their
data.  A value this release does not know falls back to its default.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from PySide6.QtCore import QSettings

from automation.errors import DeskpilotError
from automation.timezones import LOCAL
from supervisor.paths import DeskpilotPaths

log = logging.getLogger(__name__)

SETTINGS_FILE = "gui.ini"
TIMEZONE_KEY = "schedules/timezone"
NOTIFY_WHEN_KEY = "notifications/when"
NOTIFY_VIA_KEY = "notifications/via"
#: What Quit does with the supervisor ("keep" or "stop"); unset asks.
QUIT_SETTING = "quit/supervisor"


E = TypeVar("E", bound=StrEnum)


class NotifyWhen(StrEnum):
    """Which failed runs pop a notification."""

    UNATTENDED = "unattended"  # started by a schedule, file, webhook or workflow
    ALL = "all"
    NEVER = "never"


class NotifyVia(StrEnum):
    """Where notifications go."""

    DESKTOP = "desktop"  # the desktop's notification server, the tray if none answers
    TRAY = "tray"  # the tray icon's own messages only


class OnQuit(StrEnum):
    """What quitting the GUI does with this machine's supervisor."""

    ASK = "ask"
    KEEP = "keep"
    STOP = "stop"


@dataclass(frozen=True, kw_only=True)
class Preferences:
    #: the time zone a new schedule gets ('local': this computer's)
    schedule_timezone: str = LOCAL
    notify_when: NotifyWhen = NotifyWhen.UNATTENDED
    notify_via: NotifyVia = NotifyVia.DESKTOP
    on_quit: OnQuit = OnQuit.ASK


def open_settings(paths: DeskpilotPaths) -> QSettings:
    """The GUI's settings file of this DESKPILOT_HOME."""
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    return QSettings(str(paths.config_dir / SETTINGS_FILE), QSettings.Format.IniFormat)


def check_timezone(text: str) -> str:
    """``text`` as a time zone name, or ``DeskpilotError`` saying what a zone looks like."""
    zone = text.strip()
    if zone.lower() == LOCAL:
        return LOCAL
    if not zone:
        raise DeskpilotError("give a time zone: 'local', or a name such as Europe/Paris")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DeskpilotError(
            f"'{zone}' is not a time zone: pick one from the list (Region/City, such as "
            "Europe/Paris or America/New_York), or 'local' for this computer's"
        ) from None
    return zone


def _choice(settings: QSettings, key: str, kind: type[E], default: E) -> E:
    raw = str(settings.value(key, "") or "")
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        log.warning("%s in %s: unknown value %r, using %r", key, settings.fileName(), raw, default)
        return default


def load(settings: QSettings) -> Preferences:
    zone = str(settings.value(TIMEZONE_KEY, "") or LOCAL)
    try:
        zone = check_timezone(zone)
    except DeskpilotError as exc:
        log.warning("%s in %s: %s", TIMEZONE_KEY, settings.fileName(), exc)
        zone = LOCAL
    return Preferences(
        schedule_timezone=zone,
        notify_when=_choice(settings, NOTIFY_WHEN_KEY, NotifyWhen, NotifyWhen.UNATTENDED),
        notify_via=_choice(settings, NOTIFY_VIA_KEY, NotifyVia, NotifyVia.DESKTOP),
        on_quit=_choice(settings, QUIT_SETTING, OnQuit, OnQuit.ASK),
    )


def store(settings: QSettings, preferences: Preferences) -> None:
    settings.setValue(TIMEZONE_KEY, preferences.schedule_timezone)
    settings.setValue(NOTIFY_WHEN_KEY, preferences.notify_when.value)
    settings.setValue(NOTIFY_VIA_KEY, preferences.notify_via.value)
    if preferences.on_quit is OnQuit.ASK:
        settings.remove(QUIT_SETTING)  # unset asks, as before this setting had a page
    else:
        settings.setValue(QUIT_SETTING, preferences.on_quit.value)
    settings.sync()


def load_for(paths: DeskpilotPaths) -> Preferences:
    return load(open_settings(paths))
