"""Hotkey triggers on a real X server: xdotool presses the chord, a run starts.

xdotool sends XTEST key events, which the X server routes through passive
grabs exactly like a physical keyboard's, so the daemon's real listener sees
them.  The X server is Xvfb; nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from automation.hotkeys import parse_hotkey
from supervisor.triggers.hotkeys import HotkeyBindings, HotkeyListener, HotkeyTaken
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay, start_xvfb
from tests.integration.triggers.harness import PASS_NODES, DaemonThread, started, write_workflow

CHORD = "ctrl+alt+r"


def press(display: XDisplay, *keys: str) -> None:
    subprocess.run(["xdotool", "key", *keys], env=display.env(), check=True, timeout=10)


def taken_by_daemon(chord: str) -> bool:
    """True once a second grab of ``chord`` is refused: the daemon's grab is in place."""
    probe = HotkeyListener(lambda _chord: None)
    probe.start()
    try:
        probe.grab(parse_hotkey(chord)).result(5)
    except HotkeyTaken:
        return True
    finally:
        probe.stop()
    return False


@pytest.fixture
def daemon(
    tmp_path: Path, registry: BlockRegistry, xvfb_display: XDisplay
) -> Iterator[DaemonThread]:
    write_workflow(
        tmp_path / "workflows",
        "hot",
        "inputs:\n  who: {type: string, default: nobody}\n"
        + PASS_NODES
        + "triggers:\n  - {type: hotkey, keys: 'Alt+Control+R', inputs: {who: keys}}\n",
    )
    running = DaemonThread(tmp_path, registry).start()
    try:
        yield running
    finally:
        running.stop()


def test_pressing_the_chord_starts_a_run_that_records_it(
    daemon: DaemonThread, xvfb_display: XDisplay
) -> None:
    info = daemon.trigger_info("hot:0")
    assert info["type"] == "hotkey" and info["spec"] == f"hotkey {CHORD}"
    eventually(lambda: taken_by_daemon(CHORD), timeout=10, interval=0.05)
    assert daemon.trigger_info("hot:0")["last_error"] is None

    press(xvfb_display, "ctrl+alt+r")
    runs = eventually(lambda: started(daemon.runs("hot")), timeout=20)
    assert len(runs) == 1
    assert runs[0].trigger == f"hotkey:{CHORD}"
    assert runs[0].inputs == {"who": "keys"}
    # CapsLock and NumLock on: the same chord still fires (their variants are grabbed too)
    press(xvfb_display, "Caps_Lock", "Num_Lock", "ctrl+alt+r", "Num_Lock", "Caps_Lock")
    eventually(lambda: len(started(daemon.runs("hot"))) == 2, timeout=20)
    assert daemon.trigger_info("hot:0")["last_fire_at"] is not None

    # paused, it lets go of the keys and does not fire; resumed, it grabs them again
    assert daemon.call(daemon.triggers.pause, "hot:0")
    eventually(lambda: not taken_by_daemon(CHORD), timeout=10, interval=0.05)
    press(xvfb_display, "ctrl+alt+r")
    assert daemon.call(daemon.triggers.resume, "hot:0")
    eventually(lambda: taken_by_daemon(CHORD), timeout=10, interval=0.05)
    press(xvfb_display, "ctrl+alt+r")
    eventually(lambda: len(started(daemon.runs("hot"))) == 3, timeout=20)
    assert len(started(daemon.runs("hot"))) == 3  # not 4: the press while paused did nothing


def test_a_taken_chord_is_a_clear_error_and_a_shared_one_waits_for_its_holder(
    tmp_path: Path, registry: BlockRegistry, xvfb_display: XDisplay
) -> None:
    folder = tmp_path / "workflows"
    write_workflow(
        folder, "clash", PASS_NODES + "triggers:\n  - {type: hotkey, keys: ctrl+alt+t}\n"
    )
    write_workflow(
        folder, "first", PASS_NODES + "triggers:\n  - {type: hotkey, keys: ctrl+alt+y}\n"
    )
    write_workflow(
        folder, "second", PASS_NODES + "triggers:\n  - {type: hotkey, keys: ctrl+alt+y}\n"
    )
    other = HotkeyListener(lambda _chord: None)  # another program holding ctrl+alt+t
    other.start()
    try:
        other.grab(parse_hotkey("ctrl+alt+t")).result(5)
        running = DaemonThread(tmp_path, registry).start()
        try:
            error = eventually(lambda: running.trigger_info("clash:0")["last_error"], timeout=10)
            assert "hotkey ctrl+alt+t is already taken by another program" in error
            assert "BadAccess" in error and "choose other keys" in error

            error = running.trigger_info("second:0")["last_error"]
            assert "already used by trigger first:0" in error
            assert running.call(running.triggers.pause, "first:0")
            eventually(lambda: running.trigger_info("second:0")["last_error"] is None, timeout=10)
            eventually(lambda: taken_by_daemon("ctrl+alt+y"), timeout=10, interval=0.05)
            press(xvfb_display, "ctrl+alt+y")
            eventually(lambda: started(running.runs("second")), timeout=20)
            assert started(running.runs("first")) == []
        finally:
            running.stop()
    finally:
        other.stop()


def test_without_a_display_a_binding_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    problems: list[tuple[str, str | None]] = []

    async def bind() -> str | None:
        bindings = HotkeyBindings(lambda _key: None, lambda key, p: problems.append((key, p)))
        try:
            return bindings.bind("wf:0", parse_hotkey("ctrl+alt+n"))
        finally:
            await bindings.close()

    problem = asyncio.run(bind())
    assert problem is not None
    assert "DISPLAY is not set" in problem and "X11" in problem


def test_a_display_that_goes_away_is_reported_on_the_trigger(tmp_path: Path) -> None:
    display = start_xvfb(xauthority_dir=tmp_path)
    problems: list[tuple[str, str | None]] = []

    async def scenario() -> None:
        bindings = HotkeyBindings(lambda _key: None, lambda key, p: problems.append((key, p)))
        listener = HotkeyListener  # the real one, on the private display
        bindings.listener_factory = lambda pressed, on_lost: listener(
            pressed, display.name, on_lost=on_lost
        )
        try:
            assert bindings.bind("wf:0", parse_hotkey("ctrl+alt+k")) is None
            await wait_for(lambda: ("wf:0", None) in problems)
            display.stop()  # the X server goes away under the listener
            await wait_for(lambda: any(p and "lost its X display" in p for _, p in problems))
            assert bindings.holder("ctrl+alt+k") is None
        finally:
            await bindings.close()

    try:
        asyncio.run(scenario())
    finally:
        display.stop()


async def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
