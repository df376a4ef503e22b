"""A newcomer's first session, with the package installed as people install it.

1. The real wheel (``pip wheel --no-deps``) goes, non-editable, into a fresh
   venv; nothing of the source tree is on its path (the test checks where
   ``app`` is imported from).
2. ``deskpilot-app --gallery`` opens the real window on a private 1366x768
   Xvfb (a small laptop screen); the window starts its own supervisor.
3. Every GUI action is real X input from ``xdotool``, aimed at the element's
   box as the accessibility bus (AT-SPI) reports it: "Open a copy" of the
   hello example from the gallery, Tab through the canvas to the node
   ``tally``, F9 for a breakpoint, F5 and the inputs dialog's Run button, the
   debugger's values read while paused, Continue until the run ends, the
   History tab.
4. The run is in the history, as the window's History tab shows it and as
   ``deskpilot runs show`` of the same install prints it.

Shortcuts, for time, each one said: the fresh venv gets its dependencies
(PySide6, OpenCV...) from this environment through a ``.pth`` line instead of
downloading them (Deskpilot itself is a real install in the venv's own
site-packages, with its resources); the window's keyring is a private
gnome-keyring (a first start on a desktop has the session's).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.helpers.a11y import A11ySession, start_a11y
from tests.helpers.daemon import short_home
from tests.helpers.keyring_session import RealKeyring, _private_keyring
from tests.helpers.xvfb import XDisplay, start_xvfb

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

#: Outside the source tree, so that neither PYTHONPATH nor the working directory finds it.
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("PYTHONPATH", "DESKPILOT_HOME", "DISPLAY", "XAUTHORITY", "QT_QPA_PLATFORM")
}


def _run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env or CLEAN_ENV, cwd="/",
        timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with Deskpilot's wheel in it; returns the venv."""
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT, timeout=300)
    wheel = next(out.glob("deskpilot-*.whl"))
    venv = tmp_path_factory.mktemp("venv") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    _run(sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check",
         "install", "--no-deps", "-q", wheel)  # fmt: skip
    # after the install, or pip would see this environment's editable Deskpilot and skip it
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = _run(
        python, "-c", "import deskpilot; deskpilot.activate(); import app; print(app.__file__)"
    )
    assert Path(where.strip()).is_relative_to(site / "deskpilot"), where
    return venv


@pytest.fixture(scope="module")
def desktop() -> Iterator[tuple[XDisplay, A11ySession, RealKeyring]]:
    """A small laptop's screen, its accessibility bus and a keyring."""
    display = start_xvfb(((1366, 768),))
    try:
        # this process's accessibility client finds the bus through the display it is on
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DISPLAY", display.name)
            patch.setenv("XAUTHORITY", str(display.xauthority))
            with _private_keyring() as keyring, start_a11y(display) as a11y:
                yield display, a11y, keyring
    finally:
        display.stop()


def eventually(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.05)  # polling interval, bounded by the deadline


class Screen:
    """Real input on the test display, aimed through the accessibility tree."""

    def __init__(self, display: XDisplay, pid: int) -> None:
        self.display = display
        self.scope = f"pid={pid}"

    def xdotool(self, *args: str | int) -> None:
        subprocess.run(["xdotool", *map(str, args)], env=self.display.env(), check=True, timeout=10)

    def find(self, selector: str, timeout: float = 30.0):  # noqa: ANN201 - an Element
        from automation.blocks.desktop import accessibility

        found = accessibility.wait_for(f"{self.scope} / {selector}", timeout=timeout)
        assert found is not None and found.center is not None, selector
        return found

    def present(self, selector: str) -> list[object]:
        from automation.blocks.desktop import accessibility

        return list(accessibility.find_all(f"{self.scope} / {selector}"))

    def click(self, selector: str, timeout: float = 30.0) -> None:
        element = self.find(selector, timeout)
        x, y = element.center
        # (not --sync: it waits forever when the pointer is already there)
        self.xdotool("mousemove", x, y, "click", 1)

    def key(self, *keys: str) -> None:
        self.xdotool("key", "--delay", 30, *keys)

    def selected_node(self) -> str:
        """The id in the node form's Id field ("" while no node is selected)."""
        from automation.blocks.desktop import accessibility

        fields = self.present("filler[name=Node properties] / ... / panel[name=Node] / text")
        texts = [accessibility.read_text(f) for f in fields]  # type: ignore[arg-type]
        return texts[0] if texts else ""

    def names(self, selector: str) -> list[str]:
        return [getattr(e, "name", "") for e in self.present(selector)]


def test_a_newcomer_installs_opens_an_example_breaks_inspects_continues_and_finds_it(
    installed: Path, desktop: tuple[XDisplay, A11ySession, RealKeyring]
) -> None:
    display, a11y, keyring = desktop
    home = short_home("dp-newcomer-")
    env = {
        "DESKPILOT_HOME": str(home),
        "PYTHONPATH": "",
        "DBUS_SESSION_BUS_ADDRESS": keyring.bus_address,
        "PYTHON_KEYRING_BACKEND": keyring.backend_name,
        "AT_SPI_BUS_ADDRESS": a11y.a11y_address,
    }
    cli_env = {**CLEAN_ENV, **env}
    deskpilot = installed / "bin" / "deskpilot"
    app = a11y.launch([str(installed / "bin" / "deskpilot-app"), "--gallery"], "Deskpilot", **env)
    screen = Screen(display, app.pid)
    try:
        # the gallery: a copy of the hello example into the workflows folder
        screen.click("push button[name=Open a copy of hello]")
        copy = home / "workflows" / "hello.yaml"
        eventually("the copy", copy.is_file)
        screen.find("page tab[name=hello]")
        eventually(
            "the supervisor", lambda: screen.present("label[name=Supervisor: connected]"), 60
        )

        # the canvas (Ctrl+2), Tab from node to node until the form shows tally's block
        screen.click("label[name=✓ valid]")  # the window takes the keyboard
        screen.key("ctrl+2")
        for _ in range(10):
            screen.key("Tab")
            if eventually("the form", screen.selected_node, 5) == "tally":
                break
        assert screen.selected_node() == "tally"
        screen.key("F9")  # a breakpoint on it
        screen.key("F5")  # run: the inputs dialog asks, its defaults will do
        screen.click("dialog / ... / push button[name=Run]")

        # paused before tally: what it is about to run with
        where = "label[name~=\"Paused before 'tally'.*\"]"
        paused = screen.find(where, timeout=60)
        assert "breakpoint" in paused.name
        screen.find("label[name=\"paused before 'tally'\"]")  # not "running for ..."
        # the run panel grows to show them all: rendered inputs, pins and vars
        values = eventually(
            "the values, vars included",
            lambda: (
                (names := screen.names("tree[name=Paused values] / table cell"))
                and "Vars" in names
                and names
            ),
        )
        assert values[values.index("name") + 1] == '"total"', values
        assert values[values.index("value") + 1] == "1", values  # vars.total (0) + 1
        assert values[values.index("Vars") + 2 :][:2] == ["total", "0"], values

        # Continue, once per number the loop gives tally (three), until it ends
        for _ in range(5):
            before = screen.find(where).name if screen.present(where) else None
            if before is None:
                break
            screen.click("push button[name=Continue]")
            eventually(
                "the next pause or the end",
                lambda before=before: (
                    not screen.present(where) or screen.find(where).name != before
                ),
            )
        eventually("the run's end", lambda: not screen.present(where), 30)

        # the History tab has the run
        screen.click("page tab[name=History]")
        eventually(
            "the run in the history",
            lambda: {"hello", "succeeded"} <= set(screen.names("table cell")),
            30,
        )
        # and the CLI of the same install reads it from the history
        (run,) = json.loads(_run(deskpilot, "runs", "list", "--json", env=cli_env))
        assert (run["workflow_name"], run["status"]) == ("hello", "succeeded")
        shown = json.loads(_run(deskpilot, "runs", "show", run["id"][:8], "--json", env=cli_env))
        assert shown["nodes"]["tally"]["executions"] == 3
        assert shown["outputs"] == {"greeting": "Hello, world!", "total": 6}
    finally:
        a11y.stop(app)
        with contextlib.suppress(AssertionError):
            _run(deskpilot, "supervisor", "stop", env=cli_env, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
