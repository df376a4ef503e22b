"""A private accessibility bus on the test display, and real apps started on it.

``a11y_session`` (session scope) starts, for the Xvfb display of the session:

* a private D-Bus session bus (``dbus-daemon --session``) in a temporary
  ``XDG_RUNTIME_DIR``, so nothing of the machine's own session leaks in;
* ``at-spi-bus-launcher --launch-immediately`` on it, which starts the
  accessibility bus and answers ``org.a11y.Bus.GetAddress``;
* the bus address written to the X root window's ``AT_SPI_BUS`` property, where
  libatspi looks first: every client of the display, this test process
  included, finds the bus whatever its own ``DBUS_SESSION_BUS_ADDRESS`` says
  (the keyring fixture points that at another private bus).

It is started before any app, as Qt requires.  ``A11ySession.launch`` starts
an application with the right environment (Qt accessibility on, a private
config folder so saved settings never carry over between runs) and returns
once the app is in the accessibility tree.

Missing programs fail the tests with the apt command, rather than skipping
them: a test that silently does not run proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.helpers.keyring_session import _read_bus_address, _stop
from tests.helpers.xvfb import XDisplay

LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
START_TIMEOUT = 15.0
_APT = "apt-get install -y dbus at-spi2-core gir1.2-atspi-2.0"


@dataclass
class A11ySession:
    display: XDisplay
    bus_address: str
    a11y_address: str
    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for an app on the display and the accessibility bus."""
        env = self.display.env(
            DBUS_SESSION_BUS_ADDRESS=self.bus_address,
            XDG_RUNTIME_DIR=str(self.root / "runtime"),
            XDG_CONFIG_HOME=str(self.root / "config"),
            XDG_DATA_HOME=str(self.root / "data"),
            XDG_CACHE_HOME=str(self.root / "cache"),
            QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
            QT_QPA_PLATFORM="xcb",
        )
        env.pop("QT_SCALE_FACTOR", None)
        env.update(extra)
        return env

    def launch(
        self, argv: Sequence[str], app_name: str, *, timeout: float = 20.0, **env: str
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` and wait until it shows a window in the accessibility tree."""
        from automation.blocks.desktop import accessibility

        # Another accessibility bus launcher (started for an app of another test through its
        # own session bus) may have claimed the display since: point it back at ours.
        _set_root_property(self.display, "AT_SPI_BUS", self.a11y_address)
        program = shutil.which(argv[0])
        if program is None:
            pytest.fail(f"{argv[0]} is not installed (apt-get install {argv[0]})", pytrace=False)
        log = (self.root / f"{Path(argv[0]).name}.log").open("wb")
        process = subprocess.Popen(
            [program, *argv[1:]],
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        deadline = time.monotonic() + timeout
        while True:
            apps = accessibility.applications()
            mine = [a for a in apps if a.pid == process.pid and a.children()]
            if mine:
                return process
            if process.poll() is not None or time.monotonic() >= deadline:
                said = (self.root / f"{Path(argv[0]).name}.log").read_text(errors="replace")
                seen = [f"{a.name} ({a.pid})" for a in apps]
                seen.append(self._connections())
                process.kill()
                pytest.fail(
                    f"{app_name} did not appear in the accessibility tree within {timeout}s "
                    f"(exit code {process.poll()}; on the bus: {seen}); it said:\n{said[-2000:]}",
                    pytrace=False,
                )
            time.sleep(0.05)  # polling interval, bounded by the deadline above

    def _connections(self) -> str:
        """Who is connected to the accessibility bus: for failure messages."""
        done = subprocess.run(
            [
                "dbus-send",
                f"--bus={self.a11y_address}",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.ListNames",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return " ".join(done.stdout.split()) + done.stderr

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        _stop(process)
        with contextlib.suppress(ValueError):
            self.processes.remove(process)


def _a11y_address(env: dict[str, str]) -> str | None:
    """The accessibility bus address from the launcher, or None while it is not up yet."""
    done = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply=literal",
            "--dest=org.a11y.Bus",
            "/org/a11y/bus",
            "org.a11y.Bus.GetAddress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    address = done.stdout.strip()
    return address if done.returncode == 0 and address.startswith("unix:") else None


def _registry_up(a11y_address: str) -> bool:
    """Ask the registry for its desktop (D-Bus starts it if needed): True once it answers."""
    done = subprocess.run(
        [
            "dbus-send",
            f"--bus={a11y_address}",
            "--print-reply",
            "--reply-timeout=2000",
            "--dest=org.a11y.atspi.Registry",
            "/org/a11y/atspi/accessible/root",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.a11y.atspi.Accessible",
            "string:ChildCount",
        ],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return done.returncode == 0


def _set_root_property(display: XDisplay, name: str, value: str) -> None:
    from Xlib import Xatom  # type: ignore[import-untyped]
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display.name)
    try:
        root = connection.screen().root
        root.change_property(connection.intern_atom(name), Xatom.STRING, 8, value.encode())
        connection.sync()
    finally:
        connection.close()


def _stop_children(pid: int) -> None:
    """The launcher's own dbus-daemon and the registry it activated outlive it otherwise."""
    with contextlib.suppress(psutil.NoSuchProcess):
        children = psutil.Process(pid).children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.terminate()
        psutil.wait_procs(children, timeout=5)


def _connect_this_process(session_bus: str) -> None:
    """Connect this process's libatspi now, with our session bus in its environment.

    Without a session bus libatspi autolaunches one, whose activated bus launcher then
    claims the display's ``AT_SPI_BUS`` for a bus nobody else uses.  The connection is
    made once per process, so the variable is set only for this call: the keyring
    fixture owns it for the rest of the session.
    """
    from automation.blocks.desktop import accessibility

    before = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = session_bus
    try:
        accessibility.applications()
    finally:
        if before is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = before


@contextlib.contextmanager
def start_a11y(display: XDisplay) -> Iterator[A11ySession]:
    missing = [p for p in ("dbus-daemon",) if shutil.which(p) is None]
    if missing or not os.access(LAUNCHER, os.X_OK):
        pytest.fail(f"accessibility tests need dbus-daemon and {LAUNCHER}; {_APT}", pytrace=False)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dp-a11y-")))
        for name in ("runtime", "config", "data", "cache"):
            (root / name).mkdir(mode=0o700)
        base_env = display.env(XDG_RUNTIME_DIR=str(root / "runtime"))
        base_env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        bus_log = stack.enter_context((root / "dbus-daemon.log").open("wb"))
        bus = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--print-address=1",
                f"--address=unix:path={root / 'runtime' / 'bus'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=bus_log,
            env=base_env,
        )
        stack.callback(lambda: bus.stdout.close() if bus.stdout else None)
        stack.callback(_stop, bus)
        address = _read_bus_address(bus)
        launcher_log = stack.enter_context((root / "at-spi-bus-launcher.log").open("wb"))
        launcher = subprocess.Popen(
            [LAUNCHER, "--launch-immediately"],
            stdin=subprocess.DEVNULL,
            stdout=launcher_log,
            stderr=subprocess.STDOUT,
            env={**base_env, "DBUS_SESSION_BUS_ADDRESS": address},
        )
        stack.callback(_stop_children, launcher.pid)
        stack.callback(_stop, launcher)
        deadline = time.monotonic() + START_TIMEOUT
        bus_env = {**base_env, "DBUS_SESSION_BUS_ADDRESS": address}
        while (a11y_address := _a11y_address(bus_env)) is None:
            if launcher.poll() is not None or time.monotonic() >= deadline:
                said = (root / "at-spi-bus-launcher.log").read_text(errors="replace")
                pytest.fail(
                    f"the accessibility bus did not start within {START_TIMEOUT}s: {said}",
                    pytrace=False,
                )
            time.sleep(0.02)  # polling interval, bounded by the deadline above
        _set_root_property(display, "AT_SPI_BUS", a11y_address)
        session = A11ySession(display, address, a11y_address, root)
        # Apps register with the registry daemon, which the bus starts on first use; an app
        # that starts before it is up may never appear in the tree.  Start it now.
        while not _registry_up(a11y_address):
            if time.monotonic() >= deadline:
                said = (root / "at-spi-bus-launcher.log").read_text(errors="replace")
                pytest.fail(
                    f"the accessibility registry did not start within {START_TIMEOUT}s: "
                    f"{session._connections()} {said}",
                    pytrace=False,
                )
            time.sleep(0.02)  # polling interval, bounded by the deadline above
        _connect_this_process(address)
        try:
            yield session
        finally:
            for process in list(session.processes):
                session.stop(process)


@pytest.fixture(scope="session")
def a11y_session(xvfb_display: XDisplay) -> Iterator[A11ySession]:
    """The accessibility bus on the session's display (started once)."""
    with start_a11y(xvfb_display) as session:
        yield session
