"""Global hotkeys on X11: one listener thread with its own X connection, grabbing key chords.

``HotkeyListener`` owns one python-xlib connection and one thread.  The
thread waits (``select``) on the X connection and on a wake-up pipe; grabs
and ungrabs are queued to it and answered through ``concurrent.futures``
futures, so the caller (the supervisor's asyncio loop) never blocks on the
X server and the connection is only ever used by one thread.

A chord is grabbed with ``XGrabKey`` on the root window four times: as is,
and with CapsLock, NumLock and both, or it would not fire while one of them
is on.  A chord another program holds makes the server answer ``BadAccess``;
that becomes ``HotkeyTaken``, which names the chord and what to do.  The
check is synchronous on the listener thread (``sync()`` after the grabs), so
the answer is known before the future resolves, and a partial grab is
undone.

``HotkeyBindings`` is the supervisor's side: which trigger holds which chord.

Key repeat: a held chord sends press/release pairs with the same server
time; those are not new presses and do not fire again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import select
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from automation.hotkeys import Hotkey
from supervisor.triggers.errors import TriggerError

logger = logging.getLogger(__name__)

#: X modifier masks (X.h): Shift, Lock (CapsLock), Control, Mod1 (Alt), Mod2 (NumLock), Mod4 (Super).
_SHIFT, _LOCK, _CONTROL, _MOD1, _MOD2, _MOD4 = 1, 2, 4, 8, 16, 64
_MASKS = {"ctrl": _CONTROL, "alt": _MOD1, "shift": _SHIFT, "super": _MOD4}
#: CapsLock and NumLock states the chord must fire in too.
_VARIANTS = (0, _LOCK, _MOD2, _LOCK | _MOD2)
_KEY_PRESS, _KEY_RELEASE = 2, 3


class DisplayUnreachable(TriggerError):
    """No X display the supervisor can use for global hotkeys."""


class HotkeyTaken(TriggerError):
    """Another program (or another trigger) already holds this chord."""


def chord_mask(hotkey: Hotkey) -> int:
    mask = 0
    for modifier in hotkey.modifiers:
        mask |= _MASKS[modifier]
    return mask


@dataclass
class _Command:
    kind: str  # 'grab' or 'ungrab'
    hotkey: Hotkey
    future: Future[None]


class HotkeyListener:
    """Grabs chords on the root window and calls ``on_press(chord text)`` from its thread.

    ``on_press`` runs on the listener thread: the caller hands it over to
    its own loop (``call_soon_threadsafe``).
    """

    def __init__(
        self,
        on_press: Callable[[str], None],
        display: str | None = None,
        *,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.on_press = on_press
        self.on_lost = on_lost
        self.display_name = display if display is not None else os.environ.get("DISPLAY")
        self._conn: Any = None
        self._root: Any = None
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._wake_r, self._wake_w = -1, -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: (keycode, mask) -> chord text, for the chords grabbed now.
        self._grabbed: dict[tuple[int, int], str] = {}
        self._last_release: dict[int, int] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect and start the thread; DisplayUnreachable says why it cannot."""
        if not self.display_name:
            raise DisplayUnreachable(
                "no X display: DISPLAY is not set for the supervisor; hotkey triggers need an "
                "X11 session (or XWayland): start the supervisor from the desktop session"
            )
        try:
            from Xlib import display as xdisplay  # type: ignore[import-untyped]
            from Xlib.error import DisplayError  # type: ignore[import-untyped]
        except ImportError as exc:
            raise DisplayUnreachable(f"hotkey triggers need python-xlib: {exc}") from None
        try:
            self._conn = xdisplay.Display(self.display_name)
        except (DisplayError, OSError) as exc:
            raise DisplayUnreachable(
                f"cannot connect to the X display {self.display_name}: {exc}"
            ) from None
        self._root = self._conn.screen().root
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._thread = threading.Thread(target=self._main, name="hotkeys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Release every grab, close the connection and end the thread (blocks briefly)."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake()
        self._thread.join(5.0)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- requests (any thread) -------------------------------------------------------------
    def grab(self, hotkey: Hotkey) -> Future[None]:
        """Grab a chord; the future fails with HotkeyTaken or TriggerError."""
        return self._request("grab", hotkey)

    def ungrab(self, hotkey: Hotkey) -> Future[None]:
        return self._request("ungrab", hotkey)

    def _request(self, kind: str, hotkey: Hotkey) -> Future[None]:
        future: Future[None] = Future()
        if not self.running:
            future.set_exception(TriggerError("the hotkey listener is not running"))
            return future
        self._commands.put(_Command(kind, hotkey, future))
        self._wake()
        return future

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # -- the thread ------------------------------------------------------------------------
    def _main(self) -> None:
        conn = self._conn
        try:
            while not self._stop.is_set():
                self._run_commands()
                self._dispatch()
                if self._stop.is_set():
                    break
                if conn.pending_events():
                    continue
                ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], 1.0)
                if self._wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
        except Exception as exc:  # the X server went away, or a bug: say so, never die silently
            logger.exception("the hotkey listener stopped")
            if self.on_lost is not None and not self._stop.is_set():
                with contextlib.suppress(Exception):
                    self.on_lost(f"{type(exc).__name__}: {exc}")
        finally:
            self._fail_pending(TriggerError("the hotkey listener stopped"))
            with contextlib.suppress(Exception):
                for keycode, mask in list(self._grabbed):
                    self._root.ungrab_key(keycode, mask)
                conn.sync()
            with contextlib.suppress(Exception):
                conn.close()
            self._grabbed.clear()

    def _fail_pending(self, error: Exception) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if not command.future.done():
                command.future.set_exception(error)

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if command.kind == "grab":
                    self._grab(command.hotkey)
                else:
                    self._ungrab(command.hotkey)
            except Exception as exc:
                command.future.set_exception(exc)
            else:
                command.future.set_result(None)

    def _keycode(self, hotkey: Hotkey) -> int:
        from Xlib import XK

        keysym = XK.string_to_keysym(hotkey.keysym)
        keycode = int(self._conn.keysym_to_keycode(keysym)) if keysym else 0
        if not keycode:
            raise TriggerError(
                f"hotkey {hotkey}: the key '{hotkey.key}' is not on this X server's keyboard map"
            )
        return keycode

    def _grab(self, hotkey: Hotkey) -> None:
        from Xlib import X, error

        keycode = self._keycode(hotkey)
        base = chord_mask(hotkey)
        text = str(hotkey)
        held = self._grabbed.get((keycode, base))
        if held is not None:
            raise HotkeyTaken(f"hotkey {text} is already grabbed by this supervisor ({held})")
        catcher = error.CatchError(error.BadAccess)
        for variant in _VARIANTS:
            self._root.grab_key(
                keycode, base | variant, False, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher
            )
        self._conn.sync()  # the BadAccess, if any, has arrived once this returns
        if catcher.get_error() is not None:
            for variant in _VARIANTS:  # undo the variants that did succeed
                self._root.ungrab_key(keycode, base | variant)
            self._conn.sync()
            raise HotkeyTaken(
                f"hotkey {text} is already taken by another program on display "
                f"{self.display_name} (X refused the grab: BadAccess); choose other keys in the "
                "trigger, or free them in that program"
            )
        for variant in _VARIANTS:
            self._grabbed[(keycode, base | variant)] = text
        logger.info("hotkey %s grabbed", text)

    def _ungrab(self, hotkey: Hotkey) -> None:
        keycode = self._keycode(hotkey)
        base = chord_mask(hotkey)
        for variant in _VARIANTS:
            if self._grabbed.pop((keycode, base | variant), None) is not None:
                self._root.ungrab_key(keycode, base | variant)
        self._conn.sync()
        logger.info("hotkey %s released", hotkey)

    def _dispatch(self) -> None:
        conn = self._conn
        while conn.pending_events():
            event = conn.next_event()
            kind = getattr(event, "type", None)
            if kind == _KEY_RELEASE:
                self._last_release[int(event.detail)] = int(event.time)
                continue
            if kind != _KEY_PRESS:
                continue
            keycode = int(event.detail)
            if self._last_release.get(keycode) == int(event.time):
                continue  # auto-repeat of a held chord: the same press, not a new one
            # keep the modifiers we grab with, ignore any other (e.g. ScrollLock's Mod5)
            mask = int(event.state) & (_SHIFT | _LOCK | _CONTROL | _MOD1 | _MOD2 | _MOD4)
            text = self._grabbed.get((keycode, mask))
            if text is None:
                continue
            try:
                self.on_press(text)
            except Exception:
                logger.exception("handling hotkey %s failed", text)


class HotkeyBindings:
    """Which trigger holds which chord in one supervisor, over one lazily started listener.

    Everything here runs on the supervisor's loop (``bind`` must be called on it).  ``bind`` answers at once
    with a problem (no display, chord held by another trigger) or None; the
    X server's answer to the grab comes later through ``on_result(key,
    problem or None)``, and presses as ``on_press(key)``.  Within one
    supervisor a chord belongs to the first trigger bound to it; a later one
    waits (with a problem saying so) and takes the chord over when the holder
    is released.  An answer for a binding released meanwhile is dropped.
    """

    def __init__(
        self,
        on_press: Callable[[str], None],
        on_result: Callable[[str, str | None], None],
        listener_factory: Callable[..., HotkeyListener] = HotkeyListener,
    ) -> None:
        self.on_press = on_press
        self.on_result = on_result
        self.listener_factory = listener_factory
        self._listener: HotkeyListener | None = None
        self._chords: dict[str, str] = {}  # chord -> key of the trigger holding it
        self._wanted: dict[str, Hotkey] = {}  # every bound trigger key -> its chord, in order
        self._tokens: dict[str, int] = {}  # holder key -> its grab's number
        self._numbers = itertools.count(1)

    def holder(self, chord: str) -> str | None:
        return self._chords.get(chord)

    def _ensure_listener(self) -> HotkeyListener:
        if self._listener is None or not self._listener.running:
            loop = asyncio.get_running_loop()

            def pressed(chord: str) -> None:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(self._pressed, chord)

            def lost(reason: str) -> None:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(self._lost, reason)

            listener = self.listener_factory(pressed, on_lost=lost)
            listener.start()
            self._listener = listener
        return self._listener

    def bind(self, key: str, hotkey: Hotkey) -> str | None:
        """Grab ``hotkey`` for trigger ``key``; a problem text, or None while the grab goes on."""
        self._wanted[key] = hotkey
        chord = str(hotkey)
        holder = self._chords.get(chord)
        if holder is not None and holder != key:
            return (
                f"hotkey {chord} is already used by trigger {holder}; this one does not fire "
                "until that one is paused or removed, or one of them uses other keys"
            )
        try:
            listener = self._ensure_listener()
        except DisplayUnreachable as exc:
            return str(exc)
        token = self._tokens[key] = next(self._numbers)
        self._chords[chord] = key
        loop = asyncio.get_running_loop()

        def answered(future: Future[None]) -> None:
            error = future.exception()
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._answered, key, chord, token, error)

        listener.grab(hotkey).add_done_callback(answered)
        return None

    def _answered(self, key: str, chord: str, token: int, error: BaseException | None) -> None:
        if self._tokens.get(key) != token:
            return
        if error is not None:
            self._tokens.pop(key, None)
            if self._chords.get(chord) == key:
                del self._chords[chord]
        self.on_result(key, None if error is None else str(error))

    def release(self, key: str) -> None:
        """Ungrab ``key``'s chord if it holds it; the next trigger waiting for it takes it."""
        hotkey = self._wanted.pop(key, None)
        if hotkey is None:
            return
        chord = str(hotkey)
        if self._chords.get(chord) != key:
            return
        del self._chords[chord]
        self._tokens.pop(key, None)
        if self._listener is not None and self._listener.running:
            self._listener.ungrab(hotkey)
        waiting = next((k for k, h in self._wanted.items() if str(h) == chord), None)
        if waiting is not None:  # its grab is queued after the ungrab, so it succeeds
            self.on_result(waiting, self.bind(waiting, hotkey))

    def _lost(self, reason: str) -> None:
        """The listener died (the X server went away): every holder is told; none listens now."""
        holders = list(self._chords.values())
        self._chords.clear()
        self._tokens.clear()
        for key in holders:
            self.on_result(
                key,
                f"the hotkey listener lost its X display ({reason}); this trigger listens again "
                "when it is resumed or its workflow file changes",
            )

    def _pressed(self, chord: str) -> None:
        key = self._chords.get(chord)
        if key is not None:
            self.on_press(key)

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        self._chords.clear()
        self._wanted.clear()
        self._tokens.clear()
        if listener is not None:
            await asyncio.to_thread(listener.stop)
