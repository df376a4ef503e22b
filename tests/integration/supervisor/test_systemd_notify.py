"""deskpilotd under systemd's notify protocol: ready, watchdog pings from its loop, stopping.

A real ``deskpilotd`` process talks to a real datagram socket standing in for
systemd's ``$NOTIFY_SOCKET`` (systemd itself does not run here).  The unit
file is checked with ``systemd-analyze verify`` where systemd is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.systemd import Notifier
from tests.helpers.daemon import short_home

ROOT = Path(__file__).resolve().parents[3]
WATCHDOG_USEC = 200_000  # pings every 0.1 s


def _receive(sock: socket.socket, want: str, deadline: float) -> list[str]:
    """Messages until one contains ``want``; fails at the deadline."""
    seen: list[str] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {want!r} from deskpilotd; got {seen}")
        sock.settimeout(left)
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            continue
        seen.append(message)
        if want in message.splitlines():
            return seen


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, Path]]:
    folder = short_home("dp-sd-")
    path = folder / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_ready_pings_stop_while_the_loop_is_stuck_and_stopping(
    notify_socket: tuple[socket.socket, Path],
) -> None:
    sock, path = notify_socket
    home = short_home("dp-sdh-")
    env = {
        **os.environ,
        "DESKPILOT_HOME": str(home),
        "NOTIFY_SOCKET": str(path),
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.daemon"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        ready = _receive(sock, "READY=1", time.monotonic() + 60)
        assert f"MAINPID={process.pid}" in ready[-1].splitlines()
        start = time.monotonic()
        for _ in range(3):
            _receive(sock, "WATCHDOG=1", time.monotonic() + 5)
        assert time.monotonic() - start < 3, "pings come every WatchdogSec/2"

        # a stopped process is what a stuck event loop looks like from outside: no pings
        os.kill(process.pid, signal.SIGSTOP)
        sock.settimeout(0.3)  # drain what was sent before the stop took hold
        with pytest.raises(TimeoutError):
            for _ in range(50):
                sock.recv(4096)
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(4096)  # 1 s is five ping intervals
        os.kill(process.pid, signal.SIGCONT)
        _receive(sock, "WATCHDOG=1", time.monotonic() + 5)

        process.send_signal(signal.SIGTERM)
        _receive(sock, "STOPPING=1", time.monotonic() + 30)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)


def test_watchdog_settings_are_read_as_sd_watchdog_enabled_does() -> None:
    assert Notifier.from_env({}) is None
    plain = Notifier.from_env({"NOTIFY_SOCKET": "/run/x"})
    assert plain is not None and plain.watchdog_interval is None
    pinged = Notifier.from_env({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000"}, pid=7)
    assert pinged is not None and pinged.watchdog_interval == 15.0
    other = Notifier.from_env(
        {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, pid=7
    )
    assert other is not None and other.watchdog_interval is None, "the watchdog is another's"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_the_unit_file_is_valid_and_uses_the_watchdog(tmp_path: Path) -> None:
    unit = (ROOT / "packaging" / "deskpilotd.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit
    assert "WantedBy=default.target" in unit
    executable = tmp_path / "deskpilotd"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    copy = tmp_path / "deskpilotd.service"
    copy.write_text(unit.replace("%h/.local/bin/deskpilotd", str(executable)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
