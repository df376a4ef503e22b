"""What a recording captured: input events and window snapshots, in arrival order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WindowRef:
    """A top-level window as the user saw it when an event went to it."""

    id: int
    title: str
    pid: int | None


@dataclass(frozen=True)
class KeyEvent:
    """A key press or release.

    ``keysym`` is the X keysym name of the key without modifiers (``a``,
    ``Return``, ``Control_L``); ``char`` and ``shifted_char`` the text it
    types without and with Shift ("" when it types nothing).
    """

    time: float
    pressed: bool
    keycode: int
    keysym: str
    char: str
    shifted_char: str
    window: WindowRef | None


@dataclass(frozen=True)
class ButtonEvent:
    """A mouse button press or release (buttons 4-7 are wheel steps), in root coordinates."""

    time: float
    pressed: bool
    button: int
    x: int
    y: int
    window: WindowRef | None


@dataclass(frozen=True)
class WindowsSeen:
    """The visible top-level windows at ``time``: taken whenever the set changed."""

    time: float
    windows: tuple[WindowRef, ...]


InputEvent = KeyEvent | ButtonEvent
Event = KeyEvent | ButtonEvent | WindowsSeen
