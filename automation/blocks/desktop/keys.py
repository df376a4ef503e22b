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
import time
from collections.abc import Callable, Iterator
from typing import Any

from automation.errors import BlockError

#: Characters sent per batch: the pool is remapped between batches only.
CHUNK = 32
#: Seconds after its last use before a spare keycode is bound to another character.
REBIND_AFTER = 0.2
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
def _display(given: Any | None = None) -> Iterator[Any]:
    """``given`` (the step's connection, left open), else a connection of its own, closed
    on every way out; either must have XTEST."""
    from Xlib import display as xdisplay  # type: ignore[import-untyped,unused-ignore]
    from Xlib.ext import xtest  # type: ignore[import-untyped,unused-ignore]  # noqa: F401

    if given is not None:
        _need_xtest(given)
        yield given
        return
    try:
        conn = xdisplay.Display()
    except Exception as exc:
        raise BlockError(f"cannot connect to the X display to type: {exc}") from None
    try:
        _need_xtest(conn)
        yield conn
    finally:
        conn.close()


def _need_xtest(conn: Any) -> None:
    if not conn.has_extension("XTEST"):
        raise BlockError("the X server has no XTEST extension: keys cannot be sent")


def type_keys(
    text: str,
    *,
    interval: float = 0.0,
    between: Callable[[float], None] | None = None,
    conn: Any | None = None,
) -> None:
    """Send ``text`` as key presses to the focused window.

    ``between(seconds)`` is called between chunks (and between keys when
    ``interval`` is set): the step's cancellable sleep, so a long text stops at
    the deadline, and the pause before a keycode typed moments ago is bound to
    another character.  ``conn``: the step's X connection (one is opened and
    closed here without it).
    """
    pause = between or time.sleep
    with _lock, _display(conn) as conn:
        keymap = _Keymap(conn)
        for chunk in keymap.chunks(text):
            keys = keymap.prepare(chunk, pause)
            for char in chunk:
                keycode, shifted = keys[char]
                _tap(conn, keycode, shifted, keymap.shift)
                if interval:
                    conn.sync()
                    pause(interval)
            conn.sync()
            keymap.used({code for code, _ in keys.values()})
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
        self.last_used: dict[int, float] = {}

    def _find(self, keysym: int) -> tuple[int, bool] | None:
        for i, row in enumerate(self.rows):
            if row[:1] == [keysym]:
                return self.first + i, False
        for i, row in enumerate(self.rows):
            if len(row) > 1 and row[1] == keysym and row[0] != keysym:
                return self.first + i, True
        return None

    def chunks(self, text: str) -> Iterator[str]:
        """Pieces of at most CHUNK characters that never need more spare keys than exist."""
        start = 0
        while start < len(text):
            # spare keys this piece needs: new bindings, and ones it reuses as bound
            missing: set[int] = set()
            pinned: set[int] = set()
            pool = set(self.spare)
            end = start
            while end < len(text) and end - start < CHUNK:
                keysym = keysym_of(text[end])
                found = self._find(keysym)
                if found is None and keysym not in missing:
                    if len(missing) + len(pinned) >= len(pool):
                        break
                    missing.add(keysym)
                elif found is not None and found[0] in pool and found[0] not in pinned:
                    if len(missing) + len(pinned) >= len(pool):
                        break
                    pinned.add(found[0])
                end += 1
            if end == start:
                raise BlockError("the keyboard map has no spare keys to type this text with")
            yield text[start:end]
            start = end

    def used(self, keycodes: set[int]) -> None:
        now = time.monotonic()
        for code in keycodes:
            self.last_used[code] = now

    def prepare(self, chunk: str, pause: Callable[[float], None]) -> dict[str, tuple[int, bool]]:
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
        chosen = free[: len(missing)]
        # a key sent moments ago may not be read yet: a client that looks the map up
        # late would see its new character, so give it a moment before rebinding it
        recent = max((self.last_used.get(code, 0.0) for code in chosen), default=0.0)
        wait = REBIND_AFTER - (time.monotonic() - recent)
        if wait > 0:
            pause(wait)
        for (char, keysym), keycode in zip(missing, chosen, strict=True):
            row = [keysym, keysym] + [0] * (self.width - 2)
            self.conn.change_keyboard_mapping(keycode, [row])
            self.rows[keycode - self.first] = row
            keys[char] = (keycode, False)
        if missing:
            self.conn.sync()
            # used ones go to the back of the pool, so the next chunk rebinds others first
            self.spare = [c for c in self.spare if c not in chosen] + chosen
        return keys


def _ours(row: list[int]) -> bool:
    """A row this module wrote: one character keysym on the first two levels, nothing else.

    The server's XKB copies it onto further levels ([ks, ks, ks, ks, 0, ...]), so
    only "every non-empty entry is that keysym" is checked.
    """
    keysym = row[0] if row else 0
    character = 0xA0 <= keysym <= 0xFF or 0x01000100 <= keysym <= 0x0110FFFF
    return (
        character
        and len(row) >= 2
        and row[1] == keysym
        and all(entry in (0, keysym) for entry in row)
    )
