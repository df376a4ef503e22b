"""The session watch's reads on a machine without D-Bus: the same answer, without a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor import session_watch
from supervisor.session import DBusSessionProbe, SessionState
from supervisor.session_watch import IDLE_BACKOFF_MAX, SessionWatch, idle_wait


def _probe(tmp_path: Path, *, system: str | None = None) -> DBusSessionProbe:
    missing = f"unix:path={tmp_path / 'no-such-bus'}"
    return DBusSessionProbe(session_bus=missing, system_bus=system or missing)


def test_with_no_bus_socket_the_offline_answer_is_the_reads(tmp_path: Path) -> None:
    probe = _probe(tmp_path)
    assert probe.no_bus()
    assert probe.read() == probe.read_offline() == SessionState()
    assert probe.reached is False


def test_a_bus_socket_that_exists_needs_a_real_read(tmp_path: Path) -> None:
    path = tmp_path / "bus"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    try:
        assert not _probe(tmp_path, system=f"unix:path={path}").no_bus()
    finally:
        listener.close()


def test_a_refresh_with_no_bus_starts_no_thread(tmp_path: Path) -> None:
    probe = _probe(tmp_path)
    probe.reached = True
    watch = SessionWatch(probe, session_bus="", system_bus="")

    async def refresh() -> int:
        before = threading.active_count()
        await watch.refresh()
        return threading.active_count() - before

    assert asyncio.run(refresh()) == 0
    assert probe.reached is False
    assert watch.reason() is None


_SLEEP = asyncio.sleep  # the real one, should a test record the watch's sleeps


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await _SLEEP(0.005)


class _NoBus:
    """A probe that reaches no bus, counting its reads."""

    reached = False

    def __init__(self) -> None:
        self.count = 0

    def read(self) -> SessionState:
        self.count += 1
        return SessionState()


def test_the_idle_wait_doubles_up_to_its_cap() -> None:
    assert [idle_wait(30.0, n) for n in range(6)] == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]
    assert idle_wait(600.0, 3) == 600.0  # never below what was asked for
    assert idle_wait(30.0, 10**6) == IDLE_BACKOFF_MAX


def test_with_no_bus_at_all_the_poll_backs_off() -> None:
    async def interval_after_reads() -> tuple[int, float]:
        probe = _NoBus()
        watch = SessionWatch(probe, session_bus="", system_bus="", poll=0.001, fallback_poll=0.01)
        await watch.start()
        try:
            await _until(lambda: probe.count >= 4)  # the start's read and three polls
            return probe.count, watch._poll_interval()
        finally:
            await watch.stop()

    count, interval = asyncio.run(interval_after_reads())
    assert interval >= 0.01 * 2 ** (count - 1)


def test_reconnects_to_a_missing_bus_socket_back_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def recorded(delay: float) -> None:
        waits.append(delay)
        await _SLEEP(0)

    async def reconnect_waits() -> list[float]:
        missing = f"unix:path={tmp_path / 'no-such-bus'}"
        watch = SessionWatch(
            _NoBus(), session_bus=missing, system_bus="", poll=None, reconnect_delay=0.01
        )
        monkeypatch.setattr(session_watch.asyncio, "sleep", recorded)
        await watch.start()
        try:
            await _until(lambda: len(waits) >= 5)
            return waits[:5]
        finally:
            monkeypatch.setattr(session_watch.asyncio, "sleep", _SLEEP)
            await watch.stop()

    assert asyncio.run(reconnect_waits()) == [0.01, 0.02, 0.04, 0.08, 0.16]
