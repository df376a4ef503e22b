"""Mouse and keyboard blocks: real input through pyautogui and XTEST.

Coordinates are virtual-desktop pixels: (0, 0) is the top-left corner of the
bounding box of all monitors, as mss and the X server see it.

How ``keyboard.type`` sends text (by the focused window, a checked paste,
key events with remapped keys for non-ASCII) is in ``text_entry.py``.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.desktop.display import CLICK_GAP, Box, gui
from automation.blocks.desktop.expect import ActionInput
from automation.blocks.desktop.focus import AimedInput, aim
from automation.errors import BlockError, BlockInputError

Button = Literal["left", "right", "middle"]


def check_key(ctx: BlockContext, block_id: str, key: str) -> str:
    """The key name pyautogui knows, or a non-retryable error naming close ones."""
    name = key.lower()
    known: list[str] = list(gui().KEYBOARD_KEYS)
    if name in known or len(key) == 1:
        return name if len(key) != 1 else key
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise BlockInputError(f"node '{ctx.node_id}' ({block_id}): unknown key {key!r}{hint}")


def sends_nothing(key: str) -> bool:
    """Whether pyautogui would drop ``key`` without a word.

    On X11 pyautogui presses keys through a table made when it was imported: a
    key missing from it (é, € on a US map) or bound to no keycode (a media key
    the server's map lacks) is skipped, and the step would succeed having sent
    nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    mapping = getattr(getattr(gui(), "platformModule", None), "keyboardMapping", None)
    return isinstance(mapping, dict) and not mapping.get(key)


def unsendable(ctx: BlockContext, block_id: str, key: str) -> BlockError:
    hint = "; type characters with keyboard.type" if len(key) == 1 else ""
    return BlockError(
        f"node '{ctx.node_id}' ({block_id}): the key {key!r} is not on this display's "
        f"keyboard map, so pressing it would send nothing{hint}",
        retryable=False,
    )


class PositionOutput(BlockOutput):
    x: int = Field(description="pointer x after the step, virtual-desktop pixels")
    y: int = Field(description="pointer y after the step, virtual-desktop pixels")


def _position() -> PositionOutput:
    x, y = gui().position()
    return PositionOutput(x=int(x), y=int(y))


# -- mouse --------------------------------------------------------------------------------


class MoveInput(AimedInput):
    x: int = Field(description="target x (virtual-desktop pixels, or offset if relative)")
    y: int = Field(description="target y (virtual-desktop pixels, or offset if relative)")
    duration: float = Field(default=0.0, ge=0, le=60, description="seconds the movement takes")
    relative: bool = Field(default=False, description="x and y are offsets from the pointer")


class MouseMove(DesktopBlock[MoveInput]):
    """Move the mouse pointer, instantly or over a duration.

    With ``window:`` the window under the destination is checked as for a click:
    another window there, or a modal dialog open over it, is refused.  Without it
    the move always goes ahead: moving the pointer changes nothing in the window
    under it (a move out of the way, to where a drag starts, next to a dialog),
    and a hover that must have an effect (a tooltip, a menu) says so with
    ``expect:``.  A move never changes the window later keys are held to.
    """

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
        aim(ctx, inputs, evidence, f"moving the pointer to {(x, y)}", (x, y), kind="hover")
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
        ctx.input_pause(duration / steps)  # a locked screen holds the motion here


class ClickInput(AimedInput):
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
            point = (inputs.x, inputs.y)
        else:
            px, py = pg.position()
            point = (int(px), int(py))
        aim(ctx, inputs, evidence, f"a click at {point}", point)
        if inputs.x is not None and inputs.y is not None:
            evidence.candidate = Box(inputs.x - 5, inputs.y - 5, 10, 10)
            pg.moveTo(inputs.x, inputs.y)
        gap = inputs.interval if inputs.clicks > 1 else 0.0
        pg.click(button=inputs.button, clicks=inputs.clicks, interval=gap)
        return _position()


class DragInput(AimedInput):
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
            start = (inputs.from_x, inputs.from_y)
        else:
            px, py = pg.position()
            start = (int(px), int(py))
        aim(ctx, inputs, evidence, f"a drag from {start}", start)
        if inputs.from_x is not None and inputs.from_y is not None:
            pg.moveTo(inputs.from_x, inputs.from_y)
        evidence.candidate = Box(inputs.to_x - 5, inputs.to_y - 5, 10, 10)
        pg.mouseDown(button=inputs.button)
        try:
            _glide(ctx, inputs.to_x, inputs.to_y, inputs.duration)
        finally:
            pg.mouseUp(button=inputs.button)
        return _position()


class ScrollInput(AimedInput):
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
            point = (inputs.x, inputs.y)
        else:
            px, py = pg.position()
            point = (int(px), int(py))
        # a scroll acts on the window under it but does not move the focus there
        aim(ctx, inputs, evidence, f"scrolling at {point}", point, record=False)
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


class TypeInput(AimedInput):
    text: str = Field(description="the text to type; any Unicode")
    interval: float = Field(default=0.0, ge=0, le=2, description="seconds between keystrokes")
    method: Literal["auto", "keys", "clipboard", "xdotool"] = Field(
        default="auto",
        description=(
            "auto: picked by the focused window (key events for terminals and plain "
            "ASCII, a checked paste otherwise, key events if the window ignores the "
            "paste); keys: key events, any Unicode (spare keys are remapped); clipboard: "
            "paste with Ctrl+V and fail if the window does not take it; xdotool: "
            "xdotool type"
        ),
    )
    verify: bool = Field(
        default=False,
        description=(
            "read the focused element's text back through accessibility (AT-SPI) and "
            "fail if the typed text is not there; fails at once where that cannot be read"
        ),
    )


class TypeOutput(BlockOutput):
    typed: int = Field(description="number of characters sent")
    method: str = Field(description="how the text was sent: keys, clipboard or xdotool")
    window: str = Field(description="the window that had the focus: its title and class")
    verified: bool = Field(description="true when the text was read back and matched")


class KeyboardType(DesktopBlock[TypeInput]):
    """Type text into the focused window, by the method that window takes (any Unicode)."""

    id = "keyboard.type"
    title = "Type text"
    Input = TypeInput
    Output = TypeOutput

    def output_when_held(self, inputs: TypeInput, ctx: BlockContext) -> TypeOutput:
        return TypeOutput(
            typed=len(inputs.text),
            method=inputs.method,
            window="(not typed again on resume: its postcondition held)",
            verified=False,
        )

    @classmethod
    def timeout_for(cls, literal: Mapping[str, Any]) -> float | None:
        base = super().timeout_for(literal)
        text, interval = literal.get("text"), literal.get("interval", 0.0)
        if base is None or not isinstance(text, str):
            return base
        if not isinstance(interval, int | float):
            return base + 3600.0
        return base + len(text) * (float(interval) + 0.01)

    def perform(self, inputs: TypeInput, ctx: BlockContext, evidence: Evidence) -> TypeOutput:
        from automation.blocks.desktop import text_entry as typer

        # one X connection for the whole step (the check, the target, the key events);
        # closed on every way out, an error or the deadline's interrupt included
        with typer.connection() as conn:
            aim(ctx, inputs, evidence, "typing", conn=conn)
            target = typer.focused_target(conn)
            checker = typer.TextCheck.prepare(ctx, target) if inputs.verify else None
            method = typer.type_text(
                ctx, inputs.text, inputs.method, inputs.interval, target, conn=conn
            )
            typer.check_still_focused(ctx, target, inputs.text, conn, evidence)
        verified = False
        if checker is not None:
            checker.confirm(ctx, inputs.text)
            verified = True
        return TypeOutput(
            typed=len(inputs.text), method=method, window=target.describe(), verified=verified
        )


class PressInput(AimedInput):
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
        aim(ctx, inputs, evidence, f"pressing {key}")
        pg = gui()
        if sends_nothing(key):
            if len(key) != 1:
                raise unsendable(ctx, self.id, key)
            from automation.blocks.desktop.keys import type_keys

            # a character missing from the map (é): bound to a spare key, as keyboard.type does
            type_keys(key * inputs.presses, interval=inputs.interval, between=ctx.sleep)
            return
        for i in range(inputs.presses):
            if i:
                ctx.input_pause(inputs.interval)  # a locked screen holds the presses here
            pg.press(key)


class HotkeyInput(AimedInput):
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
        for key in keys:
            if sends_nothing(key):
                raise unsendable(ctx, self.id, key)
        aim(ctx, inputs, evidence, f"the hotkey {'+'.join(keys)}")
        gui().hotkey(*keys)


class KeyInput(ActionInput):
    key: str = Field(description="key name (pyautogui names: shift, ctrl, alt, a, ...)")


class KeyDownInput(KeyInput, AimedInput):
    pass


class KeyDown(DesktopBlock[KeyDownInput]):
    """Hold a key down until a keyboard.key_up step releases it."""

    id = "keyboard.key_down"
    title = "Key down"
    Input = KeyDownInput

    def perform(self, inputs: KeyDownInput, ctx: BlockContext, evidence: Evidence) -> None:
        key = check_key(ctx, self.id, inputs.key)
        if sends_nothing(key):
            raise unsendable(ctx, self.id, key)
        aim(ctx, inputs, evidence, f"holding {key} down")
        gui().keyDown(key)


class KeyUp(DesktopBlock[KeyInput]):
    """Release a key held by keyboard.key_down.

    It is never refused, whatever window has the focus: a release that did not
    happen would leave the key held for every later step and for the person at
    the machine, and a release alone does not type anything.
    """

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
