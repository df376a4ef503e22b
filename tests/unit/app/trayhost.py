"""A system tray on a private Xvfb display: what ``QSystemTrayIcon`` needs to exist.

``tray_host`` starts Xvfb (tests.helpers.xvfb) and ``trayer`` on it, then
waits until the ``_NET_SYSTEM_TRAY_S0`` selection has an owner: from then
on a Qt process on that display (``QT_QPA_PLATFORM=xcb``) sees
``QSystemTrayIcon.isSystemTrayAvailable()`` as True.  Missing programs fail
the test with install instructions rather than skipping it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.xvfb import XDisplay, start_xvfb

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class TrayHost:
    display: XDisplay
    trayer: subprocess.Popen[bytes]

    def env(self, **extra: str) -> dict[str, str]:
        return self.display.env(QT_QPA_PLATFORM="xcb", **extra)


def tray_owner(display_name: str) -> int:
    """The window owning the system-tray selection of screen 0 (0 when there is none)."""
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    connection = xdisplay.Display(display_name)
    try:
        atom = connection.intern_atom("_NET_SYSTEM_TRAY_S0")
        owner = connection.get_selection_owner(atom)
        return int(owner.id) if owner else 0
    finally:
        connection.close()


def start_tray_host(folder: Path) -> TrayHost:
    if shutil.which("trayer") is None:
        pytest.fail("the tray tests need 'trayer' (apt-get install trayer)", pytrace=False)
    display = start_xvfb(((1280, 800),), xauthority_dir=folder)
    trayer = subprocess.Popen(
        [
            "trayer",
            "--edge",
            "bottom",
            "--align",
            "right",
            "--widthtype",
            "request",
            "--height",
            "24",
        ],  # fmt: skip
        env=display.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not tray_owner(display.name):
        if trayer.poll() is not None or time.monotonic() > deadline:
            trayer.kill()
            display.stop()
            pytest.fail("trayer did not take the system tray selection", pytrace=False)
        time.sleep(0.02)  # polling interval, bounded by the deadline above
    return TrayHost(display, trayer)


def stop_tray_host(host: TrayHost) -> None:
    if host.trayer.poll() is None:
        host.trayer.terminate()
        try:
            host.trayer.wait(timeout=5)
        except subprocess.TimeoutExpired:
            host.trayer.kill()
            host.trayer.wait(timeout=5)
    host.display.stop()


@pytest.fixture(name="tray_host", scope="module")
def tray_host_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrayHost]:
    host = start_tray_host(tmp_path_factory.mktemp("tray"))
    try:
        yield host
    finally:
        stop_tray_host(host)
