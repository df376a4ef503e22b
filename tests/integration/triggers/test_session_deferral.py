"""Scheduled desktop runs wait while the screen is locked, then follow their misfire policy.

A real daemon (real workers, real SQLite) whose session probe is the real
``DBusSessionProbe``, pointed at a private ``dbus-daemon`` session bus on
which a real D-Bus service answers as ``org.freedesktop.ScreenSaver``
(``tests/helpers/fake_screensaver.py``: only the lock behind it is a file).
The system bus is pointed at nothing, so logind says nothing here.

The same fake answers as logind on a private bus where a test needs it:
logind cannot run on these machines, so its interface (methods, properties
and the ``Lock``/``Unlock``/``PrepareForSleep`` signals) is driven by the
fake, and Deskpilot's side is the real code on a real bus.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.session import DBusSessionProbe, SessionState, unusable_reason
from supervisor.session_watch import SessionWatch
from tests.helpers.common import eventually
from tests.helpers.fake_screensaver import DISPLAY_PATH
from tests.helpers.session_bus import first_line as _first_line
from tests.helpers.session_bus import service as _service
from tests.helpers.session_bus import stop as _stop
from tests.integration.triggers.harness import DaemonThread, write_workflow

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(90)


def test_probe_reads_the_screen_saver_over_dbus(screensaver: Path) -> None:
    probe = DBusSessionProbe()
    assert probe.read() == SessionState()
    screensaver.write_text("locked")
    state = probe.read()
    assert state.locked_by == "org.freedesktop.ScreenSaver GetActive"
    assert unusable_reason(state) == "the screen is locked (org.freedesktop.ScreenSaver GetActive)"


def test_probe_reads_logind_lock_and_sleep_over_dbus(private_bus: str, tmp_path: Path) -> None:
    state = tmp_path / "logind"
    nowhere = f"unix:path={tmp_path / 'none'}"
    with _service(private_bus, state, "--logind"):
        probe = DBusSessionProbe(session_bus=nowhere, system_bus=private_bus)
        assert probe.read() == SessionState()
        state.write_text("locked-hint")
        assert probe.read() == SessionState(locked_by="logind LockedHint")
        state.write_text("sleeping")
        assert unusable_reason(probe.read()) == (
            "the machine is going to sleep (logind PrepareForSleep)"
        )


def test_a_missing_bus_counts_as_usable(tmp_path: Path) -> None:
    nowhere = f"unix:path={tmp_path / 'none'}"
    assert DBusSessionProbe(session_bus=nowhere, system_bus=nowhere).read() == SessionState()


DESKTOP = """\
nodes:
  where: {block: mouse.position}
triggers:
  - {type: schedule, interval: 1s, misfire: run_once, misfire_grace: 60s}
"""
PLAIN = """\
nodes:
  step: {block: control.pass, with: {value: 1}}
triggers:
  - {type: schedule, interval: 1s}
"""


def test_desktop_schedule_waits_while_locked_and_runs_once_unlocked(
    tmp_path: Path, registry: BlockRegistry, screensaver: Path, xvfb_display
) -> None:
    from automation.blocks import desktop

    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.position" not in registry:
        registry.register_module(desktop)
    screensaver.write_text("locked")
    write_workflow(tmp_path / "workflows", "clicker", DESKTOP)
    write_workflow(tmp_path / "workflows", "plain", PLAIN)
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        # the plain schedule is the clock: three of its fires pass while the screen is locked
        eventually(lambda: len(daemon.runs("plain")) >= 3, timeout=20)
        held = daemon.runs("clicker")
        assert [r.trigger.split("@")[0] for r in held] == ["deferred:clicker:0"], held
        assert held[0].status is RunStatus.CANCELLED
        assert (held[0].error or "").startswith(
            "deferred: the screen is locked (org.freedesktop.ScreenSaver GetActive); this "
            "schedule's fires wait until the session is usable, then follow its misfire "
            "policy 'run_once'"
        )
        assert daemon.trigger_info("clicker:0")["last_error"].startswith("deferred: the screen")

        screensaver.write_text("")  # unlocked
        ran = eventually(
            lambda: [
                r
                for r in daemon.runs("clicker")
                if r.trigger.startswith("schedule:") and r.status is RunStatus.SUCCEEDED
            ],
            timeout=20,
        )
        missed = [r for r in daemon.runs("clicker") if (r.error or "").startswith("missed:")]
    finally:
        daemon.stop()
    assert len(ran) >= 1
    # run_once: the fires held back became one run; the others are in the history as missed,
    # saying why they were late
    assert missed, daemon.runs("clicker")
    assert all("because the screen is locked" in (r.error or "") for r in missed)
    assert all("one run was made instead" in (r.error or "") for r in missed)


# -- signals: the watch hears a lock as it happens, not at its next poll -----------------------

SIGNALLED = [
    pytest.param((), "locked", "org.freedesktop.ScreenSaver ActiveChanged", id="freedesktop"),
    pytest.param(("--gnome",), "locked", "org.gnome.ScreenSaver ActiveChanged", id="gnome"),
]


async def _watch_until(watch: SessionWatch, wanted: str | None, timeout: float) -> float:
    """Seconds until ``watch.reason()`` is ``wanted`` (woken by its change, never a sleep)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    while watch.reason() != wanted:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"the watch still says {watch.reason()!r}, not {wanted!r}")
        await watch.changed(left)
    return loop.time() - started


@pytest.mark.parametrize(("flags", "lock", "source"), SIGNALLED)
def test_watch_hears_the_screen_saver_signal_without_polling(
    private_bus: str, tmp_path: Path, flags: tuple[str, ...], lock: str, source: str
) -> None:
    state = tmp_path / "screen-lock"
    nowhere = f"unix:path={tmp_path / 'none'}"

    async def scenario() -> tuple[float, float, int]:
        # polls far apart: only a signal can bring the change within the test's deadline
        watch = SessionWatch(
            DBusSessionProbe(session_bus=private_bus, system_bus=nowhere),
            session_bus=private_bus,
            system_bus="",
            poll=600,
            fallback_poll=600,
        )
        await watch.start()
        try:
            await _eventually_async(lambda: "session" in watch.listening)
            assert watch.reason() is None
            state.write_text(lock)
            locked = await _watch_until(watch, f"the screen is locked ({source})", 15)
            state.write_text("")
            unlocked = await _watch_until(watch, None, 15)
            return locked, unlocked, watch.signals_seen
        finally:
            await watch.stop()

    with _service(private_bus, state, *flags):
        locked, unlocked, seen = asyncio.run(scenario())
    assert seen == 2
    # within the test's deadline, not at the next poll (600 s away); the figure on a quiet
    # machine is a few milliseconds
    assert locked < 15 and unlocked < 15


def test_watch_hears_logind_lock_unlock_and_sleep(private_bus: str, tmp_path: Path) -> None:
    state = tmp_path / "logind"
    nowhere = f"unix:path={tmp_path / 'none'}"

    async def scenario() -> DBusSessionProbe:
        probe = DBusSessionProbe(session_bus=nowhere, system_bus=private_bus)
        watch = SessionWatch(
            probe, session_bus="", system_bus=private_bus, poll=600, fallback_poll=600
        )
        await watch.start()
        try:
            await _eventually_async(lambda: "system" in watch.listening)
            state.write_text("locked-hint")  # Lock, then PropertiesChanged(LockedHint=True)
            await _watch_until(watch, "the screen is locked (logind Lock)", 15)
            state.write_text("sleeping")  # Unlock, then PrepareForSleep(True)
            await _watch_until(watch, "the machine is going to sleep (logind PrepareForSleep)", 15)
            state.write_text("")  # PrepareForSleep(False): woken up
            await _watch_until(watch, None, 15)
            return probe
        finally:
            await watch.stop()

    with _service(private_bus, state, "--logind"):
        probe = asyncio.run(scenario())
    # the probe's whole reads look at the session object the watch found
    assert probe.session_path == "/org/freedesktop/login1/session/_3test"


def test_watch_finds_the_display_session_through_logind_user_display(
    private_bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor outside any session (a systemd user service) watches the user's display.

    logind knows no session for the process (``GetSession`` and
    ``GetSessionByPID`` fail), so the graphical session is found through the
    user object's ``Display``; its lock is heard, a decoy lock of another of
    the user's sessions is not even delivered.  The system bus is found the
    usual way, through ``DBUS_SYSTEM_BUS_ADDRESS``.
    """
    state = tmp_path / "logind"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'none'}")
    monkeypatch.delenv("XDG_SESSION_ID", raising=False)

    async def scenario() -> tuple[DBusSessionProbe, int, str | None]:
        probe = DBusSessionProbe()
        watch = SessionWatch(probe, poll=600, fallback_poll=600)
        await watch.start()
        try:
            await _eventually_async(lambda: "system" in watch.listening)
            state.write_text("locked-hint")  # a decoy Lock elsewhere, then Lock, LockedHint
            await _watch_until(watch, "the screen is locked (logind Lock)", 15)
            read = unusable_reason(await asyncio.to_thread(probe.read))
            state.write_text("")  # Unlock, LockedHint false
            await _watch_until(watch, None, 15)
            # the last PropertiesChanged may come just after the Unlock that made it usable;
            # a delivered decoy would have come first, so the count would pass 4
            await _eventually_async(lambda: watch.signals_seen >= 4)
            return probe, watch.signals_seen, read
        finally:
            await watch.stop()

    with _service(private_bus, state, "--logind", "--display-only"):
        probe, seen, read = asyncio.run(scenario())
    assert probe.session_path == DISPLAY_PATH
    # the whole read looks at the display session too
    assert read == "the screen is locked (logind LockedHint)"
    assert seen == 4  # Lock and PropertiesChanged, twice; never the other session's Lock


def test_a_service_that_never_signals_is_still_seen_by_the_fallback_poll(
    private_bus: str, tmp_path: Path
) -> None:
    state = tmp_path / "screen-lock"

    async def scenario() -> int:
        watch = SessionWatch(
            DBusSessionProbe(session_bus=private_bus, system_bus=""),
            session_bus=private_bus,
            system_bus="",
            poll=600,
            fallback_poll=0.2,
        )
        await watch.start()
        try:
            await _eventually_async(lambda: "session" in watch.listening)
            state.write_text("locked")
            await _watch_until(
                watch, "the screen is locked (org.freedesktop.ScreenSaver GetActive)", 15
            )
            return watch.signals_seen
        finally:
            await watch.stop()

    with _service(private_bus, state, "--quiet"):
        assert asyncio.run(scenario()) == 0


async def _eventually_async(check: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


# -- queued runs: a desktop run submitted while locked waits, then starts ------------------------

CLICKER = """\
nodes:
  where: {block: mouse.position}
"""


def test_a_queued_desktop_run_waits_while_locked_and_starts_when_unlocked(
    tmp_path: Path, screensaver: Path, xvfb_display: object
) -> None:
    from automation.blocks import desktop

    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.position" not in registry:
        registry.register_module(desktop)
    clicker = write_workflow(tmp_path / "workflows", "clicker", CLICKER)
    plain = write_workflow(tmp_path / "workflows", "plain", PLAIN.split("triggers:")[0])
    screensaver.write_text("locked")
    daemon = DaemonThread(tmp_path, registry, triggers=False).start()
    try:
        supervisor = daemon.parts.supervisor
        watch = daemon.parts.session
        assert watch is not None
        eventually(lambda: watch.reason() is not None, timeout=10)
        waiting = daemon.call(lambda: supervisor.submit(supervisor.load(clicker)))
        # a plain run submitted after it goes ahead: only the desktop waits
        other = daemon.call(lambda: supervisor.submit(supervisor.load(plain)))
        store = daemon.parts.store
        eventually(lambda: store.get_run(other).status is RunStatus.SUCCEEDED, timeout=20)
        eventually(lambda: store.events(waiting), timeout=10)
        assert store.get_run(waiting).status is RunStatus.QUEUED
        [note] = store.events(waiting)
        assert (note.message or "").startswith(
            "waiting: the screen is locked (org.freedesktop.ScreenSaver"
        ), note.message
        assert (note.message or "").endswith("desktop runs start when the session is usable again")

        screensaver.write_text("")  # unlocked: the signal lets it start
        eventually(lambda: store.get_run(waiting).status is RunStatus.SUCCEEDED, timeout=20)
        events = store.events(waiting)
    finally:
        daemon.stop()
    messages = [e.message or "" for e in events]
    assert messages[1].startswith("the session is usable again: the run starts after waiting")
    assert "because the screen is locked" in messages[1]
    # one log, in order: the worker's events number on after the notes
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs


def test_a_bus_that_goes_away_leaves_the_watch_polling(tmp_path: Path) -> None:
    """The session bus dies: the watch notices (EOF), stops counting on signals, polls."""
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = _first_line(bus, "dbus-daemon")

        async def scenario() -> None:
            watch = SessionWatch(
                DBusSessionProbe(session_bus=address, system_bus=""),
                session_bus=address,
                system_bus="",
                poll=0.1,
                fallback_poll=600,
                reconnect_delay=600,
            )
            await watch.start()
            try:
                await _eventually_async(lambda: "session" in watch.listening)
                bus.kill()
                await _eventually_async(lambda: not watch.listening)
                assert watch.reason() is None  # a bus that is gone says nothing: usable
            finally:
                await watch.stop()

        asyncio.run(scenario())
    finally:
        _stop(bus)
