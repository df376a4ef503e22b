"""Telling systemd how the supervisor is doing: ready, alive, stopping.

Under ``Type=notify`` with ``WatchdogSec=`` (packaging/deskpilotd.service),
systemd restarts a supervisor that stops pinging, which is how a hung one is
recovered: a process that is alive but stuck (a deadlock, a blocking call on
the event loop) passes every "is it running" check.  The pings come from a
task on the supervisor's event loop, so they stop exactly when the loop that
watches workers' heartbeats stops turning.

The protocol is one datagram per message to the ``AF_UNIX`` socket named in
``$NOTIFY_SOCKET`` (``@`` for the abstract namespace), as sd_notify(3)
describes; it is small enough that linking libsystemd for it is not worth a
dependency.  Outside systemd (no ``$NOTIFY_SOCKET``) everything here is a
no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Ping at this fraction of WatchdogSec, as sd_watchdog_enabled(3) recommends (half).
PING_FRACTION = 0.5


@dataclass(frozen=True)
class Notifier:
    """Where systemd listens, and how often it wants to hear that we are alive."""

    address: str
    watchdog_interval: float | None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, pid: int | None = None
    ) -> Notifier | None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        interval: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        owner = env.get("WATCHDOG_PID", "")
        mine = not owner or owner == str(os.getpid() if pid is None else pid)
        if usec and mine:
            try:
                value = int(usec)
            except ValueError:
                logger.warning("WATCHDOG_USEC=%r is not a number; no watchdog pings", usec)
            else:
                if value > 0:
                    interval = value / 1_000_000 * PING_FRACTION
        return cls(address, interval)

    def notify(self, *states: str) -> bool:
        """Send ``KEY=VALUE`` lines; False (and a log line) when systemd cannot be reached."""
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(states).encode(), target)
        except OSError as exc:
            logger.warning("could not notify systemd at %s: %s", self.address, exc)
            return False
        return True


async def ping_watchdog(notifier: Notifier) -> None:
    """Ping for as long as the event loop turns; cancel the task to stop."""
    interval = notifier.watchdog_interval
    if interval is None:
        return
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def start_watchdog(notifier: Notifier | None) -> asyncio.Task[None] | None:
    if notifier is None or notifier.watchdog_interval is None:
        return None
    return asyncio.get_running_loop().create_task(ping_watchdog(notifier))


async def stop_watchdog(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
