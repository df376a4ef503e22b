"""A paste that is known to have arrived: Deskpilot owns the X clipboard while it pastes.

Putting text on the clipboard with xsel and pressing Ctrl+V says nothing about
whether, or when, the window took it: GTK asks the owner for the text only
when it handles the key, and an answer that came late let the next key (a
Ctrl+S) overtake it, which saved an empty file (2 runs in about 15); a window
that ignores Ctrl+V (xterm) asks for nothing at all and the step still
succeeded.  So while it pastes, ``keyboard.type`` owns the CLIPBOARD selection
itself, on its own X connection served by a thread, and sees the target's
requests:

* the paste counts as taken when the target converted the text (a data
  target such as ``UTF8_STRING``, not just ``TARGETS``) and then deleted the
  property it was given, which ICCCM requestors do once they have read it
  (GTK and Qt do); a requestor that never deletes it is given a short grace;
* only requests after the Ctrl+V count, and only from the target's process
  when it is known (the X-Resource extension names the requestor's pid): a
  clipboard manager copying every new selection must not pass for the target;
* no request within the wait means the window ignores paste: ownership is
  given up (requests already in flight are refused, so a late request cannot
  paste the text a second time) and the caller types the text with keys.

Afterwards the text is handed to xsel, as ``clipboard.set`` would leave it,
so the clipboard keeps it after the step (and after the worker exits).

Texts longer than one X request (about 256 KB) would need the INCR protocol;
they are refused with a clear error instead.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from automation.errors import BlockError

logger = logging.getLogger(__name__)

#: The largest text pasted in one X property (python-xlib sends no big requests).
MAX_BYTES = 200_000
#: After the data was sent, how long to wait for the requestor to delete the property.
DELETE_GRACE = 1.0
_POLL = 0.05
_TEXT_TARGETS = ("UTF8_STRING", "text/plain;charset=utf-8", "STRING", "TEXT", "text/plain")


@dataclass
class Request:
    """One conversion a program asked for."""

    requestor: int
    target: str
    served: bool
    pid: int | None = None
    #: asked after the Ctrl+V, by the target's process (or one we cannot tell apart)
    counted: bool = False
    read_back: bool = False


@dataclass
class _State:
    requests: list[Request] = field(default_factory=list)
    taken: threading.Event = field(default_factory=threading.Event)
    owned: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None


class ClipboardOwner:
    """Serve ``text`` as the CLIPBOARD selection until released or replaced.

    ``start()`` returns once the X server names us the owner; ``wait_taken()``
    waits for a target to take the text; ``release()`` gives the selection up
    (refusing anything still pending); ``hand_over()`` leaves the text on the
    clipboard through xsel.
    """

    def __init__(self, text: str, *, from_pid: int | None = None) -> None:
        data = text.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise BlockError(
                f"the text is {len(data)} bytes, more than the {MAX_BYTES} a paste can carry "
                "in one go; split it into several keyboard.type steps",
                retryable=False,
            )
        self.text = text
        self._utf8 = data
        self._state = _State()
        self.from_pid = from_pid
        self._armed = threading.Event()
        self._stop = threading.Event()
        self._release = threading.Event()
        self._released = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[Request]:
        return list(self._state.requests)

    # -- the caller's side --------------------------------------------------------------
    def start(self, timeout: float = 2.0) -> None:
        from Xlib import display as xdisplay  # type: ignore[import-untyped,unused-ignore]

        try:
            conn = xdisplay.Display()
        except Exception as exc:
            raise BlockError(f"cannot connect to the X display to paste: {exc}") from None
        self._thread = threading.Thread(
            target=self._serve, args=(conn,), name="deskpilot-clipboard", daemon=True
        )
        self._thread.start()
        if not self._state.owned.wait(timeout):
            self._stop.set()
            failure = self._state.failure
            raise BlockError(
                f"could not take the clipboard within {timeout:g}s"
                + (f": {failure}" if failure else "")
            )

    def arm(self) -> None:
        """From now on requests count: call it right before sending Ctrl+V."""
        self._armed.set()

    def wait_taken(self, timeout: float, check: Any = None) -> bool:
        """True once a target has taken the text; ``check()`` runs between polls."""
        end = time.monotonic() + timeout
        while not self._state.taken.wait(min(_POLL, max(0.0, end - time.monotonic()))):
            if check is not None:
                check()
            if self._state.lost.is_set() or time.monotonic() >= end:
                return self._state.taken.is_set()
        return True

    def release(self, timeout: float = 2.0) -> None:
        """Stop owning the selection; a request that arrived before is refused, not served."""
        self._release.set()
        self._released.wait(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def hand_over(self, ctx: Any = None) -> None:
        """Leave the text on the clipboard (through xsel); our thread ends when it takes over."""
        from automation.blocks.desktop.clipboard import write_clipboard

        try:
            write_clipboard(self.text, ctx)
        finally:
            if not self._state.lost.wait(1.0):
                self.release()
            self._stop.set()

    # -- the serving thread ---------------------------------------------------------------
    def _serve(self, conn: Any) -> None:
        from Xlib import X

        try:
            conn.set_error_handler(lambda *args: None)  # a requestor may vanish mid-reply
            window = conn.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
            atoms = _Atoms(conn)
            window.set_selection_owner(atoms.clipboard, X.CurrentTime)
            conn.sync()
            if conn.get_selection_owner(atoms.clipboard) != window:
                self._state.failure = BlockError("another program kept the clipboard")
                return
            self._state.owned.set()
            self._loop(conn, window, atoms)
        except Exception as exc:  # the X connection broke: report it to the caller
            self._state.failure = exc
            logger.warning("the clipboard owner stopped: %s", exc)
        finally:
            self._state.lost.set()
            self._released.set()
            with contextlib.suppress(Exception):
                conn.close()

    def _loop(self, conn: Any, window: Any, atoms: _Atoms) -> None:
        from Xlib import X

        watched: dict[tuple[int, int], tuple[Request, float]] = {}
        while not self._stop.is_set():
            if self._release.is_set():
                window.set_selection_owner(X.NONE, X.CurrentTime)
                conn.sync()  # requests sent before the release are now in our queue
                while conn.pending_events():
                    event = conn.next_event()
                    if event.type == X.SelectionRequest:
                        self._answer(conn, event, atoms, refuse=True)
                conn.flush()
                self._released.set()
                return
            if not conn.pending_events():
                select.select([conn.fileno()], [], [], _POLL)
            now = time.monotonic()
            for key, (_request, sent) in list(watched.items()):
                if now - sent >= DELETE_GRACE:  # served, never deleted: count it anyway
                    del watched[key]
                    self._state.taken.set()
            while conn.pending_events():
                event = conn.next_event()
                if event.type == X.SelectionRequest:
                    request, prop = self._answer(conn, event, atoms, refuse=False)
                    if request.served and request.target in _TEXT_TARGETS and request.counted:
                        watched[(request.requestor, prop)] = (request, time.monotonic())
                elif event.type == X.PropertyNotify and event.state == X.PropertyDelete:
                    hit = watched.pop((event.window.id, event.atom), None)
                    if hit is not None:
                        hit[0].read_back = True
                        self._state.taken.set()
                elif event.type == X.SelectionClear:
                    return  # someone else owns the clipboard now (xsel, after hand_over)

    def _answer(self, conn: Any, event: Any, atoms: _Atoms, *, refuse: bool) -> tuple[Request, int]:
        from Xlib import X, Xatom
        from Xlib.protocol import event as xevent  # type: ignore[import-untyped]

        target = conn.get_atom_name(event.target)
        prop = event.property or event.target  # obsolete clients send None
        requestor = event.requestor
        served = False
        if not refuse:
            if event.target == atoms.targets:
                requestor.change_property(prop, Xatom.ATOM, 32, atoms.offered)
                served = True
            elif event.target == atoms.timestamp:
                requestor.change_property(prop, Xatom.INTEGER, 32, [0])
                served = True
            elif target in _TEXT_TARGETS:
                data = self._utf8
                kind = atoms.utf8 if target == "TEXT" else event.target
                if target in ("STRING", "text/plain"):
                    try:
                        data = self.text.encode("latin-1")
                    except UnicodeEncodeError:
                        data = b""
                if data or not self.text:
                    # watch for the requestor deleting the property: proof it read it
                    requestor.change_attributes(event_mask=X.PropertyChangeMask)
                    requestor.change_property(prop, kind, 8, data)
                    served = True
        request = Request(int(requestor.id), target, served)
        if served and not refuse and self._armed.is_set():
            request.pid = _client_pid(conn, request.requestor)
            request.counted = self.from_pid is None or request.pid in (None, self.from_pid)
        self._state.requests.append(request)
        reply = xevent.SelectionNotify(
            time=event.time,
            requestor=requestor,
            selection=event.selection,
            target=event.target,
            property=prop if served else X.NONE,
        )
        requestor.send_event(reply)
        conn.flush()
        return request, int(prop)


def _client_pid(conn: Any, window: int) -> int | None:
    """The pid of the X client that made ``window`` (X-Resource), None when unknown."""
    try:
        from Xlib.ext import res  # type: ignore[import-untyped,unused-ignore]

        if not conn.has_extension("X-Resource"):
            return None
        reply = conn.res_query_client_ids([{"client": window, "mask": res.LocalClientPIDMask}])
        for client in reply.ids:
            if client.value:
                return int(client.value[0])
    except Exception:  # an old server, or the window is gone
        return None
    return None


class _Atoms:
    def __init__(self, conn: Any) -> None:
        self.clipboard = conn.intern_atom("CLIPBOARD")
        self.targets = conn.intern_atom("TARGETS")
        self.timestamp = conn.intern_atom("TIMESTAMP")
        self.utf8 = conn.intern_atom("UTF8_STRING")
        self.offered = [self.targets, self.timestamp] + [
            conn.intern_atom(name) for name in _TEXT_TARGETS
        ]
