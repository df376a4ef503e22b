"""The session watch's reads on a machine without D-Bus: the same answer, without a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

from supervisor.session import DBusSessionProbe, SessionState
from supervisor.session_watch import SessionWatch


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
