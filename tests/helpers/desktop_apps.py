"""Real Debian desktop applications on an Xvfb display, with their buttons' boxes.

``DesktopSession`` starts a private D-Bus session bus and the accessibility
bus (``at-spi-bus-launcher --launch-immediately``, which Qt apps need before
they start) for one display.  ``launch`` starts a calculator in it with a
fresh ``HOME`` (no saved layout or mode from an earlier run), at a display
scale and a light or dark theme, and returns once its buttons are on the
accessibility bus.  ``App.buttons`` reads every showing button's name and
screen box through AT-SPI: the ground truth the matcher is checked against.

The AT-SPI reading runs in a child process (``tests.helpers.atspi_probe``),
because libatspi binds to one bus for the life of a process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay

ROOT = Path(__file__).resolve().parents[2]
AT_SPI_LAUNCHER = "/usr/libexec/at-spi-bus-launcher"

#: A dark Qt style sheet: Qt has no dark palette switch by environment alone.
QT_DARK = """
QWidget { background-color: #2b2b2b; color: #e8e8e8; }
QPushButton { background-color: #3c3f41; color: #f0f0f0; border: 1px solid #5a5a5a;
              border-radius: 3px; padding: 2px; }
QPushButton:pressed { background-color: #555555; }
"""


@dataclass(frozen=True)
class AppSpec:
    """How to start one application and find it on the accessibility bus."""

    key: str
    command: tuple[str, ...]
    bus_name: str
    toolkit: str  # "gtk" or "qt"
    config: dict[str, str] = field(default_factory=dict)  # path under HOME -> content
    menu_item: str | None = None  # pressed once after start (to show a keypad)


APPS: dict[str, AppSpec] = {
    "galculator": AppSpec("galculator", ("galculator",), "galculator", "gtk"),
    "qalculate": AppSpec("qalculate", ("qalculate-gtk",), "qalculate-gtk", "gtk"),
    "speedcrunch": AppSpec(
        "speedcrunch",
        ("speedcrunch",),
        "speedcrunch",
        "qt",
        {".config/SpeedCrunch/SpeedCrunch.ini": "[General]\nConfigVersion=1200\n"},
        menu_item="Keypad",
    ),
}


@dataclass(frozen=True)
class Button:
    name: str
    role: str
    x: int
    y: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


class DesktopSession:
    """A session bus and the accessibility bus for one X display."""

    def __init__(self, display: XDisplay) -> None:
        self.display = display
        self.home = Path(tempfile.mkdtemp(prefix="deskpilot-apps-"))
        self._children: list[subprocess.Popen[bytes]] = []
        daemon = shutil.which("dbus-daemon")
        if daemon is None or not Path(AT_SPI_LAUNCHER).exists():
            raise RuntimeError(
                "dbus-daemon and at-spi2-core are needed (apt-get install dbus at-spi2-core)"
            )
        bus = subprocess.Popen(
            [daemon, "--session", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._children.append(bus)
        assert bus.stdout is not None
        self.bus_address = bus.stdout.readline().decode().strip()
        bus.stdout.close()
        if not self.bus_address:
            self.stop()
            raise RuntimeError("dbus-daemon did not print its address")
        self._children.append(
            subprocess.Popen(
                [AT_SPI_LAUNCHER, "--launch-immediately"],
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = self.display.env(
            DBUS_SESSION_BUS_ADDRESS=self.bus_address,
            NO_AT_BRIDGE="0",
            QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
            QT_ACCESSIBILITY="1",
        )
        env.update(extra)
        return env

    def _start(self, spec: AppSpec, args: list[str], extra: dict[str, str], home: Path) -> App:
        with (home / "app.log").open("ab") as log:
            process = subprocess.Popen(args, env=self.env(**extra), stdout=log, stderr=log)
        self._children.append(process)
        app = App(self, spec, process)
        if spec.menu_item is not None:
            eventually(lambda: app.probe("--press", spec.menu_item) == 0, timeout=20, interval=0.2)
        return app

    def launch(
        self, key: str, *, scale: float = 1.0, font_scale: float = 1.0, dark: bool = False
    ) -> App:
        """Start the app with a fresh HOME; ``scale`` is toolkit scaling, ``font_scale`` fonts only."""
        spec = APPS[key]
        home = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=self.home))
        for relative, content in spec.config.items():
            path = home / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        extra = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
        args = list(spec.command)
        if spec.toolkit == "gtk":
            extra["GDK_SCALE"] = str(int(scale)) if scale in (1.0, 2.0) else "1"
            dpi = font_scale * (scale if scale not in (1.0, 2.0) else 1.0)
            extra["GDK_DPI_SCALE"] = f"{dpi:g}"
            if dark:
                extra["GTK_THEME"] = "Adwaita:dark"
        else:
            extra.update(
                QT_QPA_PLATFORM="xcb",
                QT_SCALE_FACTOR=f"{scale * font_scale:g}",
                QT_SCALE_FACTOR_ROUNDING_POLICY="PassThrough",
            )
            if dark:
                sheet = home / "dark.qss"
                sheet.write_text(QT_DARK, encoding="utf-8")
                args += ["-stylesheet", str(sheet)]
        (home / ".config").mkdir(exist_ok=True)  # galculator does not make it itself
        # An app whose accessibility bridge started while the registry was still
        # coming up may never register; a second start is what a user would try.
        for attempt in (1, 2):
            app = self._start(spec, args, extra, home)
            try:
                eventually(lambda app=app: len(app.buttons()) >= 10, timeout=20, interval=0.2)
            except AssertionError:
                app.close()
                if attempt == 2:
                    raise AssertionError(
                        f"{key} did not show its buttons on the accessibility bus: "
                        f"{(home / 'app.log').read_text(errors='replace')[-1500:]}"
                    ) from None
            else:
                break
        return app

    def stop(self) -> None:
        for child in reversed(self._children):
            _end(child)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class App:
    session: DesktopSession
    spec: AppSpec
    process: subprocess.Popen[bytes]

    def probe(self, *args: str) -> int:
        """Run the AT-SPI probe with ``args`` (``--press NAME``); its exit status."""
        return self._probe(*args).returncode

    def _probe(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.spec.key} exited with {self.process.returncode}")
        return subprocess.run(
            [sys.executable, "-m", "tests.helpers.atspi_probe", self.spec.bus_name, *args],
            cwd=ROOT,
            env=self.session.env(PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT))),
            capture_output=True,
            timeout=30,
            check=False,
        )

    def buttons(self) -> list[Button]:
        """Every showing button with an area, from AT-SPI (empty while the app starts)."""
        done = self._probe()
        if done.returncode != 0:
            return []
        return [Button(*row) for row in json.loads(done.stdout)["buttons"]]

    def button(self, name: str) -> Button:
        matches = [b for b in self.buttons() if b.name == name]
        assert len(matches) == 1, f"{len(matches)} buttons named {name!r} in {self.spec.key}"
        return matches[0]

    def move(self, x: int, y: int) -> None:
        """Move the app's top-level windows to (x, y) (no window manager needed)."""
        ids = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--pid", str(self.process.pid)],
            env=self.session.env(),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.split()
        for window in ids:
            subprocess.run(
                ["xdotool", "windowmove", "--sync", window, str(x), str(y)],
                env=self.session.env(),
                capture_output=True,
                timeout=10,
                check=False,
            )

    def close(self) -> None:
        _end(self.process)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
