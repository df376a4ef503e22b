"""Input from the X server through the RECORD extension, and the windows it went to.

XRecord delivers every key and button event of every client (xdotool's
XTEST input included) to a second connection, in a thread that blocks in
``record_enable_context``; a third connection stops it.  For each event the
window it went to is looked up on a separate query connection: the focused
top-level window for keys, the top-most visible one under the pointer for
buttons.  Events whose window belongs to an excluded process (Deskpilot's
own window) are dropped here, so they never reach the workflow.

A second thread polls the visible top-level windows ten times a second and
records a ``WindowsSeen`` whenever the set or a title changes: the composer
infers waits from those.

Pointer motion is not recorded: a click is where its press happened, a drag
goes from its press to its release.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from automation.recording.events import ButtonEvent, Event, KeyEvent, WindowRef, WindowsSeen

logger = logging.getLogger(__name__)

_KEY_PRESS, _KEY_RELEASE, _BUTTON_PRESS, _BUTTON_RELEASE = 2, 3, 4, 5
WINDOW_POLL = 0.1


class CaptureError(Exception):
    """The X server cannot record input (no display, no RECORD extension)."""


def _open(name: str | None) -> Any:
    try:
        from Xlib import display as xdisplay  # type: ignore[import-untyped]
        from Xlib.error import DisplayError  # type: ignore[import-untyped]
    except ImportError as exc:
        raise CaptureError(f"recording needs python-xlib: {exc}") from None
    try:
        return xdisplay.Display(name)
    except (DisplayError, OSError) as exc:
        raise CaptureError(
            f"cannot connect to the X display {name or '(DISPLAY is not set)'}: {exc}; "
            "recording needs an X11 session (or XWayland)"
        ) from None


class WindowLookup:
    """Top-level windows on one X connection: titles, pids, stacking, focus."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.root = conn.screen().root
        self._atoms: dict[str, int] = {}

    def atom(self, name: str) -> int:
        if name not in self._atoms:
            self._atoms[name] = int(self.conn.intern_atom(name))
        return self._atoms[name]

    def _prop(self, window: Any, name: str, kind: int = 0) -> Any:
        try:
            prop = window.get_full_property(self.atom(name), kind)
        except Exception:  # the window went away while we looked
            return None
        return prop.value if prop is not None else None

    def title(self, window: Any) -> str | None:
        value = self._prop(window, "_NET_WM_NAME", self.atom("UTF8_STRING"))
        if value:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        try:
            name = window.get_wm_name()
        except Exception:
            return None
        if isinstance(name, bytes):
            return name.decode("latin-1")
        return name or None

    def ref(self, window: Any) -> WindowRef | None:
        title = self.title(window)
        if title is None:
            return None
        pid = self._prop(window, "_NET_WM_PID")
        return WindowRef(
            int(window.id), title, int(pid[0]) if pid is not None and len(pid) else None
        )

    def _stacking(self) -> list[Any]:
        """Client windows, bottom to top."""
        value = self._prop(self.root, "_NET_CLIENT_LIST_STACKING")
        if value is not None and len(value):
            return [self.conn.create_resource_object("window", int(w)) for w in value]
        try:
            return list(self.root.query_tree().children)
        except Exception:
            return []

    def _visible_box(self, window: Any) -> tuple[int, int, int, int] | None:
        from Xlib import X

        try:
            attrs = window.get_attributes()
            if attrs.map_state != X.IsViewable or attrs.override_redirect:
                return None
            geometry = window.get_geometry()
            origin = window.translate_coords(self.root, 0, 0)
        except Exception:
            return None
        return -int(origin.x), -int(origin.y), int(geometry.width), int(geometry.height)

    def visible(self) -> tuple[WindowRef, ...]:
        found = []
        for window in self._stacking():
            if self._visible_box(window) is None:
                continue
            ref = self.ref(window)
            if ref is not None:
                found.append(ref)
        return tuple(found)

    def at(self, x: int, y: int) -> WindowRef | None:
        for window in reversed(self._stacking()):
            box = self._visible_box(window)
            if box is None:
                continue
            bx, by, bw, bh = box
            if bx <= x < bx + bw and by <= y < by + bh:
                return self.ref(window)
        return None

    def focused(self) -> WindowRef | None:
        active = self._prop(self.root, "_NET_ACTIVE_WINDOW")
        if active is not None and len(active) and int(active[0]):
            return self.ref(self.conn.create_resource_object("window", int(active[0])))
        try:
            window = self.conn.get_input_focus().focus
            while True:  # climb to the child of the root: the top-level window
                if not hasattr(window, "query_tree"):
                    return None  # PointerRoot or None: no window has the focus
                tree = window.query_tree()
                if tree.parent is None or int(tree.parent.id) == int(self.root.id):
                    break
                window = tree.parent
        except Exception:
            return None
        return self.ref(window)


class XCapture:
    """Records key and button events and window changes until ``stop``."""

    def __init__(
        self,
        on_event: Callable[[Event], None],
        *,
        display: str | None = None,
        exclude_pids: Collection[int] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_event = on_event
        self.display = display
        self.exclude_pids = frozenset(exclude_pids)
        self.clock = clock
        self._record_conn: Any = None
        self._control_conn: Any = None
        self._query: WindowLookup | None = None
        self._context: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._names: dict[int, str] = {}
        self.dropped = 0
        #: When the window poller's last look began (monotonic): waits can pace on it.
        self.polled_at = 0.0

    def start(self) -> None:
        from Xlib.ext import record  # type: ignore[import-untyped]

        self._record_conn = _open(self.display)
        if not self._record_conn.has_extension("RECORD"):
            self._record_conn.close()
            raise CaptureError("this X server has no RECORD extension: input cannot be recorded")
        try:
            self._control_conn = _open(self.display)
            self._query = WindowLookup(_open(self.display))
        except CaptureError:
            self.stop()
            raise
        self._names = _keysym_names()
        self._context = self._record_conn.record_create_context(
            0,
            [record.AllClients],
            [
                {
                    "core_requests": (0, 0),
                    "core_replies": (0, 0),
                    "ext_requests": (0, 0, 0, 0),
                    "ext_replies": (0, 0, 0, 0),
                    "delivered_events": (0, 0),
                    "device_events": (_KEY_PRESS, _BUTTON_RELEASE),
                    "errors": (0, 0),
                    "client_started": False,
                    "client_died": False,
                }
            ],
        )
        ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._record, args=(ready,), name="xrecord", daemon=True),
            threading.Thread(target=self._poll_windows, name="xwindows", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        ready.wait(2.0)

    def stop(self) -> None:
        self._stop.set()
        if self._control_conn is not None and self._context is not None:
            with contextlib.suppress(Exception):
                self._control_conn.record_disable_context(self._context)
                self._control_conn.flush()
        for thread in self._threads:
            thread.join(5.0)
        with contextlib.suppress(Exception):
            self._control_conn.record_free_context(self._context)
            self._control_conn.flush()
        query = self._query.conn if self._query is not None else None
        for conn in (self._record_conn, self._control_conn, query):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    # -- threads ---------------------------------------------------------------------------
    def _record(self, ready: threading.Event) -> None:
        ready.set()
        try:
            self._record_conn.record_enable_context(self._context, self._received)
        except Exception:
            if not self._stop.is_set():
                logger.exception("recording input stopped")

    def _received(self, reply: Any) -> None:
        from Xlib.ext import record
        from Xlib.protocol import rq  # type: ignore[import-untyped]

        if reply.category != record.FromServer or reply.client_swapped or not len(reply.data):
            return
        data = reply.data
        while len(data):
            event, data = rq.EventField(None).parse_binary_value(
                data, self._record_conn.display, None, None
            )
            try:
                self._handle(event)
            except Exception:  # one odd event must not end the recording
                logger.exception("could not record an X event")

    def _handle(self, event: Any) -> None:
        kind = int(event.type)
        now = self.clock()
        assert self._query is not None
        if kind in (_KEY_PRESS, _KEY_RELEASE):
            window = self._query.focused()
            if window is not None and window.pid in self.exclude_pids:
                self.dropped += 1
                return
            keycode = int(event.detail)
            base = self._record_conn.keycode_to_keysym(keycode, 0)
            shifted = self._record_conn.keycode_to_keysym(keycode, 1) or base
            self.on_event(
                KeyEvent(
                    time=now,
                    pressed=kind == _KEY_PRESS,
                    keycode=keycode,
                    keysym=self._names.get(base, f"0x{base:x}"),
                    char=_char(base),
                    shifted_char=_char(shifted),
                    window=window,
                )
            )
        elif kind in (_BUTTON_PRESS, _BUTTON_RELEASE):
            x, y = int(event.root_x), int(event.root_y)
            window = self._query.at(x, y)
            if window is not None and window.pid in self.exclude_pids:
                self.dropped += 1
                return
            self.on_event(
                ButtonEvent(
                    time=now,
                    pressed=kind == _BUTTON_PRESS,
                    button=int(event.detail),
                    x=x,
                    y=y,
                    window=window,
                )
            )

    def _poll_windows(self) -> None:
        lookup = WindowLookup(_open(self.display))
        last: tuple[WindowRef, ...] | None = None
        try:
            while not self._stop.is_set():
                started = self.clock()
                windows = tuple(w for w in lookup.visible() if w.pid not in self.exclude_pids)
                if windows != last:
                    last = windows
                    self.on_event(WindowsSeen(started, windows))
                self.polled_at = started
                self._stop.wait(WINDOW_POLL)
        except Exception:
            logger.exception("watching windows while recording stopped")
        finally:
            with contextlib.suppress(Exception):
                lookup.conn.close()


def _keysym_names() -> dict[int, str]:
    from Xlib import XK

    names: dict[int, str] = {}
    for name, value in vars(XK).items():
        if name.startswith("XK_") and isinstance(value, int):
            names.setdefault(value, name[3:])
    return names


def _char(keysym: int) -> str:
    """The text a keysym types, or "" for keys that type nothing (shift, arrows, F1...)."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)  # Latin-1 keysyms are their code points
    if keysym & 0xFF000000 == 0x01000000:
        return chr(keysym & 0x00FFFFFF)  # Unicode keysyms (what xdotool maps for other text)
    return ""
