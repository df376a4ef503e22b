"""A desktop run already running when the screen locks holds: no input reaches the lock screen.

A real daemon with real worker processes (the fork server, and fresh
interpreters with ``DESKPILOT_WORKER_LAUNCHER=exec``: both dispatch paths),
real Xvfb, a real xterm from Debian, and the real ``SessionWatch`` on a
private session bus where a real D-Bus service answers and signals as
``org.freedesktop.ScreenSaver`` (``tests/helpers/fake_screensaver.py``; only
the lock behind it is a file: these machines have no screen locker).  The
fake lock does not stop X input, so anything Deskpilot sent while "locked"
would show up in the terminal: the tests watch for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from automation.blocks import desktop
from automation.blocks.desktop.windows import WindowInfo
from automation.blocks.registry import BlockRegistry
from automation.engine.events import Event, RunStatus
from supervisor.store.records import EventRecord
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.apps import started
from tests.integration.triggers.harness import DaemonThread, write_workflow

pytestmark = pytest.mark.timeout(90)

TYPING = """\
inputs:
  window: {type: integer}
  text: {type: string}
  more: {type: string}
  out: {type: string}
nodes:
  focus:
    block: window.focus
    with: {window_id: "{{ inputs.window }}"}
  type:
    block: keyboard.type
    with: {text: "{{ inputs.text }}", interval: 0.03}
    timeout: 6s
  more:
    block: keyboard.type
    with:
      text: "{{ inputs.more }}"
      method: xdotool
      expect: {file: {path: "{{ inputs.out }}", contains: "{{ inputs.more }}"}}
links:
  - focus -> type
  - type -> more
"""
#: 100 characters, each one key: about 3 s of typing.
TEXT = "".join(f"{i:02d}abcdefgh" for i in range(10))
#: Typed by one ``xdotool type`` (40 ms a key): a step that cannot stop half-way.
MORE = "".join(f"<{i}>xyz" for i in range(10))
#: Seconds the screen stays locked: longer than the worker's lease (heartbeats must go on)
#: and, with the typing, than the step's timeout (its clock must stop).
LOCKED_FOR = 2.5


def _registry() -> BlockRegistry:
    registry = BlockRegistry.with_builtins(plugins=False)
    if "keyboard.type" not in registry:
        registry.register_module(desktop)
    return registry


def _focus_pointer(window: WindowInfo) -> None:
    """Without a window manager keys follow the pointer once focus reverts: keep it on."""
    from automation.blocks.desktop.display import gui

    x, y = window.box.center
    gui().moveTo(x, y)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _holds(events: list[EventRecord], kind: str) -> list[EventRecord]:
    return [e for e in events if (e.data or {}).get("hold") == kind]


def _steady(measure: Callable[[], int], seconds: float) -> list[int]:
    """``measure()`` sampled every 20 ms for ``seconds``: an observation, not a wait."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(measure())
        time.sleep(0.02)
    return samples


def test_a_running_run_holds_its_typing_while_locked_and_finishes_it_once_unlocked(
    xvfb_display: XDisplay, screensaver: Path, tmp_path: Path
) -> None:
    out = tmp_path / "typed.txt"
    # raw terminal: cat gets (and writes) every key as it arrives, not a line at a time
    shell = f"stty -icanon -echo; exec cat > '{out}'"
    command = ["xterm", "-T", "locked-xterm", "-e", "sh", "-c", shell]
    flow = write_workflow(tmp_path / "workflows", "locked-typing", TYPING)
    with started(xvfb_display, command, "locked-xterm", tmp_path / "xterm.log") as app:
        _focus_pointer(app.window)
        daemon = DaemonThread(tmp_path, _registry(), triggers=False).start()
        try:
            supervisor, store = daemon.parts.supervisor, daemon.parts.store
            run_id = daemon.call(
                lambda: supervisor.submit(
                    supervisor.load(flow),
                    {"window": app.window.id, "text": TEXT, "more": MORE, "out": str(out)},
                )
            )
            eventually(lambda: _size(out) >= 15, timeout=20)
            locked_at = _size(out)
            screensaver.write_text("locked")  # ActiveChanged(true) on the bus
            held = eventually(lambda: _holds(store.events(run_id), "held"), timeout=10)
            at_hold = _size(out)
            # while locked, nothing more arrives: keys already in the X server and the pty
            # land within moments, then the count must stay put for the rest of the lock
            samples = _steady(lambda: _size(out), LOCKED_FOR)
            settled = samples[len(samples) // 5 :]
            screensaver.write_text("")  # unlocked
            # locked again while xdotool types, which nothing can pause: the step is cut
            eventually(lambda: _size(out) >= len(TEXT) + 5, timeout=20)
            screensaver.write_text("locked")
            eventually(lambda: len(_holds(store.events(run_id), "held")) == 2, timeout=10)
            screensaver.write_text("")
            eventually(lambda: store.get_run(run_id).status is RunStatus.SUCCEEDED, timeout=20)
            events = store.events(run_id)
            steps = store.steps(run_id)
        finally:
            daemon.stop()
        eventually(lambda: out.read_text(encoding="utf-8") == TEXT + MORE, timeout=10)

    assert len(set(settled)) == 1, f"keys arrived while the screen was locked: {samples}"
    assert settled[0] < len(TEXT), "the typing was over before the lock: nothing was held"
    # the keys sent between the lock and the worker hearing of it (a signal and a pipe away)
    assert at_hold - locked_at <= 5, (locked_at, at_hold)
    [held] = held
    assert (held.message or "").startswith("held: the screen is locked (org.freedesktop.Scr")
    assert "(since 20" in (held.message or "") and "inside step 2" in (held.message or "")
    released = _holds(events, "released")
    assert released[0].data["held_seconds"] >= LOCKED_FOR
    # held, not failed: one attempt of the typing step, and it finished exactly once
    typing = [s for s in steps if s.node_id == "type"]
    assert [(s.attempt, str(s.status)) for s in typing] == [(1, "succeeded")], typing
    # the step the lock caught mid-way: cut, held until the unlock, then its postcondition
    # (the file holds the text: the fake lock let the keys through) says it took effect
    more = [(s.attempt, str(s.status)) for s in steps if s.node_id == "more"]
    assert more == [(1, "failed"), (2, "succeeded")], more
    assert "before step 3" in (_holds(events, "held")[1].message or "")
    [settled] = [e for e in events if "resume_check" in (e.data or {})]
    assert (settled.message or "").startswith(
        "step 3 was in flight when the session became unusable (the screen is locked ("
    )
    assert "postcondition held: not repeated" in (settled.message or ""), settled.message


MOVING = """\
limits: {max_duration: 5s}
nodes:
  start:
    block: mouse.move
    with: {x: 10, y: 10}
  move:
    block: mouse.move
    with: {x: 1000, y: 1000, duration: 2}
links:
  - start -> move
"""


def test_a_run_held_longer_than_its_time_limit_goes_on_after_the_unlock(
    xvfb_display: XDisplay, screensaver: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold is not the run's time: locked past its 5 s limit (the workflow's, and the
    supervisor's for the run), the run goes on at the unlock and finishes its move."""
    from automation.blocks.desktop.display import gui

    monkeypatch.setenv("DESKPILOT_WORKER_LAUNCHER", "exec")  # fresh interpreters, no fork
    flow = write_workflow(tmp_path / "workflows", "locked-move", MOVING)
    daemon = DaemonThread(tmp_path, _registry(), triggers=False).start()
    try:
        supervisor, store = daemon.parts.supervisor, daemon.parts.store
        run_id = daemon.call(lambda: supervisor.submit(supervisor.load(flow), deadline_seconds=5.0))

        def moving() -> bool:
            under_way = any(s.node_id == "move" for s in store.steps(run_id))
            return under_way and 100 < gui().position()[0] < 900

        eventually(moving, timeout=20)
        screensaver.write_text("locked")
        eventually(lambda: _holds(store.events(run_id), "held"), timeout=10)
        # held past the limit: the run's time ran out twice over if the hold counted
        samples = _steady(lambda: int(gui().position()[0]), 5.5)
        assert store.get_run(run_id).status is RunStatus.RUNNING
        screensaver.write_text("")
        eventually(lambda: store.get_run(run_id).status.terminal, timeout=20)
        record = store.get_run(run_id)
        events = store.events(run_id)
        steps = store.steps(run_id)
    finally:
        daemon.stop()
    settled = samples[len(samples) // 5 :]
    assert len(set(settled)) == 1, f"the pointer moved while the screen was locked: {samples}"
    assert record.status is RunStatus.SUCCEEDED, [(s.node_id, s.error) for s in steps]
    assert gui().position() == (1000, 1000)
    assert not any("killed" in (e.message or "") for e in events), [e.message for e in events]
    [released] = _holds(events, "released")
    assert released.data is not None and released.data["held_seconds"] >= 5.5


GLIDE = """\
nodes:
  start:
    block: mouse.move
    with: {x: 10, y: 10}
  move:
    block: mouse.move
    with: {x: 1000, y: 1000, duration: 2}
links:
  - start -> move
"""


def test_deskpilot_run_in_its_own_process_holds_too(
    xvfb_display: XDisplay, screensaver: Path, tmp_path: Path
) -> None:
    """``deskpilot run`` has no supervisor: it watches the session on a thread of its own."""
    from supervisor.local import LocalRun, run_file
    from supervisor.paths import DeskpilotPaths

    flow = write_workflow(tmp_path / "workflows", "local-glide", GLIDE)
    events: list[Event] = []
    done: list[LocalRun] = []

    def run() -> None:
        done.append(
            run_file(
                flow,
                {},
                paths=DeskpilotPaths.under(tmp_path),
                registry=_registry(),
                on_committed=events.extend,
            )
        )

    pointer = _Pointer()  # its own X connection: the run's thread uses pyautogui's
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        eventually(lambda: 100 < pointer.x() < 900, timeout=20)  # under way
        screensaver.write_text("locked")
        eventually(lambda: [e for e in list(events) if _hold_of(e) == "held"], timeout=10)
        samples = _steady(pointer.x, 1.0)
        screensaver.write_text("")
    finally:
        runner.join(30)
    try:
        assert pointer.x() == 1000
    finally:
        pointer.conn.close()
    [local] = done
    assert local.result.ok, local.result.error
    settled = samples[len(samples) // 5 :]
    assert len(set(settled)) == 1, f"the pointer moved while the screen was locked: {samples}"
    released = [e for e in events if _hold_of(e) == "released"]
    assert released and released[0].data["held_seconds"] >= 1.0  # type: ignore[attr-defined]


class _Pointer:
    """Where the pointer is, read on an X connection of the test's own."""

    def __init__(self) -> None:
        from Xlib import display  # type: ignore[import-untyped]

        self.conn = display.Display()

    def x(self) -> int:
        return int(self.conn.screen().root.query_pointer().root_x)


def _hold_of(event: Event) -> object:
    return getattr(event, "data", {}).get("hold")
