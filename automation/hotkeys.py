"""Key chords as people write them (``ctrl+alt+r``), checked and put in one canonical form.

A hotkey trigger names a chord in the workflow file; the supervisor grabs it
on the X server.  This module only reads and checks the text (no X here, so
the model can validate a file without a display):

* modifiers: ``ctrl`` (``control``), ``alt``, ``shift``, ``super`` (``win``,
  ``meta``, ``cmd``), in any order, each at most once;
* one key: a letter, a digit, ``f1``-``f24``, or a named key (``space``,
  ``enter``, ``pageup``, ``minus``...; see ``KEY_NAMES``);
* at least one of ctrl, alt or super, unless the key is a function key,
  ``pause``, ``print`` or ``scroll_lock``: a grab of a plain letter (or
  shift+letter) would take that letter away from every program;
* never Ctrl+Alt+F1-F12: the X server turns them into console switches
  before any client sees them, so such a trigger could never fire.

``Hotkey.keysym`` is the X keysym name the listener turns into a keycode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Modifier spellings -> canonical name, in the canonical order.
MODIFIERS: dict[str, str] = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "alt": "alt",
    "shift": "shift",
    "super": "super",
    "win": "super",
    "meta": "super",
    "cmd": "super",
}
_ORDER = ("ctrl", "alt", "shift", "super")

#: Named keys -> X keysym names.  Letters, digits and f1-f24 are handled apart.
KEY_NAMES: dict[str, str] = {
    "space": "space",
    "enter": "Return",
    "return": "Return",
    "tab": "Tab",
    "escape": "Escape",
    "esc": "Escape",
    "backspace": "BackSpace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "page_up": "Prior",
    "pagedown": "Next",
    "page_down": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "print": "Print",
    "pause": "Pause",
    "scroll_lock": "Scroll_Lock",
    "minus": "minus",
    "-": "minus",
    "equal": "equal",
    "=": "equal",
    "comma": "comma",
    ",": "comma",
    "period": "period",
    ".": "period",
    "slash": "slash",
    "/": "slash",
    "backslash": "backslash",
    "\\": "backslash",
    "semicolon": "semicolon",
    ";": "semicolon",
    "apostrophe": "apostrophe",
    "'": "apostrophe",
    "grave": "grave",
    "`": "grave",
    "bracketleft": "bracketleft",
    "[": "bracketleft",
    "bracketright": "bracketright",
    "]": "bracketright",
}
#: Keys that may be grabbed without ctrl, alt or super.
_ALONE_OK = {"Pause", "Print", "Scroll_Lock"}
_FUNCTION = re.compile(r"^f([1-9]|1[0-9]|2[0-4])$")


class HotkeyError(ValueError):
    """A chord that cannot be a global hotkey; the message says why and what to write."""


@dataclass(frozen=True)
class Hotkey:
    """A checked chord: canonical modifiers and the X keysym name of its key."""

    modifiers: tuple[str, ...]
    key: str  # as written in canonical text: 'r', 'f5', 'pageup'
    keysym: str  # X keysym name: 'r', 'F5', 'Prior'

    def __str__(self) -> str:
        return "+".join((*self.modifiers, self.key))


def _key(name: str) -> tuple[str, str]:
    """(canonical name, keysym name) of one non-modifier key, or HotkeyError."""
    lowered = name.lower()
    if len(lowered) == 1 and (lowered.isascii() and lowered.isalnum()):
        return lowered, lowered
    match = _FUNCTION.match(lowered)
    if match:
        return lowered, f"F{match.group(1)}"
    if lowered in KEY_NAMES:
        keysym = KEY_NAMES[lowered]
        canonical = next(k for k, v in KEY_NAMES.items() if v == keysym)
        return canonical, keysym
    raise HotkeyError(
        f"unknown key '{name}'; use a letter, a digit, f1-f24 or one of: "
        + ", ".join(sorted({k for k in KEY_NAMES if k.isalpha() or "_" in k}))
    )


def parse_hotkey(text: str) -> Hotkey:
    """Read ``ctrl+alt+r``; raise HotkeyError saying what is wrong and what to write."""
    parts = [p.strip() for p in text.replace(" ", "").split("+")]
    if text.strip().endswith("++"):  # 'ctrl++' means ctrl and the plus key
        raise HotkeyError(f"'{text}': the plus key cannot be a hotkey; choose another key")
    if not text.strip() or any(not p for p in parts):
        raise HotkeyError(f"'{text}' is not a key chord; write it like 'ctrl+alt+r'")
    modifiers: list[str] = []
    keys: list[tuple[str, str]] = []
    for part in parts:
        modifier = MODIFIERS.get(part.lower())
        if modifier is not None:
            if modifier in modifiers:
                raise HotkeyError(f"'{text}' names {modifier} twice")
            modifiers.append(modifier)
        else:
            keys.append(_key(part))
    if len(keys) != 1:
        raise HotkeyError(
            f"'{text}' needs exactly one key besides the modifiers (ctrl, alt, shift, super); "
            f"it has {len(keys)}"
        )
    key, keysym = keys[0]
    ordered = tuple(m for m in _ORDER if m in modifiers)
    if not set(ordered) & {"ctrl", "alt", "super"} and not (
        keysym.startswith("F") and keysym[1:].isdigit() or keysym in _ALONE_OK
    ):
        raise HotkeyError(
            f"'{text}' would take the '{key}' key away from every program; add ctrl, alt "
            "or super (for example 'ctrl+alt+" + key + "')"
        )
    if {"ctrl", "alt"} <= set(ordered) and keysym.startswith("F") and int(keysym[1:]) <= 12:
        raise HotkeyError(
            f"'{text}' cannot be a hotkey: the X server turns Ctrl+Alt+F1-F12 into console "
            "switches and no program ever receives them; choose another chord"
        )
    return Hotkey(ordered, key, keysym)
