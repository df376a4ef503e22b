"""A private ``dbus-daemon`` and the fake session services on it, for session tests.

``private_bus`` is a fixture (a bus of its own per test; its address), and
``screensaver`` one that makes it the session bus with a fake screen saver
on it (its state file: write "locked" to lock); ``service`` runs ``tests/helpers/fake_screensaver.py`` on a bus until the
block ends.  See that module for what the services answer and signal.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def first_line(process: subprocess.Popen[str], what: str, timeout: float = 10.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"{what} printed nothing within {timeout}s")
    return process.stdout.readline().strip()


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def start_bus() -> tuple[subprocess.Popen[str], str]:
    """A private ``dbus-daemon`` and its address."""
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is not installed (apt-get install dbus)", pytrace=False)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        return bus, first_line(bus, "dbus-daemon")
    except BaseException:
        stop(bus)
        raise


@pytest.fixture
def private_bus() -> Iterator[str]:
    """A private ``dbus-daemon``; its address."""
    bus, address = start_bus()
    try:
        yield address
    finally:
        stop(bus)


@contextlib.contextmanager
def service(address: str, state: Path, *args: str) -> Iterator[None]:
    """``tests.helpers.fake_screensaver`` on the bus at ``address``, ready, until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.fake_screensaver", address, str(state), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first_line(process, "the fake service") == "ready"
        yield
    finally:
        stop(process)


@pytest.fixture
def screensaver(
    private_bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The session bus is a private one with a fake screen saver; returns its state file.

    The system bus points at nothing, so logind says nothing.
    """
    state = tmp_path / "screen-lock"
    with service(private_bus, state):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", private_bus)
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-system-bus'}")
        yield state
