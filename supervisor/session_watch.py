"""The session's state kept current by D-Bus signals, with a poll only as a fallback.

``supervisor/session.py`` can ask whether the screen is locked; asking every
few seconds is late by up to that much and costs a thread hop each time.
A ``SessionWatch`` subscribes instead, on the supervisor's loop, to:

* the session bus: ``ActiveChanged(b)`` of ``org.freedesktop.ScreenSaver``
  and ``org.gnome.ScreenSaver`` (the screen saver or lock came on or off);
* the system bus: logind's ``PrepareForSleep(b)`` on the manager, and
  ``Lock``, ``Unlock`` and ``PropertiesChanged`` (``LockedHint``) on this
  user's session object.

It reads the whole state once when it starts and again after each
subscription (a change may have happened before it), then applies each
signal as it arrives (``apply_signal``, a pure function of the state and
the message).  The probe is still asked every ``fallback_poll`` seconds in
case a signal was lost, and every ``poll`` seconds while no bus could be
subscribed to but the probe still reaches one (a bus that refused the
subscription).  When the probe reaches no bus at all (no D-Bus here, as on
a headless machine, or every bus gone) a read learns nothing either: it is
then asked every ``fallback_poll`` seconds only, and a bus that appears is
found by the reconnects every ``reconnect_delay`` seconds, each of which
reads the whole state once it is subscribed.  While no bus is there at all,
each read or reconnect that finds none doubles its wait, up to
``IDLE_BACKOFF_MAX``: a machine without D-Bus has nothing to watch, and an
idle supervisor there wakes up for the session a few times in five minutes,
not six times a minute; a bus that appears later is found within that.

The supervisor's dispatch and the trigger manager read ``reason()`` (no
I/O) and ``subscribe`` to hear when it changes, so a run held back by a
locked screen starts as soon as the unlock signal arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from supervisor.session import (
    LOGIND,
    DBusSessionProbe,
    SessionProbe,
    SessionState,
    UsableSession,
    bus_socket_missing,
    unusable_reason,
)

logger = logging.getLogger(__name__)

#: Seconds to connect to a bus and say hello, or to get an answer while subscribing.
CONNECT_TIMEOUT = 2.0
STOP_TIMEOUT = 3.0  # seconds stop() waits for its tasks before leaving them behind
#: Seconds between attempts to reach a bus that is not there (or went away).
RECONNECT_DELAY = 30.0
#: Seconds between safety reads while signals arrive.
FALLBACK_POLL = 30.0
#: Seconds between reads while no bus could be subscribed to.
POLL = 2.0
#: The longest wait between reads, or between reconnects to a bus socket, while no bus
#: is there at all (the waits double from ``fallback_poll`` and ``reconnect_delay``).
IDLE_BACKOFF_MAX = 300.0

SCREENSAVER_INTERFACES = ("org.freedesktop.ScreenSaver", "org.gnome.ScreenSaver")
MANAGER_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
SESSION = "org.freedesktop.login1.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"


@dataclass(frozen=True, kw_only=True, slots=True)
class WatchedState:
    """Locks by source (the service that reported them, with how), and sleep."""

    locks: Mapping[str, str] = field(default_factory=dict)
    sleeping: bool = False

    def session_state(self) -> SessionState:
        first = next(iter(sorted(self.locks.items())), None)
        return SessionState(locked_by=None if first is None else first[1], sleeping=self.sleeping)

    @classmethod
    def from_read(cls, state: SessionState) -> WatchedState:
        """A whole read (the probe) replaces everything the signals said."""
        locks = {} if state.locked_by is None else {_source(state.locked_by): state.locked_by}
        return cls(locks=locks, sleeping=state.sleeping)


def _source(locked_by: str) -> str:
    """``'org.gnome.ScreenSaver GetActive'`` -> ``'org.gnome.ScreenSaver'``; logind -> ``'logind'``."""
    return locked_by.split(" ", 1)[0]


def apply_signal(
    state: WatchedState, interface: str, member: str, body: tuple[Any, ...]
) -> WatchedState:
    """The state after one signal; signals that say nothing about the session leave it as is."""
    locks = dict(state.locks)
    if interface in SCREENSAVER_INTERFACES and member == "ActiveChanged" and body:
        if body[0]:
            locks.setdefault(interface, f"{interface} ActiveChanged")
        else:
            locks.pop(interface, None)
    elif interface == SESSION and member == "Lock":
        locks.setdefault("logind", "logind Lock")
    elif interface == SESSION and member == "Unlock":
        locks.pop("logind", None)
    elif interface == PROPERTIES and member == "PropertiesChanged" and len(body) >= 2:
        changed_interface, changed = body[0], body[1]
        hint = changed.get("LockedHint") if changed_interface == SESSION else None
        if hint is None:
            return state
        if hint[1]:  # a variant arrives as (signature, value); Lock came first, usually
            locks.setdefault("logind", "logind LockedHint")
        else:
            locks.pop("logind", None)
    elif interface == MANAGER and member == "PrepareForSleep" and body:
        return replace(state, sleeping=bool(body[0]))
    else:
        return state
    return replace(state, locks=locks)


class SessionWatch:
    """The session's state, current to the last signal (see the module docstring).

    ``session_bus`` and ``system_bus`` are D-Bus addresses as jeepney takes
    them; None means the usual ones, "" skips that bus.  ``probe`` makes the
    whole reads; with a ``DBusSessionProbe`` it is told the session object
    found here, so its reads look at the same one.  ``poll`` None means never
    poll (a platform without D-Bus).  Like the supervisor, it lives on one
    loop and is not thread-safe.
    """

    def __init__(
        self,
        probe: SessionProbe,
        *,
        session_bus: str | None = None,
        system_bus: str | None = None,
        poll: float | None = POLL,
        fallback_poll: float = FALLBACK_POLL,
        reconnect_delay: float = RECONNECT_DELAY,
    ) -> None:
        self.probe = probe
        self.session_bus = session_bus
        self.system_bus = system_bus
        self.poll = poll
        self.fallback_poll = fallback_poll
        self.reconnect_delay = reconnect_delay
        self.state = WatchedState()
        #: Buses whose signals arrive now ("session", "system").
        self.listening: set[str] = set()
        #: The session signals received so far (for tests and /health).
        self.signals_seen = 0
        self._callbacks: list[Callable[[str | None], None]] = []
        self._changed = asyncio.Event()
        self._listening_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reading: asyncio.Lock | None = None
        # Loops end on this flag as well as on cancellation: on Python 3.11 a
        # cancel that races a finishing ``wait_for`` is swallowed, and a loop that
        # missed it would hold the daemon's shutdown for ever.
        self._stopping = False
        #: Reads in a row that reached no bus (and none subscribed): the poll backs off.
        self._idle_reads = 0

    # -- what others read -----------------------------------------------------------------
    def read(self) -> SessionState:
        """The current state, without I/O (so a watch can stand where a probe is expected)."""
        return self.state.session_state()

    def reason(self) -> str | None:
        """Why desktop automation must wait now, or None when the session is usable."""
        return unusable_reason(self.read())

    def subscribe(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(reason)`` on the loop each time ``reason()`` changes."""
        self._callbacks.append(callback)

    async def changed(self, timeout: float) -> None:
        """Return when the state changes, or after ``timeout`` seconds."""
        await _wait(self._changed, timeout)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Read the state, then listen and poll until ``stop``; a stopped watch may start again.

        Everything tied to a loop is made here, so a watch can be started again
        after ``stop`` (a daemon served twice in one process), on another loop too.
        """
        if self._tasks:
            raise RuntimeError("the session watch is already started; stop it first")
        self._stopping = False
        self._idle_reads = 0
        self.listening = set()
        self._changed = asyncio.Event()
        self._listening_event = asyncio.Event()
        self._reading = asyncio.Lock()
        await self.refresh()
        loop = asyncio.get_running_loop()
        buses = (
            ("session", self.session_bus, self._session_rules),
            ("system", self.system_bus, self._system_rules),
        )
        for name, address, rules in buses:
            bus = _bus_address(name, address)
            if bus is not None:
                self._tasks.append(loop.create_task(self._listen(name, bus, rules)))
        if self.poll is not None:
            self._tasks.append(loop.create_task(self._poll()))

    async def stop(self) -> None:
        self._stopping = True
        self._listening_event.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        for task in pending:  # deaf to cancellation: leave it, never hold the shutdown
            logger.warning("a session watch task did not stop within %ss: %r", STOP_TIMEOUT, task)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.debug("session watch task ended with %r", task.exception())

    async def refresh(self) -> None:
        """Read the whole state through the probe (in a thread: it blocks for a moment).

        With no bus socket at all (a headless machine, the usual case for the
        30 s fallback read) the read would connect to nothing: its answer is
        taken on the loop, without the thread hop that cost more than the read.
        """
        lock = self._reading or asyncio.Lock()
        async with lock:
            probe = self.probe
            try:
                if isinstance(probe, DBusSessionProbe) and probe.no_bus():
                    state = probe.read_offline()
                else:
                    state = await asyncio.to_thread(probe.read)
            except Exception:  # a probe bug must not hold desktop runs back for ever
                logger.exception("could not read the session state; counting it as usable")
                state = SessionState()
            self._set(WatchedState.from_read(state))

    # -- internals -----------------------------------------------------------------------------
    def _set(self, state: WatchedState) -> None:
        before = self.reason()
        self.state = state
        after = self.reason()
        if before == after:
            return
        if after is None:
            logger.info("the session is usable again (it was: %s)", before)
        else:
            logger.info("desktop runs wait: %s", after)
        self._changed.set()
        self._changed = asyncio.Event()
        for callback in list(self._callbacks):
            try:
                callback(after)
            except Exception:
                logger.exception("a session listener failed")

    def _poll_interval(self) -> float:
        """``poll`` while no bus is subscribed to but the probe reaches one; else ``fallback_poll``,
        doubled for each read in a row that reached no bus at all."""
        assert self.poll is not None
        if self.listening:
            return self.fallback_poll
        if getattr(self.probe, "reached", True) is False:
            return idle_wait(self.fallback_poll, self._idle_reads)
        return self.poll

    async def _poll(self) -> None:
        while not self._stopping:
            listening = bool(self.listening)
            interval = self._poll_interval()
            deadline = asyncio.get_running_loop().time() + interval
            # a bus subscribed or lost meanwhile changes the interval at once
            while bool(self.listening) == listening:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                await self._buses_changed(left)
            else:
                continue
            await self.refresh()
            if self.listening or getattr(self.probe, "reached", True) is not False:
                self._idle_reads = 0
            else:
                self._idle_reads += 1

    async def _buses_changed(self, timeout: float) -> None:
        await _wait(self._listening_event, timeout)

    def _listening_now(self, name: str, live: bool) -> None:
        if live:
            self.listening.add(name)
        else:
            self.listening.discard(name)
        self._listening_event.set()
        self._listening_event = asyncio.Event()

    async def _listen(
        self,
        name: str,
        bus: str,
        rules: Callable[[Any], Any],
    ) -> None:
        """Subscribe on one bus and apply its signals; reconnect if it goes away."""
        missing = 0  # looks in a row that found no socket: the reconnects back off
        while not self._stopping:
            conn: Any = None
            try:
                if bus_socket_missing(bus):  # no bus here: jeepney stays unloaded
                    missing += 1
                    raise FileNotFoundError(f"no socket for D-Bus address {bus!r}")
                missing = 0
                from jeepney import HeaderFields, MessageType  # type: ignore[import-untyped]
                from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]

                # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 a cancel (stop) that
                # races a connect just finished makes ``wait_for`` drop the connection it
                # made, open, with nobody left to close it; inline, it is ours at once.
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    conn = await _open_connection(bus)
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    subscribed = await rules(conn)
                for rule in subscribed:
                    await conn.send(message_bus.AddMatch(rule))
                await self.refresh()  # what changed before the subscription took
                self._listening_now(name, True)
                logger.debug("listening for session signals on the %s bus", name)
                while not self._stopping:
                    message = await conn.receive()
                    if message.header.message_type is not MessageType.signal:
                        continue
                    fields = message.header.fields
                    interface = fields.get(HeaderFields.interface, "")
                    member = fields.get(HeaderFields.member, "")
                    if interface == "org.freedesktop.DBus":
                        continue  # the bus's own news (NameAcquired), not the session's
                    self.signals_seen += 1
                    self._set(apply_signal(self.state, interface, member, tuple(message.body)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # no bus, refused, gone away: poll until it is back
                logger.debug("session signals on the %s bus: %s", name, exc)
            finally:
                if name in self.listening:
                    self._listening_now(name, False)
                if conn is not None:
                    # dropped, not closed: a close waits to flush what the bus has not read,
                    # and a bus that reads nothing would hold the stop for ever
                    with contextlib.suppress(Exception):
                        conn.writer.transport.abort()
            await asyncio.sleep(idle_wait(self.reconnect_delay, max(0, missing - 1)))

    async def _session_rules(self, _conn: Any) -> list[Any]:
        from jeepney.bus_messages import MatchRule

        return [
            MatchRule(type="signal", sender=interface, interface=interface, member="ActiveChanged")
            for interface in SCREENSAVER_INTERFACES
        ]

    async def _system_rules(self, conn: Any) -> list[Any]:
        from jeepney.bus_messages import MatchRule

        rules = [
            MatchRule(
                type="signal",
                sender=LOGIND,
                interface=MANAGER,
                member="PrepareForSleep",
                path=MANAGER_PATH,
            )
        ]
        path = await _session_path(conn)
        if path is None:
            logger.info(
                "logind has no session for this process: its Lock and Unlock are not watched"
            )
            return rules
        if isinstance(self.probe, DBusSessionProbe):
            self.probe.session_path = path
        rules.append(MatchRule(type="signal", sender=LOGIND, interface=SESSION, path=path))
        rules.append(
            MatchRule(
                type="signal",
                sender=LOGIND,
                interface=PROPERTIES,
                member="PropertiesChanged",
                path=path,
            )
        )
        return rules


def idle_wait(base: float, misses: int) -> float:
    """``base`` doubled ``misses`` times, at most ``IDLE_BACKOFF_MAX`` (never below ``base``)."""
    return max(base, min(IDLE_BACKOFF_MAX, base * 2.0 ** min(misses, 32)))


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event`` at most ``timeout`` seconds.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 a cancel that
    races ``wait_for``'s own timeout can be swallowed, and the caller's loop
    would not end when it is stopped.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


def _bus_address(name: str, address: str | None) -> str | None:
    """What jeepney should connect to, or None to skip the bus."""
    if address == "":
        return None
    if address is not None:
        return address
    if name == "session":
        return os.environ.get("DBUS_SESSION_BUS_ADDRESS") or None
    return "SYSTEM"


async def _session_path(conn: Any) -> str | None:
    """This user's logind session object: by XDG_SESSION_ID, by our pid, or the user's display.

    A supervisor started by the desktop's autostart is inside the session; one
    started as a systemd user service is not, so the user's display session
    (``User.Display``) is the one whose lock matters.
    """
    session = os.environ.get("XDG_SESSION_ID")
    if session:
        found = await _call(conn, MANAGER_PATH, MANAGER, "GetSession", "s", (session,))
        if isinstance(found, str):
            return found
    found = await _call(conn, MANAGER_PATH, MANAGER, "GetSessionByPID", "u", (os.getpid(),))
    if isinstance(found, str):
        return found
    display = await _call(
        conn,
        "/org/freedesktop/login1/user/self",
        PROPERTIES,
        "Get",
        "ss",
        ("org.freedesktop.login1.User", "Display"),
    )
    # a variant ("(so)", (id, path)); an empty id means the user has no display session
    if isinstance(display, tuple) and len(display) == 2 and isinstance(display[1], tuple):
        session_id, path = display[1]
        if session_id and isinstance(path, str):
            return path
    return None


async def _call(
    conn: Any, path: str, interface: str, method: str, signature: str, args: tuple[Any, ...]
) -> Any:
    """One method call to logind on a plain connection; None for an error reply."""
    from jeepney import (
        DBusAddress,
        HeaderFields,
        MessageType,
        new_method_call,
    )

    address = DBusAddress(path, bus_name=LOGIND, interface=interface)
    serial = next(conn.outgoing_serial)
    await conn.send(new_method_call(address, method, signature, args), serial=serial)
    while True:
        reply = await conn.receive()
        if reply.header.fields.get(HeaderFields.reply_serial) != serial:
            continue  # nothing else is subscribed yet; a stray message is dropped
        if reply.header.message_type is not MessageType.method_return:
            return None
        return reply.body[0] if reply.body else None


def default_watch() -> SessionWatch:
    """The watch ``deskpilotd`` uses: D-Bus on Linux, "always usable" and no polling elsewhere."""
    if sys.platform.startswith("linux"):
        return SessionWatch(DBusSessionProbe())
    return SessionWatch(UsableSession(), session_bus="", system_bus="", poll=None)


async def _open_connection(bus: str) -> Any:
    """jeepney's ``open_dbus_connection``, closing its socket when it fails.

    jeepney leaves the stream open when the connect is cancelled half-way (a
    timeout under load), and the stream then warns when the garbage collector
    finds it; this copy of its handshake closes the stream on any way out.
    """
    from jeepney.auth import BEGIN, Authenticator  # type: ignore[import-untyped]
    from jeepney.bus import get_bus  # type: ignore[import-untyped]
    from jeepney.bus_messages import message_bus
    from jeepney.io.asyncio import DBusConnection, DBusRouter, Proxy  # type: ignore[import-untyped]

    reader, writer = await asyncio.open_unix_connection(get_bus(bus))
    try:
        authenticator = Authenticator()
        for request in authenticator:
            writer.write(request)
            await writer.drain()
            answer = await reader.read(1024)
            if not answer:
                raise EOFError("the bus closed the socket before authentication")
            authenticator.feed(answer)
        writer.write(BEGIN)
        await writer.drain()
        conn = DBusConnection(reader, writer)
        async with DBusRouter(conn) as router:
            reply = await Proxy(message_bus, router).Hello()
            conn.unique_name = reply[0]
        return conn
    except BaseException:
        writer.close()
        raise
