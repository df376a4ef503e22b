"""Time zones of schedules: ``local`` (the default) or an IANA name.

A person who writes ``cron: "0 9 * * *"`` means nine in the morning where
they are, so a schedule without a ``timezone`` follows the computer's own
zone, looked up when the schedule is armed (tzlocal, which APScheduler
already brings, honours ``TZ`` and ``/etc/localtime``).  A fixed zone is an
IANA name such as ``Europe/Berlin`` or ``UTC``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCAL = "local"


def local_zone() -> ZoneInfo:
    """This computer's zone; UTC when it cannot be told (a container without tzdata)."""
    import tzlocal

    try:
        zone = tzlocal.get_localzone()
    except Exception:  # tzlocal raises several kinds for a broken /etc/localtime
        return ZoneInfo("UTC")
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(str(zone))


def resolve(name: str) -> ZoneInfo:
    """The zone a schedule's ``timezone`` names; ``ValueError`` says what to write instead."""
    if name.strip().lower() == LOCAL:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone '{name}'; use 'local' (this computer's) or an IANA name "
            "such as 'Europe/Berlin' or 'UTC'"
        ) from None


def describe(name: str) -> str:
    """How to show a schedule's zone: ``local (Europe/Berlin)`` or the name itself."""
    if name.strip().lower() == LOCAL:
        return f"{LOCAL} ({local_zone().key})"
    return name
