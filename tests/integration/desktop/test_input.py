"""Mouse, keyboard and clipboard blocks drive a real Qt window on Xvfb through workflows."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.blocks.desktop import abort, resume
from automation.blocks.desktop.clipboard import ClipboardGet, ClipboardSet
from automation.blocks.desktop.input import KeyboardPress, MouseMove, MousePosition
from automation.errors import BlockError, BlockInputError
from automation.testing import run_block
from tests.integration.desktop.conftest import Flows

TYPE_FLOW = """
deskpilot: 1
name: type-into-window
inputs:
  x: {type: integer}
  y: {type: integer}
  text: {type: string}
nodes:
  focus:
    block: mouse.click
    with: {x: "{{ inputs.x }}", y: "{{ inputs.y }}"}
  first:
    block: keyboard.type
    with: {text: "draft text"}
  select_all:
    block: keyboard.hotkey
    with: {keys: [ctrl, a]}
  replace:
    block: keyboard.type
    with: {text: "{{ inputs.text }}"}
links:
  - focus -> first
  - first -> select_all
  - select_all -> replace
outputs:
  method: "{{ nodes.replace.method }}"
"""


def test_click_type_hotkey_and_non_ascii_text_reach_the_window(open_window, flows: Flows) -> None:
    window = open_window()
    x, y = window.center("name")
    result = flows.run(TYPE_FLOW, {"x": x, "y": y, "text": "héllo wörld ✓"})
    assert result.ok, result.error
    # ctrl+a selected the draft, so the final text is only the non-ASCII line
    window.wait_for(lambda s: s["text"] == "héllo wörld ✓")
    assert result.outputs["method"] == "clipboard"


def test_clipboard_method_pastes_unicode(open_window, tmp_path: Path) -> None:
    window = open_window()
    x, y = window.center("name")
    from automation.blocks.desktop.input import KeyboardType, MouseClick

    run_block(MouseClick, {"x": x, "y": y}, workflow_dir=tmp_path)
    run_block(KeyboardType, {"text": "naïve café ✓", "method": "clipboard"}, workflow_dir=tmp_path)
    window.wait_for(lambda s: s["text"] == "naïve café ✓")
    assert run_block(ClipboardGet, {}, workflow_dir=tmp_path).last["text"] == "naïve café ✓"


CLICKS_FLOW = """
deskpilot: 1
name: clicks
inputs:
  bx: {type: integer}
  by: {type: integer}
  px: {type: integer}
  py: {type: integer}
nodes:
  save:
    block: mouse.click
    with: {x: "{{ inputs.bx }}", y: "{{ inputs.by }}"}
  save_again:
    block: mouse.click
    with: {x: "{{ inputs.bx }}", y: "{{ inputs.by }}"}
  right:
    block: mouse.click
    with: {x: "{{ inputs.px }}", y: "{{ inputs.py }}", button: right}
  double:
    block: mouse.click
    with: {x: "{{ inputs.px }}", y: "{{ inputs.py }}", clicks: 2}
links:
  - save -> save_again
  - save_again -> right
  - right -> double
"""


def test_clicks_right_click_and_double_click(open_window, flows: Flows) -> None:
    window = open_window()
    bx, by = window.center("save")
    px, py = window.center("pad")
    result = flows.run(CLICKS_FLOW, {"bx": bx, "by": by, "px": px, "py": py})
    assert result.ok, result.error
    state = window.wait_for(lambda s: s.get("pad_doubles") == 1)
    assert state["save_clicks"] == 2
    # the double-click's first press came after the right-click
    assert state["pad_button"] == "left"


def test_double_clicks_in_a_row_each_register_as_a_double_click(
    open_window, tmp_path: Path
) -> None:
    """Clicks sent back to back can share an X timestamp, which Qt counts as two singles."""
    from automation.blocks.desktop.input import MouseClick

    window = open_window()
    px, py = window.center("pad")
    for n in range(1, 21):
        run_block(MouseClick, {"x": px, "y": py, "clicks": 2}, workflow_dir=tmp_path)
        # a press that makes a double-click is delivered as the double-click alone
        window.wait_for(lambda s, n=n: s.get("pad_presses", 0) + s.get("pad_doubles", 0) == 2 * n)
    assert window.state()["pad_doubles"] == 20


def test_right_click_is_reported_as_right(open_window, tmp_path: Path) -> None:
    from automation.blocks.desktop.input import MouseClick

    window = open_window()
    px, py = window.center("pad")
    run_block(MouseClick, {"x": px, "y": py, "button": "middle"}, workflow_dir=tmp_path)
    window.wait_for(lambda s: s.get("pad_button") == "middle")
    run_block(MouseClick, {"x": px, "y": py, "button": "right"}, workflow_dir=tmp_path)
    window.wait_for(lambda s: s.get("pad_button") == "right")


DRAG_SCROLL_FLOW = """
deskpilot: 1
name: drag-and-scroll
inputs:
  sx: {type: integer}
  sy: {type: integer}
  ex: {type: integer}
  ey: {type: integer}
  ax: {type: integer}
  ay: {type: integer}
nodes:
  drag:
    block: mouse.drag
    with: {from_x: "{{ inputs.sx }}", from_y: "{{ inputs.sy }}", to_x: "{{ inputs.ex }}", to_y: "{{ inputs.ey }}", duration: 0.2}
  scroll:
    block: mouse.scroll
    with: {x: "{{ inputs.ax }}", y: "{{ inputs.ay }}", clicks: -5}
links:
  - drag -> scroll
outputs:
  end: "{{ [nodes.drag.x, nodes.drag.y] }}"
"""


def test_drag_and_scroll(open_window, flows: Flows) -> None:
    window = open_window()
    x, y, w, h = window.box("drag")
    start = (x + 20, y + 20)
    end = (x + w - 30, y + h - 20)
    ax, ay = window.center("scroll")
    result = flows.run(
        DRAG_SCROLL_FLOW,
        {"sx": start[0], "sy": start[1], "ex": end[0], "ey": end[1], "ax": ax, "ay": ay},
    )
    assert result.ok, result.error
    state = window.wait_for(lambda s: s.get("drag") and s.get("scroll", 0) > 0)
    assert state["drag"]["start"] == list(start)
    assert state["drag"]["end"] == list(end)
    assert state["drag"]["moves"] > 3  # the app saw a real drag, not a teleport
    assert result.outputs["end"] == list(end)


def test_press_key_moves_the_list_selection(open_window, tmp_path: Path) -> None:
    from automation.blocks.desktop.input import MouseClick

    window = open_window()
    x, y, _, _ = window.box("list")
    run_block(MouseClick, {"x": x + 30, "y": y + 10}, workflow_dir=tmp_path)
    window.wait_for(lambda s: s["current_item"] == "item 00")
    run_block(KeyboardPress, {"key": "down", "presses": 3}, workflow_dir=tmp_path)
    window.wait_for(lambda s: s["current_item"] == "item 03")


def test_a_key_missing_from_the_map_is_pressed_or_refused_never_dropped(
    open_window, tmp_path: Path
) -> None:
    """pyautogui skips a key its table lacks without a word: é is pressed through a spare
    keycode instead, and a chord or a held key with it fails before sending anything."""
    from automation.blocks.desktop.input import KeyboardHotkey, KeyDown, MouseClick

    window = open_window()
    x, y = window.center("name")
    run_block(MouseClick, {"x": x, "y": y}, workflow_dir=tmp_path)
    run_block(KeyboardPress, {"key": "é", "presses": 2}, workflow_dir=tmp_path)
    window.wait_for(lambda s: s["text"] == "éé")
    for block, inputs in ((KeyboardHotkey, {"keys": ["ctrl", "é"]}), (KeyDown, {"key": "é"})):
        with pytest.raises(BlockError, match="'é' is not on this display's keyboard map"):
            run_block(block, inputs, workflow_dir=tmp_path)
    assert window.state()["text"] == "éé"


def test_unknown_key_is_a_clear_input_error(xvfb_display, tmp_path: Path) -> None:
    with pytest.raises(BlockInputError, match="unknown key 'entr'.*'enter'"):
        run_block(KeyboardPress, {"key": "entr"}, workflow_dir=tmp_path)


def test_move_and_position_and_clipboard_round_trip(xvfb_display, tmp_path: Path) -> None:
    run_block(MouseMove, {"x": 300, "y": 200, "duration": 0.05}, workflow_dir=tmp_path)
    assert run_block(MousePosition, {}, workflow_dir=tmp_path).last == {"x": 300, "y": 200}
    run_block(MouseMove, {"x": -50, "y": 10, "relative": True}, workflow_dir=tmp_path)
    assert run_block(MousePosition, {}, workflow_dir=tmp_path).last == {"x": 250, "y": 210}
    run_block(ClipboardSet, {"text": "kopie ✓"}, workflow_dir=tmp_path)
    assert run_block(ClipboardGet, {}, workflow_dir=tmp_path).last["text"] == "kopie ✓"


def test_failsafe_corner_is_a_non_retryable_error(xvfb_display, tmp_path: Path) -> None:
    run_block(MouseMove, {"x": 400, "y": 400}, workflow_dir=tmp_path)
    with pytest.raises(BlockError, match="fail-safe") as caught:
        # arriving in the corner is fine; the next action from there trips the fail-safe
        run_block(MouseMove, {"x": 0, "y": 0}, workflow_dir=tmp_path)
        run_block(MouseMove, {"x": 500, "y": 500}, workflow_dir=tmp_path)
    assert caught.value.retryable is False
    import pyautogui  # type: ignore[import-untyped]

    pyautogui.FAILSAFE = False
    try:
        pyautogui.moveTo(400, 400)
    finally:
        pyautogui.FAILSAFE = True


def test_abort_and_pause_flag_stop_desktop_steps(
    xvfb_display, tmp_path: Path, deskpilot_home: Path
) -> None:
    abort()
    try:
        with pytest.raises(BlockError, match="aborted") as caught:
            run_block(MousePosition, {}, workflow_dir=tmp_path)
        assert caught.value.retryable is False
    finally:
        resume()
    assert run_block(MousePosition, {}, workflow_dir=tmp_path).last
    pause = deskpilot_home / "state" / "desktop.pause"
    pause.parent.mkdir(parents=True)
    pause.touch()
    from automation.clock import SYSTEM_CLOCK
    from automation.errors import StepTimeout

    with pytest.raises(StepTimeout):
        run_block(MousePosition, {}, workflow_dir=tmp_path, deadline=SYSTEM_CLOCK.monotonic() + 0.3)
    pause.unlink()
    assert run_block(MousePosition, {}, workflow_dir=tmp_path).last


def test_keys_method_types_unicode_into_qt_without_dropping_characters(
    open_window, tmp_path: Path
) -> None:
    """Spare keycodes stay bound while Qt reads its key map late (xdotool dropped these)."""
    from automation.blocks.desktop.input import KeyboardHotkey, KeyboardType, MouseClick

    window = open_window()
    x, y = window.center("name")
    run_block(MouseClick, {"x": x, "y": y}, workflow_dir=tmp_path)
    for run in range(3):
        text = f"{run} héllo wörld ✓ 日本 Ωß"
        run_block(KeyboardHotkey, {"keys": ["ctrl", "a"]}, workflow_dir=tmp_path)
        typed = run_block(KeyboardType, {"text": text, "method": "keys"}, workflow_dir=tmp_path)
        assert typed.last["method"] == "keys"
        window.wait_for(lambda s, text=text: s["text"] == text)
