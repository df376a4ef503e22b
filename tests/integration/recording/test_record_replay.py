"""Record a session in a real editor and a real calculator, then replay it with no edits.

xdotool drives real input (XTEST) on Xvfb, which XRecord reports like a
physical keyboard and mouse.  Mousepad and galculator are the Debian
packages.  After the recording the apps are closed and started afresh, the
calculator is moved elsewhere (clicks must follow their images, not their
coordinates), and ``deskpilot run`` replays the written file.  The test then
reads the saved file and the calculator's result (copied to the clipboard).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.loader import read_workflow_file
from automation.recording import Recorder
from automation.recording.anchors import accessibility_supported
from automation.recording.compose import (
    ClickStep,
    FocusStep,
    HotkeyStep,
    PauseStep,
    PressStep,
    Step,
    TypeStep,
    WaitWindowStep,
)
from automation.recording.recorder import Recording
from automation.recording.workflow import write_recording
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay
from tests.integration.recording.session import ROOT, DesktopSession

pytestmark = pytest.mark.timeout(240)

TEXT = "Hello from Deskpilot"
EDITOR = "Untitled 1 - Mousepad"


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DesktopSession]:
    desktop = DesktopSession(tmp_path / "desktop")
    desktop.folder.mkdir()
    try:
        desktop.start()
        monkeypatch.setenv("DISPLAY", desktop.env["DISPLAY"])
        monkeypatch.setenv("XAUTHORITY", desktop.env["XAUTHORITY"])
        yield desktop
    finally:
        desktop.stop()


def start_apps(session: DesktopSession) -> None:
    session.launch("mousepad")
    session.launch("galculator")
    session.wait_window(EDITOR)
    session.wait_window("galculator")
    session.xdotool("mousemove", "10", "10")  # away from any window: no tooltip, no hover


def test_a_recorded_editor_and_calculator_session_replays(
    session: DesktopSession, tmp_path: Path
) -> None:
    saved = tmp_path / "saved" / "note.txt"
    saved.parent.mkdir()
    start_apps(session)
    buttons = session.buttons("galculator")
    editor = session.wait_window(EDITOR)

    recorder = Recorder(display=session.env["DISPLAY"])
    recorder.start()

    def act(*args: str) -> None:
        before = recorder.input_count()
        session.xdotool(*args)
        eventually(lambda: recorder.input_count() > before, timeout=10)
        assert recorder.wait_idle(20), "the recorder did not take the input in"

    try:
        assert recorder.wait_idle(10)
        session.xdotool("windowactivate", "--sync", str(editor))  # a WM request, not input
        act("type", "--delay", "30", TEXT + "x")
        act("key", "BackSpace")
        act("key", "ctrl+s")
        session.wait_window("Save As")
        assert recorder.wait_idle(10)
        act("type", "--delay", "30", str(saved))
        # A person's pause before Enter: input to the recorder, which keeps it (up to 1 s) so
        # the replay does not press Enter while the file chooser is still taking in the path.
        time.sleep(0.5)
        act("key", "Return")
        session.wait_window(f"{saved} - Mousepad")
        assert recorder.wait_idle(10)
        for name in ("1", "2", "+", "3", "="):
            x, y, w, h = buttons[name]
            act("mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
        session.xdotool("mousemove", "10", "10")
    finally:
        recording = recorder.stop()

    assert saved.read_text(encoding="utf-8") == TEXT  # the recorded session itself worked
    pauses = [s.seconds for s in recording.steps if isinstance(s, PauseStep)]
    assert pauses and 0.5 <= pauses[-1] <= 1.0, recording.steps
    kinds = [
        type(step) for step in recording.steps if not isinstance(step, WaitWindowStep | PauseStep)
    ]
    assert kinds[:3] == [FocusStep, TypeStep, HotkeyStep], recording.steps
    typed = [s for s in recording.steps if isinstance(s, TypeStep)]
    assert [t.text for t in typed] == [TEXT, str(saved)]
    assert [s.keys for s in recording.steps if isinstance(s, HotkeyStep)] == [["ctrl", "s"]]
    assert [s.key for s in recording.steps if isinstance(s, PressStep)] == ["enter"]
    waits = [(s.title, s.until) for s in recording.steps if isinstance(s, WaitWindowStep)]
    assert ("Save As", "appears") in waits and (f"{saved} - Mousepad", "appears") in waits
    clicks = [s for s in recording.steps if isinstance(s, ClickStep)]
    assert len(clicks) == 5
    for click in clicks:
        target = recording.target_of(click)
        assert target is not None and target.crop is not None, target

    flow = tmp_path / "flow" / "recorded.yaml"
    flow.parent.mkdir()
    write_recording(recording, flow)
    loaded = read_workflow_file(flow)
    assert len(loaded.workflow.nodes) == len(recording.steps)

    # reset: fresh apps, no saved file, and the calculator somewhere else
    session.close_app("mousepad")
    session.close_app("galculator")
    saved.unlink()
    eventually(lambda: not session.windows(), timeout=10)
    start_apps(session)
    calculator = session.wait_window("galculator")
    session.xdotool("windowmove", "--sync", str(calculator), "1300", "120")
    session.xdotool("windowactivate", "--sync", str(session.wait_window("Untitled 1 - Mousepad")))

    replay(session, flow, tmp_path)
    assert eventually(lambda: saved.exists(), timeout=10)
    assert saved.read_text(encoding="utf-8") == TEXT
    assert calculator_shows(session, calculator) == "15"
    assert os.path.isdir(flow.with_name("recorded-images"))

    # the image anchors alone replay too (what heals a click when accessibility is missing):
    # the calculator's clicks, their accessibility anchors left out, on a fresh calculator
    session.close_app("galculator")
    session.launch("galculator")
    calculator = session.wait_window("galculator")
    session.xdotool("windowmove", "--sync", str(calculator), "1300", "600")
    session.xdotool("mousemove", "10", "10")
    for target in recording.targets.values():
        target.anchors = [a for a in target.anchors if "accessibility" not in a]
    steps: list[Step] = [*clicks]
    images_only = Recording(steps, recording.targets, recording.screen)
    write_recording(images_only, flow.with_name("images-only.yaml"))
    replay(session, flow.with_name("images-only.yaml"), tmp_path)
    assert calculator_shows(session, calculator) == "15"


def replay(session: DesktopSession, flow: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "supervisor.cli.main", "run", str(flow)],
        env=dict(
            session.env, DESKPILOT_HOME=str(tmp_path / "deskpilot-home"), PYTHONPATH=str(ROOT)
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def calculator_shows(session: DesktopSession, calculator: int) -> str:
    """The calculator's display, copied to the clipboard with its own Ctrl+C."""
    subprocess.run(
        ["xsel", "--clipboard", "--input"], input="(nothing copied)", text=True,
        env=session.env, timeout=10, check=True,
    )  # fmt: skip
    session.xdotool("windowactivate", "--sync", str(calculator))
    session.xdotool("key", "ctrl+c")
    return eventually(
        lambda: (text := session.clipboard().strip()) != "(nothing copied)" and text, timeout=10
    )


def test_deskpilot_record_writes_a_file_until_ctrl_c(
    session: DesktopSession, tmp_path: Path
) -> None:
    session.launch("galculator")
    session.wait_window("galculator")
    session.xdotool("mousemove", "10", "10")
    x, y, w, h = session.buttons("galculator")["7"]
    flow = tmp_path / "clicks.yaml"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli.main", "record", "-o", str(flow), "--no-text"],
        env=dict(session.env, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(recorder.stdout or []), daemon=True)
    reader.start()
    try:
        eventually(
            lambda: any(line.startswith("recording on display") for line in lines), timeout=20
        )
        session.xdotool("mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
        eventually(lambda: any("button 1 at" in line for line in lines), timeout=10)
        recorder.send_signal(signal.SIGINT)
        assert recorder.wait(60) == 0, "".join(lines)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    reader.join(10)
    if recorder.stdout is not None:
        recorder.stdout.close()
    assert any(line.startswith(f"wrote {flow}: 1 steps, 1 clicks") for line in lines), lines
    loaded = read_workflow_file(flow)
    (node,) = loaded.workflow.nodes.values()
    assert node.block == "image.click"
    anchors = node.with_["target"]["anchors"]
    assert any("image" in anchor for anchor in anchors)
    if accessibility_supported():  # the element under the pointer, looked up as it went down
        assert "button[name=7]" in anchors[0]["accessibility"], anchors
    assert (tmp_path / "clicks-images").is_dir()


def test_windows_of_an_excluded_process_are_not_recorded(session: DesktopSession) -> None:
    """What keeps the editor's own window (its Stop button) out of its recordings."""
    session.launch("galculator")
    calculator = session.wait_window("galculator")
    x, y, w, h = session.buttons("galculator")["7"]
    recorder = Recorder(exclude_pids={session.apps["galculator"].pid}, text_anchors=False)
    recorder.start()
    try:
        session.xdotool("mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
        session.xdotool("windowactivate", "--sync", str(calculator))
        session.xdotool("key", "8")
        eventually(lambda: recorder._capture.dropped >= 4, timeout=10)
    finally:
        recording = recorder.stop()
    assert recording.steps == [] and recording.events == 0
    assert recording.dropped >= 4


def test_a_recorded_drag_replays_from_where_its_start_is_now(
    xvfb_display: XDisplay, tmp_path: Path
) -> None:
    """A drag selecting text in xterm; replayed on an xterm elsewhere, it selects the same.

    On the shared Xvfb without a window manager: under openbox, drags sent by xdotool
    in separate commands (press, moves, release) reached neither xterm nor the title bar.
    """
    env = xvfb_display.env()
    text = "alpha bravo charlie delta"

    def terminal(x: int, y: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["xterm", "-T", "notes", "-fa", "DejaVu Sans Mono", "-fs", "14"]
            + ["-geometry", f"60x8+{x}+{y}", "-e", "sh", "-c", f"echo '{text}'; exec sleep 600"],
            env=env,
        )
        eventually(lambda: ocr_finds(text.split()[0]), timeout=15, interval=0.2)
        return process

    def xdotool(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=20)

    first = terminal(300, 300)
    recorder = Recorder(display=xvfb_display.name, text_anchors=False)
    recorder.start()
    try:
        assert recorder.wait_idle(10)
        x, y = 305, 314  # on "alpha", the first line
        xdotool("mousemove", str(x), str(y), "mousedown", "1")
        xdotool("mousemove", str(x + 60), str(y))
        xdotool("mousemove", str(x + 125), str(y), "mouseup", "1")
        selected = eventually(lambda: primary(env), timeout=10)
        assert selected.startswith("alpha b"), selected
        assert recorder.wait_idle(20)
    finally:
        recording = recorder.stop()
        first.terminate()
        first.wait(10)
    flow = tmp_path / "drag.yaml"
    write_recording(recording, flow)
    blocks = [n.block for n in read_workflow_file(flow).workflow.nodes.values()]
    assert blocks == ["image.wait", "mouse.drag"]

    second = terminal(900, 500)
    try:
        subprocess.run(["xsel", "--primary", "--clear"], env=env, timeout=10, check=True)
        done = subprocess.run(
            [sys.executable, "-m", "supervisor.cli.main", "run", str(flow)],
            env=dict(env, DESKPILOT_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert eventually(lambda: primary(env), timeout=10) == selected
    finally:
        second.terminate()
        second.wait(10)


def primary(env: dict[str, str]) -> str:
    done = subprocess.run(
        ["xsel", "--primary", "--output"], env=env, capture_output=True, text=True, timeout=10
    )
    return done.stdout


def ocr_finds(word: str) -> bool:
    from automation.recording.anchors import ocr_words
    from automation.recording.frames import grab_screen

    return any(found == word for found, _, _ in ocr_words(grab_screen().image))
