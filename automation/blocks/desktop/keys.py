"""Typing any Unicode text as key events (XTEST), for windows that ignore paste.

A terminal emulator does not paste on Ctrl+V (xterm ignores it), and
pyautogui's ``write`` drops every character missing from the keyboard map.
So each character is sent as the key that produces its keysym: a key of the
current map when there is one (with Shift for the second level), otherwise a
spare keycode (one with no keysym bound) is mapped to the character's keysym
first.

Why spare keycodes are not restored right after the key: a client reads the
new map when it handles the ``MappingNotify`` the change caused, which can be
after the key was sent; restoring at once (xdotool's way) made a toolkit look
the key up in the restored map and drop the character.  Here a keycode keeps
its character until the pool is needed for others, and one chunk of text never
remaps a keycode it uses, so every key is looked up in a map that still holds
it.  Keycodes that had no keysym are all this touches.

Keysyms: Latin-1 characters are their own code point; others are
``0x01000000 + code point`` (the X11 Unicode keysyms every toolkit knows).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from automation.errors import BlockError

#: Characters sent per batch: the pool is remapped between batches only.
CHUNK = 32
_lock = threading.Lock()
_NAMED = {"\n": "Return", "\r": "Return", "\t": "Tab", "\b": "BackSpace"}


def keysym_of(char: str) -> int:
    """The X keysym that types ``char``."""
    from Xlib import XK  # type: ignore[import-untyped]

    if char in _NAMED:
        return int(XK.string_to_keysym(_NAMED[char]))
    code = ord(char)
    if code < 0x20 or 0x7F <= code < 0xA0:
        raise BlockError(
            f"cannot type the control character U+{code:04X}; use keyboard.press", retryable=False
        )
    if code <= 0xFF:
        return code
    return 0x01000000 + code


@contextlib.contextmanager
def _display() -> Iterator[Any]:
    from Xlib import display as xdisplay  # type: ignore[import-untyped,unused-ignore]
    from Xlib.ext import xtest  # type: ignore[import-untyped,unused-ignore]  # noqa: F401

    try:
        conn = xdisplay.Display()
    except Exception as exc:
        raise BlockError(f"cannot connect to the X display to type: {exc}") from None
    try:
        if not conn.has_extension("XTEST"):
            raise BlockError("the X server has no XTEST extension: keys cannot be sent")
        yield conn
    finally:
        conn.close()


def type_keys(
    text: str, *, interval: float = 0.0, between: Callable[[float], None] | None = None
) -> None:
    """Send ``text`` as key presses to the focused window.

    ``between(seconds)`` is called between chunks (and between keys when
    ``interval`` is set): the step's cancellable sleep, so a long text stops at
    the deadline.
    """
    with _lock, _display() as conn:
        keymap = _Keymap(conn)
        for start in range(0, len(text), CHUNK):
            chunk = text[start : start + CHUNK]
            keys = keymap.prepare(chunk)
            for char in chunk:
                keycode, shifted = keys[char]
                _tap(conn, keycode, shifted, keymap.shift)
                if interval:
                    conn.sync()
                    if between is not None:
                        between(interval)
            conn.sync()
            if between is not None:
                between(0.0)


def _tap(conn: Any, keycode: int, shifted: bool, shift: int) -> None:
    from Xlib import X
    from Xlib.ext import xtest

    if shifted:
        xtest.fake_input(conn, X.KeyPress, shift)
    xtest.fake_input(conn, X.KeyPress, keycode)
    xtest.fake_input(conn, X.KeyRelease, keycode)
    if shifted:
        xtest.fake_input(conn, X.KeyRelease, shift)


class _Keymap:
    """The server's key map, and the spare keycodes this process may bind."""

    def __init__(self, conn: Any) -> None:
        from Xlib import XK

        self.conn = conn
        info = conn.display.info
        self.first = int(info.min_keycode)
        count = int(info.max_keycode) - self.first + 1
        self.rows = [list(row) for row in conn.get_keyboard_mapping(self.first, count)]
        self.width = len(self.rows[0]) if self.rows else 2
        self.shift = int(conn.keysym_to_keycode(XK.XK_Shift_L))
        # spare: no keysym at all, or a keycode we bound earlier (same keysym on both
        # levels, a character keysym); highest first, keycode 8 is never used (some
        # toolkits ignore it)
        self.spare = [
            self.first + i
            for i, row in enumerate(self.rows)
            if self.first + i > 8 and (not any(row) or _ours(row))
        ][::-1]

    def _find(self, keysym: int) -> tuple[int, bool] | None:
        for i, row in enumerate(self.rows):
            if row[:1] == [keysym]:
                return self.first + i, False
        for i, row in enumerate(self.rows):
            if len(row) > 1 and row[1] == keysym and row[0] != keysym:
                return self.first + i, True
        return None

    def prepare(self, chunk: str) -> dict[str, tuple[int, bool]]:
        """Keys for every character of ``chunk``, binding spare keycodes as needed."""
        keys: dict[str, tuple[int, bool]] = {}
        missing: list[tuple[str, int]] = []
        for char in dict.fromkeys(chunk):
            keysym = keysym_of(char)
            found = self._find(keysym)
            if found is None:
                missing.append((char, keysym))
            else:
                keys[char] = found
        in_use = {code for code, _ in keys.values()}
        free = [code for code in self.spare if code not in in_use]
        if len(missing) > len(free):
            raise BlockError(
                f"the keyboard map has {len(free)} spare keys, too few for the "
                f"{len(missing)} different characters in {chunk!r}",
                retryable=False,
            )
        for (char, keysym), keycode in zip(missing, free, strict=False):
            row = [keysym, keysym] + [0] * (self.width - 2)
            self.conn.change_keyboard_mapping(keycode, [row])
            self.rows[keycode - self.first] = row
            keys[char] = (keycode, False)
        if missing:
            self.conn.sync()
            # used ones go to the back of the pool, so the next chunk rebinds others first
            used = {keys[char][0] for char, _ in missing}
            self.spare = [c for c in self.spare if c not in used] + [
                c for c in self.spare if c in used
            ]
        return keys


def _ours(row: list[int]) -> bool:
    """A row this module wrote: one character keysym on both levels, nothing else."""
    keysym = row[0]
    return (
        len(row) >= 2
        and row[1] == keysym
        and not any(row[2:])
        and (0xA0 <= keysym <= 0xFF or keysym > 0x01000000)
    )
