"""Mouse, keyboard and clipboard blocks: real input through pyautogui.

Coordinates are virtual-desktop pixels: (0, 0) is the top-left corner of the
bounding box of all monitors, as mss and the X server see it.

pyautogui's ``write`` silently drops characters that are not on the keyboard
map (anything non-ASCII), so ``keyboard.type`` sends such text another way:
the clipboard and Ctrl+V by default, or ``xdotool type`` on request (X11) for
programs without a paste shortcut.  xdotool remaps a spare key for every
character missing from the keymap, and a toolkit that reads the key before it
processed the remap drops the character (seen with Qt on Xvfb), so the
clipboard is the reliable default.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from typing import Literal

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.desktop.display import CLICK_GAP, Box, gui
from automation.blocks.desktop.expect import ActionInput
from automation.errors import BlockError, BlockInputError

Button = Literal["left", "right", "middle"]
_TYPE_CHUNK = 32
_XDOTOOL_MIN_DELAY_MS = 40


def check_key(ctx: BlockContext, block_id: str, key: str) -> str:
    """The key name pyautogui knows, or a non-retryable error naming close ones."""
    name = key.lower()
    known: list[str] = list(gui().KEYBOARD_KEYS)
    if name in known or len(key) == 1:
        return name if len(key) != 1 else key
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise BlockInputError(f"node '{ctx.node_id}' ({block_id}): unknown key {key!r}{hint}")


class PositionOutput(BlockOutput):
    x: int = Field(description="pointer x after the step, virtual-desktop pixels")
    y: int = Field(description="pointer y after the step, virtual-desktop pixels")


def _position() -> PositionOutput:
    x, y = gui().position()
    return PositionOutput(x=int(x), y=int(y))


# -- mouse --------------------------------------------------------------------------------


class MoveInput(ActionInput):
    x: int = Field(description="target x (virtual-desktop pixels, or offset if relative)")
    y: int = Field(description="target y (virtual-desktop pixels, or offset if relative)")
    duration: float = Field(default=0.0, ge=0, le=60, description="seconds the movement takes")
    relative: bool = Field(default=False, description="x and y are offsets from the pointer")


class MouseMove(DesktopBlock[MoveInput]):
    """Move the mouse pointer, instantly or over a duration."""

    id = "mouse.move"
    title = "Move mouse"
    idempotent = True
    Input = MoveInput
    Output = PositionOutput

    def output_when_held(self, inputs: MoveInput, ctx: BlockContext) -> PositionOutput:
        return _position()

    def perform(self, inputs: MoveInput, ctx: BlockContext, evidence: Evidence) -> PositionOutput:
        pg = gui()
        x, y = inputs.x, inputs.y
        if inputs.relative:
            px, py = pg.position()
            x, y = int(px) + x, int(py) + y
        evidence.candidate = Box(x - 5, y - 5, 10, 10)
        _glide(ctx, x, y, inputs.duration)
        return _position()


def _glide(ctx: BlockContext, x: int, y: int, duration: float) -> None:
    """Move in small steps so the step stays cancellable and apps see motion events."""
    pg = gui()
    if duration <= 0:
        pg.moveTo(x, y)
        return
    sx, sy = pg.position()
    steps = max(2, min(120, int(duration * 60)))
    for i in range(1, steps + 1):
        t = i / steps
        pg.moveTo(round(sx + (x - sx) * t), round(sy + (y - sy) * t))
        ctx.sleep(duration / steps)


class ClickInput(ActionInput):
    x: int | None = Field(default=None, description="where to click; the current position if unset")
    y: int | None = Field(default=None, description="where to click; the current position if unset")
    button: Button = Field(default="left", description="left, right or middle")
    clicks: int = Field(default=1, ge=1, le=3, description="1 = click, 2 = double-click")
    interval: float = Field(
        default=CLICK_GAP,
        ge=0,
        le=5,
        description="seconds between the clicks of a double or triple click",
    )


class MouseClick(DesktopBlock[ClickInput]):
    """Click, double-click, right- or middle-click, at a point or where the pointer is."""

    id = "mouse.click"
    title = "Click"
    Input = ClickInput
    Output = PositionOutput

    def output_when_held(self, inputs: ClickInput, ctx: BlockContext) -> PositionOutput:
        return _position()

    def perform(self, inputs: ClickInput, ctx: BlockContext, evidence: Evidence) -> PositionOutput:
        if (inputs.x is None) != (inputs.y is None):
            raise BlockInputError(
                f"node '{ctx.node_id}' (mouse.click): give both x and y, or neither"
            )
        pg = gui()
        if inputs.x is not None and inputs.y is not None:
            evidence.candidate = Box(inputs.x - 5, inputs.y - 5, 10, 10)
            pg.moveTo(inputs.x, inputs.y)
        gap = inputs.interval if inputs.clicks > 1 else 0.0
        pg.click(button=inputs.button, clicks=inputs.clicks, interval=gap)
        return _position()


class DragInput(ActionInput):
    to_x: int = Field(description="where to release, x")
    to_y: int = Field(description="where to release, y")
    from_x: int | None = Field(default=None, description="where to press; the pointer if unset")
    from_y: int | None = Field(default=None, description="where to press; the pointer if unset")
    button: Button = Field(default="left", description="the button held during the drag")
    duration: float = Field(default=0.3, ge=0.05, le=60, description="seconds the drag takes")


class MouseDrag(DesktopBlock[DragInput]):
    """Press a button, move to a point while holding it, and release."""

    id = "mouse.drag"
    title = "Drag"
    Input = DragInput
    Output = PositionOutput

    def output_when_held(self, inputs: DragInput, ctx: BlockContext) -> PositionOutput:
        return _position()

    def perform(self, inputs: DragInput, ctx: BlockContext, evidence: Evidence) -> PositionOutput:
        pg = gui()
        if (inputs.from_x is None) != (inputs.from_y is None):
            raise BlockInputError(
                f"node '{ctx.node_id}' (mouse.drag): give both from_x and from_y, or neither"
            )
        if inputs.from_x is not None and inputs.from_y is not None:
            pg.moveTo(inputs.from_x, inputs.from_y)
        evidence.candidate = Box(inputs.to_x - 5, inputs.to_y - 5, 10, 10)
        pg.mouseDown(button=inputs.button)
        try:
            _glide(ctx, inputs.to_x, inputs.to_y, inputs.duration)
        finally:
            pg.mouseUp(button=inputs.button)
        return _position()


class ScrollInput(ActionInput):
    clicks: int = Field(description="wheel steps: positive scrolls up (or right), negative down")
    x: int | None = Field(default=None, description="scroll over this point; the pointer if unset")
    y: int | None = Field(default=None, description="scroll over this point; the pointer if unset")
    horizontal: bool = Field(default=False, description="scroll sideways instead")


class MouseScroll(DesktopBlock[ScrollInput]):
    """Turn the mouse wheel over a point."""

    id = "mouse.scroll"
    title = "Scroll"
    Input = ScrollInput
    Output = PositionOutput

    def output_when_held(self, inputs: ScrollInput, ctx: BlockContext) -> PositionOutput:
        return _position()

    def perform(self, inputs: ScrollInput, ctx: BlockContext, evidence: Evidence) -> PositionOutput:
        pg = gui()
        if inputs.x is not None and inputs.y is not None:
            pg.moveTo(inputs.x, inputs.y)
        if inputs.horizontal:
            pg.hscroll(inputs.clicks)
        else:
            pg.scroll(inputs.clicks)
        return _position()


class MousePosition(DesktopBlock[BlockInput]):
    """Where the mouse pointer is."""

    id = "mouse.position"
    title = "Mouse position"
    idempotent = True
    Output = PositionOutput

    def perform(self, inputs: BlockInput, ctx: BlockContext, evidence: Evidence) -> PositionOutput:
        return _position()


# -- keyboard -----------------------------------------------------------------------------


class TypeInput(ActionInput):
    text: str = Field(description="the text to type; any Unicode")
    interval: float = Field(default=0.0, ge=0, le=2, description="seconds between keystrokes")
    method: Literal["auto", "keys", "xdotool", "clipboard"] = Field(
        default="auto",
        description=(
            "auto: key presses for plain ASCII, otherwise the clipboard; clipboard pastes "
            "with Ctrl+V (the clipboard keeps the text); xdotool types Unicode key by key "
            "on X11 for programs that cannot paste (some toolkits drop a character now and then)"
        ),
    )


class TypeOutput(BlockOutput):
    typed: int = Field(description="number of characters sent")
    method: str = Field(description="how the text was sent: keys, xdotool or clipboard")


class KeyboardType(DesktopBlock[TypeInput]):
    """Type text into the focused window, including non-ASCII text."""

    id = "keyboard.type"
    title = "Type text"
    Input = TypeInput
    Output = TypeOutput

    def output_when_held(self, inputs: TypeInput, ctx: BlockContext) -> TypeOutput:
        return TypeOutput(typed=len(inputs.text), method=_method(inputs))

    def perform(self, inputs: TypeInput, ctx: BlockContext, evidence: Evidence) -> TypeOutput:
        method = _method(inputs)
        text = inputs.text
        if method == "keys":
            pg = gui()
            for start in range(0, len(text), _TYPE_CHUNK):
                ctx.check_cancelled()
                pg.write(text[start : start + _TYPE_CHUNK], interval=inputs.interval)
        elif method == "xdotool":
            _xdotool_type(ctx, text, inputs.interval)
        else:
            _paste(ctx, text)
        return TypeOutput(typed=len(text), method=method)


def _method(inputs: TypeInput) -> str:
    if inputs.method == "auto":
        return "keys" if inputs.text.isascii() else "clipboard"
    return inputs.method


def _xdotool() -> str | None:
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY"):
        return shutil.which("xdotool")
    return None


def _xdotool_type(ctx: BlockContext, text: str, interval: float) -> None:
    tool = _xdotool()
    if tool is None:
        raise BlockError(
            "xdotool is not installed; install it or use method: clipboard", retryable=False
        )
    # xdotool types a character missing from the keymap by remapping a spare key
    # first; a toolkit that reads the key before it processed the remap drops it
    # (seen with Qt on Xvfb at xdotool's default 12 ms), so keep a floor
    delay = str(max(_XDOTOOL_MIN_DELAY_MS, int(interval * 1000)))
    timeout = ctx.remaining(60.0)
    try:
        done = subprocess.run(
            [tool, "type", "--delay", delay, "--", text],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BlockError("xdotool did not finish typing in time") from None
    if done.returncode != 0:
        raise BlockError(f"xdotool type failed: {done.stderr.decode(errors='replace').strip()}")


def _paste(ctx: BlockContext, text: str) -> None:
    from automation.blocks.desktop.clipboard import write_clipboard

    write_clipboard(text)
    ctx.check_cancelled()
    modifier = "command" if sys.platform == "darwin" else "ctrl"
    gui().hotkey(modifier, "v")


class PressInput(ActionInput):
    key: str = Field(description="key name: enter, tab, esc, f5, a, ... (pyautogui names)")
    presses: int = Field(default=1, ge=1, le=100, description="how many times")
    interval: float = Field(default=0.0, ge=0, le=5, description="seconds between presses")


class KeyboardPress(DesktopBlock[PressInput]):
    """Press and release one key, once or several times."""

    id = "keyboard.press"
    title = "Press key"
    Input = PressInput

    def perform(self, inputs: PressInput, ctx: BlockContext, evidence: Evidence) -> None:
        key = check_key(ctx, self.id, inputs.key)
        pg = gui()
        for i in range(inputs.presses):
            if i and inputs.interval:
                ctx.sleep(inputs.interval)
            pg.press(key)


class HotkeyInput(ActionInput):
    keys: list[str] = Field(
        min_length=1, description="keys pressed in order and released in reverse: [ctrl, shift, s]"
    )


class KeyboardHotkey(DesktopBlock[HotkeyInput]):
    """Press a key chord such as Ctrl+A or Ctrl+Shift+S."""

    id = "keyboard.hotkey"
    title = "Hotkey"
    Input = HotkeyInput

    def perform(self, inputs: HotkeyInput, ctx: BlockContext, evidence: Evidence) -> None:
        keys = [check_key(ctx, self.id, key) for key in inputs.keys]
        gui().hotkey(*keys)


class KeyInput(ActionInput):
    key: str = Field(description="key name (pyautogui names: shift, ctrl, alt, a, ...)")


class KeyDown(DesktopBlock[KeyInput]):
    """Hold a key down until a keyboard.key_up step releases it."""

    id = "keyboard.key_down"
    title = "Key down"
    Input = KeyInput

    def perform(self, inputs: KeyInput, ctx: BlockContext, evidence: Evidence) -> None:
        gui().keyDown(check_key(ctx, self.id, inputs.key))


class KeyUp(DesktopBlock[KeyInput]):
    """Release a key held by keyboard.key_down."""

    id = "keyboard.key_up"
    title = "Key up"
    idempotent = True
    Input = KeyInput

    def perform(self, inputs: KeyInput, ctx: BlockContext, evidence: Evidence) -> None:
        gui().keyUp(check_key(ctx, self.id, inputs.key))


BLOCKS = (
    MouseMove,
    MouseClick,
    MouseDrag,
    MouseScroll,
    MousePosition,
    KeyboardType,
    KeyboardPress,
    KeyboardHotkey,
    KeyDown,
    KeyUp,
)
