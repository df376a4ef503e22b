"""``python -m tests.screenshots.preferences OUTDIR``: Edit › Preferences… as PNG files.

On a private Xvfb of 1366x768 (``--size`` for others) with openbox, the real
window of a fresh ``DESKPILOT_HOME`` (no supervisor: none is needed) opens
its Preferences dialog.  Written, each the whole X screen:
``preferences-general-WxH.png`` (a mistyped time zone refused on its line)
``preferences-connection-WxH.png`` (another machine, a malformed pin) and
``preferences-trust-WxH.png`` (a real HTTPS listener with a self-signed
certificate nothing vouches for: its fingerprint, subject and validity, and
the button that pins it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

SIZES = ("1366x768",)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.screenshots.preferences")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--size", action="append", help="WIDTHxHEIGHT; repeat (default: 1366x768)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        return _shoot(args.outdir.resolve(), (args.size or list(SIZES))[0])
    from tests.helpers.xvfb import start_xvfb

    failed = 0
    for size in args.size or SIZES:
        width, height = (int(v) for v in size.lower().split("x"))
        display = start_xvfb(((width, height),))
        wm = subprocess.Popen(["openbox"], env=display.env(), stderr=subprocess.DEVNULL)
        home = Path(tempfile.mkdtemp(prefix="dp-prefs-shot-"))
        try:
            env = display.env(DESKPILOT_HOME=str(home), QT_QPA_PLATFORM="xcb")
            command = [sys.executable, "-m", "tests.screenshots.preferences", str(args.outdir),
                       "--size", size, "--child"]  # fmt: skip
            failed += subprocess.run(command, env=env, check=False, timeout=120).returncode != 0
        finally:
            wm.terminate()
            wm.wait(10)
            display.stop()
            shutil.rmtree(home, ignore_errors=True)
    return 1 if failed else 0


def _settle(seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def _grab(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=True, env=os.environ)


def _shoot(outdir: Path, size: str) -> int:
    from PySide6.QtWidgets import QApplication

    from app import theme as themes
    from app.main_window import MainWindow
    from app.preferences_dialog import PreferencesDialog
    from app.prompts import Prompts
    from app.supervisor_link import SupervisorLink
    from automation.blocks.registry import BlockRegistry
    from supervisor.paths import DeskpilotPaths

    app = QApplication([])
    theme = themes.apply(app)
    paths = DeskpilotPaths.from_env().ensure()
    link = SupervisorLink(paths, autostart=False, remote=None)
    registry = BlockRegistry.with_builtins(plugins=False)
    window = MainWindow(registry, paths, theme=theme, connection=link, prompts=Prompts())
    window.fit_to_screen()
    window.show()
    _settle(1.0)
    window.preferences_action.trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog is not None and dialog.form is not None
    dialog.timezone.setCurrentText("Europe/Pariss")
    _settle(0.8)
    _grab(outdir / f"preferences-general-{size}.png")
    dialog.timezone.setCurrentText("Europe/Paris")
    dialog.tabs.setCurrentIndex(1)
    dialog.remote_choice.setChecked(True)
    dialog.form.url_edit.setText("https://robot1.example.com:8750")
    dialog.form.pin_edit.setText("sha256:3fa0")
    _settle(0.8)
    _grab(outdir / f"preferences-connection-{size}.png")
    with tempfile.TemporaryDirectory(prefix="dp-shot-tls-") as folder:
        from tests.helpers.tls import recording_listener, self_signed

        with recording_listener(self_signed(Path(folder), "robot1")) as listener:
            dialog.form.url_edit.setText(listener.url)
            dialog.form.pin_edit.clear()
            dialog.form.token_edit.setText("t" * 40)
            dialog.apply()
            end = time.monotonic() + 20
            while not dialog.form.trust_box.isVisible() and time.monotonic() < end:
                _settle(0.1)
            _settle(0.5)
            _grab(outdir / f"preferences-trust-{size}.png")
    dialog.close()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
