"""A real X display for desktop tests: Xvfb started once per session.

``xvfb_display`` starts ``Xvfb -displayfd`` (it picks a free display number,
writes it to our pipe when it is ready to accept clients), points ``DISPLAY``
and ``XAUTHORITY`` at it for the whole session and kills it at the end.  No
window manager is started: input reaches windows without one, and focus
follows the pointer (X's default) or an explicit ``window.focus``.

A missing ``Xvfb`` fails the tests that need it with install instructions;
it does not skip them, so CI cannot go green without having driven a display.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class XDisplay:
    name: str  # ":99"
    process: subprocess.Popen[bytes]
    xauthority: Path
    screens: tuple[tuple[int, int], ...]

    @property
    def width(self) -> int:
        return sum(w for w, _ in self.screens)

    @property
    def height(self) -> int:
        return max(h for _, h in self.screens)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a child process needs to draw on this display."""
        env = dict(os.environ)
        env.update(DISPLAY=self.name, XAUTHORITY=str(self.xauthority), **extra)
        return env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_xvfb(
    screens: Sequence[tuple[int, int]] = ((1920, 1080),), *, xauthority_dir: Path | None = None
) -> XDisplay:
    """Start Xvfb with one screen, or several joined by Xinerama into one virtual desktop."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise RuntimeError(
            "Xvfb is not installed; desktop tests need a real X display "
            "(apt-get install xvfb xauth xdotool xsel)"
        )
    folder = xauthority_dir or Path(tempfile.mkdtemp(prefix="deskpilot-x-"))
    xauthority = folder / "Xauthority"
    xauthority.touch()  # python-xlib refuses to start without an existing file
    read_fd, write_fd = os.pipe()
    # -noreset: by default Xvfb resets when its last client disconnects, and drops the
    # clients that connect during the reset ("Connection reset by peer"); a test whose
    # only clients come and go (a killed worker, short-lived X look-ups) hit that
    command = [binary, "-displayfd", str(write_fd), "-nolisten", "tcp", "-ac", "-noreset"]
    for index, (width, height) in enumerate(screens):
        command += ["-screen", str(index), f"{width}x{height}x24"]  # depth 24: Pillow/mss need it
    if len(screens) > 1:
        command.append("+xinerama")
    process = subprocess.Popen(
        command, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not number.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(0.0, left))
            if not ready:
                raise RuntimeError(f"Xvfb did not report a display within {START_TIMEOUT}s")
            chunk = os.read(read_fd, 16)
            if not chunk:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"Xvfb exited before it was ready: {err.strip()[-500:]}")
            number += chunk
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        os.close(read_fd)
    if process.stderr is not None:
        process.stderr.close()
    return XDisplay(f":{number.decode().strip()}", process, xauthority, tuple(screens))


@pytest.fixture(scope="session")
def xvfb_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XDisplay]:
    """A 1920x1080x24 Xvfb display, set as this process's DISPLAY for the session."""
    try:
        display = start_xvfb(xauthority_dir=tmp_path_factory.mktemp("xvfb"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", display.name)
        patch.setenv("XAUTHORITY", str(display.xauthority))
        # Terminals the tests start run this shell: no login rc files, whose start-up
        # (a version manager's rehash waiting on a stale lock, say) is not under test.
        patch.setenv("SHELL", "/bin/sh")
        try:
            yield display
        finally:
            display.stop()
