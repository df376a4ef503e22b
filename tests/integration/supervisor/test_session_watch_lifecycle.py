"""The session watch stops promptly and starts again, whatever the buses are doing.

Real ``dbus-daemon`` with the fake screen saver on it (``tests/helpers/
fake_screensaver.py``), flipping its lock as fast as it can while the watch
is started and stopped at every stage (connecting, subscribing, listening,
polling); the system bus is a socket that accepts and never answers, like a
hung ``dbus-daemon``.  Test-wide, any socket or stream left open to the
garbage collector fails the test (``filterwarnings = error``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervisor.session import DBusSessionProbe
from supervisor.session_watch import STOP_TIMEOUT, SessionWatch
from tests.helpers.session_bus import service

pytestmark = pytest.mark.timeout(60)
#: Seconds into the watch's life at which it is stopped: before its tasks ran, while they
#: connect and subscribe, and while they listen and poll.
STOP_AFTER = (0.0, 0.0, 0.001, 0.005, 0.02, 0.05, 0.1, 0.3)


@pytest.fixture
def hung_bus(tmp_path: Path) -> Iterator[str]:
    """A bus socket that accepts connections (the kernel's backlog) and never says a word."""
    path = tmp_path / "hung-bus"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(64)
    try:
        yield f"unix:path={path}"
    finally:
        server.close()


async def _until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def test_a_stopped_watch_starts_again_and_hears_the_lock(private_bus: str, tmp_path: Path) -> None:
    state = tmp_path / "screen-lock"
    watch = SessionWatch(
        DBusSessionProbe(session_bus=private_bus, system_bus=""),
        session_bus=private_bus,
        system_bus="",
        poll=600,
        fallback_poll=600,
    )

    async def once() -> None:
        await watch.start()
        try:
            await _until(lambda: "session" in watch.listening)
            state.write_text("locked")
            await _until(lambda: watch.reason() is not None)
            state.write_text("")
            await _until(lambda: watch.reason() is None)
        finally:
            await watch.stop()

    with service(private_bus, state):
        asyncio.run(once())
        asyncio.run(once())  # another loop, as a daemon served again in the same process


def test_stop_is_prompt_in_a_signal_storm_with_a_hung_system_bus(
    private_bus: str, hung_bus: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "screen-lock"
    stop_storm = threading.Event()

    def storm() -> None:
        flips = 0
        while not stop_storm.is_set():
            state.write_text("locked" if flips % 2 else "")
            flips += 1
            stop_storm.wait(0.002)

    async def cycles() -> list[float]:
        took = []
        for delay in STOP_AFTER:
            watch = SessionWatch(
                DBusSessionProbe(session_bus=private_bus, system_bus=""),
                session_bus=private_bus,
                system_bus=hung_bus,
                poll=0.02,
                fallback_poll=0.02,
                reconnect_delay=0.02,
            )
            await watch.start()
            await asyncio.sleep(delay)
            started = time.monotonic()
            await watch.stop()
            took.append(time.monotonic() - started)
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not left, left
        return took

    flipper = threading.Thread(target=storm, daemon=True)
    with (
        caplog.at_level(logging.WARNING, logger="supervisor.session_watch"),
        service(private_bus, state),
    ):
        flipper.start()
        try:
            took = asyncio.run(cycles())
        finally:
            stop_storm.set()
            flipper.join(5)
    gc.collect()  # a connection left to the collector would warn now, failing the test
    assert not [r for r in caplog.records if "did not stop" in r.getMessage()]
    # well within the stop's own limit (a few ms on a quiet machine)
    assert max(took) < STOP_TIMEOUT / 3, took
