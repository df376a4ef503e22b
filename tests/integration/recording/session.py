"""A desktop session for recording tests: Xvfb, a D-Bus and accessibility bus, openbox, apps.

Its own Xvfb (not the shared one): a window manager runs on it, as on a
user's desktop (focus, ``_NET_ACTIVE_WINDOW``, dialogs placed by the WM),
which the other desktop tests do not expect.  Apps get a fresh ``HOME`` so
no saved settings change their layout, and the session bus with AT-SPI so a
test can read button positions the way a person sees them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay, start_xvfb

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class DesktopSession:
    folder: Path
    display: XDisplay | None = None
    env: dict[str, str] = field(default_factory=dict)
    bus_pid: int | None = None
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    apps: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> DesktopSession:
        self.display = start_xvfb(xauthority_dir=self.folder)
        home = self.folder / "home"
        runtime = self.folder / "run"
        for path in (home, runtime):
            path.mkdir(mode=0o700, exist_ok=True)
        self.env = self.display.env(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_RUNTIME_DIR=str(runtime),
            OMP_THREAD_LIMIT="1",
        )
        self.env.pop("NO_AT_BRIDGE", None)
        out = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
        self.env["DBUS_SESSION_BUS_ADDRESS"], self.bus_pid = out[0], int(out[1])
        self._spawn(["/usr/libexec/at-spi-bus-launcher", "--launch-immediately"])
        self._start_openbox()
        return self

    def _start_openbox(self) -> None:
        """Start openbox; once more if it could not connect (seen once while other test
        runs started X servers at the same moment), then wait until it manages the screen."""
        for _attempt in range(3):
            openbox = self._spawn(["openbox", "--config-file", str(self._openbox_config())])

            def up(openbox: subprocess.Popen[bytes] = openbox) -> bool:
                assert openbox.poll() is None, "openbox exited"
                return "_NET_SUPPORTING_WM_CHECK(WINDOW)" in self.xprop_root()

            try:
                eventually(up, timeout=15)
                return
            except AssertionError:
                continue
        log = (self.folder / "openbox.log").read_text(errors="replace")
        raise AssertionError(f"openbox did not start on {self.env['DISPLAY']}: {log}")

    def _openbox_config(self) -> Path:
        """No menus or key bindings: openbox must not take keys the tests press."""
        path = self.folder / "rc.xml"
        path.write_text(
            '<?xml version="1.0"?>\n<openbox_config xmlns="http://openbox.org/3.4/rc">'
            "<focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>"
            "<keyboard></keyboard><mouse></mouse></openbox_config>\n",
            encoding="utf-8",
        )
        return path

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{Path(command[0]).name}.log").open("ab") as log:
            process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        self.background.append(process)
        return process

    def xprop_root(self) -> str:
        done = subprocess.run(
            ["xprop", "-root"], env=self.env, capture_output=True, text=True, timeout=10
        )
        return done.stdout + done.stderr

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=20
        )
        assert done.returncode == 0, f"xdotool {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def windows(self) -> dict[str, int]:
        """Title -> window id of every managed window (wmctrl asks the WM)."""
        done = subprocess.run(
            ["wmctrl", "-l"], env=self.env, capture_output=True, text=True, timeout=10
        )
        found = {}
        for line in done.stdout.splitlines():
            parts = line.split(None, 3)
            if len(parts) == 4:
                found[parts[3]] = int(parts[0], 16)
        return found

    def wait_window(self, title: str, timeout: float = 20.0) -> int:
        return eventually(lambda: self.windows().get(title), timeout=timeout, interval=0.05)

    def launch(self, name: str, *args: str) -> None:
        self.apps[name] = self._spawn([name, *args])

    def close_app(self, name: str) -> None:
        process = self.apps.pop(name)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def buttons(self, app: str) -> dict[str, list[int]]:
        """Button name -> [x, y, w, h] on screen, read through AT-SPI in a child process."""

        def read() -> dict[str, list[int]]:
            done = subprocess.run(
                [sys.executable, "-m", "tests.integration.recording.atspi_probe", app],
                env=self.env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
            )
            return dict(json.loads(done.stdout or "{}"))

        return eventually(read, timeout=20, interval=0.2)

    def clipboard(self) -> str:
        done = subprocess.run(
            ["xsel", "--clipboard", "--output"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout

    def stop(self) -> None:
        for process in [*self.apps.values(), *reversed(self.background)]:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        if self.bus_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.bus_pid, signal.SIGTERM)
        if self.display is not None:
            self.display.stop()
