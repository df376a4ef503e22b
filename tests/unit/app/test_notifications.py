"""Failures reach the user through the desktop's notification server, with or without a tray.

A real notification server from Debian (dunst) runs on a private Xvfb and a
private session bus; what it received is read back with its own ``dunstctl``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app import theme as themes
from app.notifications import DesktopNotifications
from app.supervisor_link import SupervisorLink
from app.tray import DesktopShell
from automation.blocks.registry import BlockRegistry
from supervisor.paths import DeskpilotPaths
from tests.helpers.daemon import short_home
from tests.helpers.xvfb import start_xvfb
from tests.unit.app.runkit import wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("dunst") is None and not os.environ.get("CI"),
    reason="dunst is not installed (apt-get install dunst)",
)


@dataclass
class Server:
    env: dict[str, str]
    bus: str

    def received(self) -> list[dict[str, str]]:
        """Every notification so far: closed first, so dunst moves them into its history."""
        subprocess.run(["dunstctl", "close-all"], env=self.env, check=True, timeout=10)
        done = subprocess.run(
            ["dunstctl", "history"], env=self.env, capture_output=True, text=True, timeout=10
        )
        entries = json.loads(done.stdout)["data"][0] if done.stdout.strip() else []
        return [{k: v["data"] for k, v in entry.items()} for entry in entries]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    display = start_xvfb(xauthority_dir=tmp_path)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    env = display.env(DBUS_SESSION_BUS_ADDRESS=address)
    dunst = subprocess.Popen(
        ["dunst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while not _owned(env):  # dunst owns the name once it serves
            assert time.monotonic() < deadline, "dunst did not take org.freedesktop.Notifications"
            assert dunst.poll() is None, "dunst exited"
            time.sleep(0.05)
        yield Server(env, address)
    finally:
        for process in (dunst, bus):
            process.terminate()
            process.wait(timeout=10)
        if bus.stdout is not None:
            bus.stdout.close()
        display.stop()


def _owned(env: dict[str, str]) -> bool:
    done = subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
         "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
         "string:org.freedesktop.Notifications"],
        env=env, capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return "boolean true" in done.stdout


def test_a_notification_reaches_the_desktops_server(server: Server) -> None:
    sent = DesktopNotifications(server.bus).send("nightly failed", "the server said no", "critical")
    assert sent
    [note] = server.received()
    assert note["summary"] == "nightly failed" and note["body"] == "the server said no"
    assert note["appname"] == "Deskpilot", note


def test_no_server_means_false_so_the_tray_is_used(tmp_path: Path) -> None:
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert DesktopNotifications(address).send("t", "x") is False, "nobody serves the name"
    finally:
        bus.terminate()
        bus.wait(timeout=10)
        if bus.stdout is not None:
            bus.stdout.close()
    assert DesktopNotifications("unix:path=/nonexistent/bus").send("t", "x") is False


def test_without_a_tray_failures_still_notify(
    qapp: QApplication, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stock GNOME shows no tray: before, no notification reached the user at all."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", server.bus)
    paths = DeskpilotPaths.under(short_home("dp-note-"))
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5)
    shell = DesktopShell(
        qapp, BlockRegistry.with_builtins(plugins=False), paths, themes.LIGHT,
        link=link, use_tray=False,
    )  # fmt: skip
    try:
        assert not shell.tray_available and not shell.tray.icon.isVisible()
        link.signals.received.emit({"kind": "breaker_opened", "workflow": "nightly", "failures": 3})
        wait_until(
            qapp, lambda: any(n["summary"] == "nightly keeps failing" for n in server.received())
        )
    finally:
        link.stop()
        shutil.rmtree(paths.data_dir, ignore_errors=True)
