"""How ``keyboard.type`` gets text into the focused window, and how it checks it arrived.

The method follows the window that has the keyboard focus (``method: auto``):

* a terminal emulator (by its ``WM_CLASS``: xterm, urxvt, gnome-terminal,
  konsole...) gets key events: terminals do not paste on Ctrl+V;
* plain ASCII text gets key events everywhere;
* other text is pasted, and the paste is checked (``selection.py``): the step
  returns only after the window took the text, so a following key (Ctrl+S)
  cannot overtake it; a window that never asks for it gets key events instead,
  and nothing is pasted twice;
* key events for non-ASCII characters bind spare keycodes (``keys.py``).

``method: clipboard`` pastes and fails if the window does not take the paste;
``keys`` always sends key events; ``xdotool`` runs ``xdotool type`` (with a
time limit).  The step's ``method`` output says which one was used.

``verify: true`` reads the focused element's text through the accessibility
bus (AT-SPI) before and after typing.  Where nothing can be read (a terminal,
an app outside the accessibility tree) it fails before typing anything, so an
unverifiable step never passes as verified.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automation.blocks.context import BlockContext
from automation.blocks.desktop.display import gui
from automation.blocks.desktop.tools import run_tool
from automation.errors import BlockError

if TYPE_CHECKING:
    from automation.blocks.desktop.common import Evidence

logger = logging.getLogger(__name__)

#: WM_CLASS names (instance or class, lower case) of terminal emulators.
TERMINALS = frozenset(
    {
        "xterm", "uxterm", "urxvt", "rxvt", "rxvt-unicode", "gnome-terminal",
        "gnome-terminal-server", "konsole", "xfce4-terminal", "terminator", "tilix",
        "kitty", "alacritty", "st", "st-256color", "lxterminal", "mate-terminal",
        "qterminal", "sakura", "terminology", "org.wezfurlong.wezterm", "wezterm",
        "foot", "eterm", "guake", "tilda", "yakuake", "x-terminal-emulator",
        "io.elementary.terminal", "deepin-terminal", "cool-retro-term", "termite",
        "kgx", "org.gnome.console", "ptyxis",
    }
)  # fmt: skip
#: Seconds a window has to ask for the pasted text before it counts as ignoring paste.
PASTE_WAIT = 2.0
#: Seconds ``verify`` waits for typed text to show up in the element.
VERIFY_WAIT = 3.0
_XDOTOOL_MIN_DELAY_MS = 40


@dataclass(frozen=True)
class Target:
    """The window with the keyboard focus when the step started."""

    id: int | None
    title: str
    wm_class: tuple[str, ...]
    pid: int | None

    @property
    def terminal(self) -> bool:
        return any(name.lower() in TERMINALS for name in self.wm_class)

    def describe(self) -> str:
        if self.id is None:
            return "unknown (no X11 window has the focus)"
        kind = "/".join(self.wm_class) or "no WM_CLASS"
        return f"{self.title or '(untitled)'!r} ({kind}, id {self.id})"


def _x11() -> bool:
    return sys.platform.startswith("linux") and bool(os.environ.get("DISPLAY"))


@contextlib.contextmanager
def connection() -> Iterator[Any]:
    """The X connection a typing step uses for all it does (None off X11), closed after.

    Opening one costs a dozen round trips, and every connection left open is
    one more the server holds: the focus check, the target and the key events
    share this one.
    """
    if not _x11():
        yield None
        return
    from automation.blocks.desktop.windows import connect

    with connect() as conn:
        yield conn


def focused_target(conn: Any | None = None) -> Target:
    """The top-level client window that keyboard input goes to now.

    Without a window manager the focus is often ``PointerRoot`` (keys go to the
    window under the pointer), so that case asks where the pointer is.
    """
    if not _x11():
        return Target(None, "", (), None)
    from Xlib import X  # type: ignore[import-untyped]

    from automation.blocks.desktop.windows import reuse, title_of

    with reuse(conn) as conn:
        root = conn.screen().root
        focus = conn.get_input_focus().focus
        if isinstance(focus, int) or focus.id in (X.NONE, X.PointerRoot, root.id):
            focus = root.query_pointer().child
            if isinstance(focus, int) or focus.id == X.NONE:
                return Target(None, "", (), None)
        client = _client(conn, focus, root)
        if client is None:
            return Target(int(focus.id), "", (), None)
        wm_class = tuple(client.get_wm_class() or ())
        pid_prop = client.get_full_property(conn.intern_atom("_NET_WM_PID"), 0)
        pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else None
        if pid is None:
            # no _NET_WM_PID (xterm without a window manager's help, Xaw apps): the server
            # knows; without a pid a paste would count any reader, a clipboard manager too
            from automation.blocks.desktop.selection import _client_pid

            pid = _client_pid(conn, int(client.id))
        return Target(int(client.id), title_of(conn, client) or "", wm_class, pid)


def _client(conn: Any, window: Any, root: Any) -> Any:
    """The window with WM_CLASS that holds ``window``: it, an ancestor, or (WM frame) a child."""
    top = window
    try:
        while True:
            if top.get_wm_class():
                return top
            parent = top.query_tree().parent
            if isinstance(parent, int) or parent.id in (0, root.id):
                break
            top = parent
        for child in top.query_tree().children:  # a window manager's frame holds the client
            if child.get_wm_class():
                return child
            for grandchild in child.query_tree().children:
                if grandchild.get_wm_class():
                    return grandchild
    except Exception:  # the window went away while we looked
        return None
    return None


def type_text(
    ctx: BlockContext,
    text: str,
    method: str,
    interval: float,
    target: Target,
    *,
    conn: Any | None = None,
) -> str:
    """Send ``text`` to ``target`` by ``method`` ("auto" chooses); returns the method used.

    ``conn`` is the step's X connection, used for key events (a paste serves the
    clipboard on a connection of its own: a thread answers the requests there).
    """
    if not _x11():
        return _type_elsewhere(ctx, text, method, interval)
    if method == "auto":
        if target.terminal:
            ctx.log(f"typing with key events: {target.describe()} is a terminal")
            method = "keys"
        elif text.isascii():
            method = "keys"
        else:
            return _paste(ctx, text, target, interval, fallback=True, conn=conn)
    if method == "keys":
        from automation.blocks.desktop.keys import type_keys

        type_keys(text, interval=interval, between=lambda s: _pace(ctx, s), conn=conn)
        return "keys"
    if method == "xdotool":
        _xdotool_type(ctx, text, interval)
        return "xdotool"
    return _paste(ctx, text, target, interval, fallback=False, conn=conn)


def _pace(ctx: BlockContext, seconds: float) -> None:
    ctx.input_pause(seconds)  # between keys or chunks: where a locked screen holds the typing


def _paste(
    ctx: BlockContext,
    text: str,
    target: Target,
    interval: float,
    *,
    fallback: bool,
    conn: Any | None = None,
) -> str:
    from automation.blocks.desktop.selection import ClipboardOwner

    owner = ClipboardOwner(text, from_pid=target.pid)
    owner.start(timeout=ctx.remaining(2.0) or 2.0)
    wait = ctx.remaining(PASTE_WAIT) or PASTE_WAIT
    try:
        owner.arm()
        gui().hotkey("ctrl", "v")
        taken = owner.wait_taken(wait, check=ctx.check_cancelled)
    except BaseException:
        owner.release()
        raise
    if taken:
        try:
            owner.hand_over(ctx)
        except BlockError as exc:
            ctx.log(f"the text was pasted but is not left on the clipboard: {exc}", "warning")
        return "clipboard"
    owner.release()
    asked = sorted({r.target for r in owner.requests}) or ["nothing"]
    elsewhere = [r for r in owner.requests if r.served and r.pid is not None and not r.counted]
    if elsewhere and any(r.target not in ("TARGETS", "TIMESTAMP") for r in elsewhere):
        # someone else read the text after the Ctrl+V: typing it now could enter it twice
        pids = sorted({r.pid for r in elsewhere if r.pid is not None})
        raise BlockError(
            f"the paste was read by process {', '.join(map(str, pids))}, not by "
            f"{target.describe()} (pid {target.pid}); the focus may have moved. Not typed again"
        )
    if fallback:
        ctx.log(
            f"{target.describe()} did not take the paste within {wait:.3g}s (it asked for "
            f"{', '.join(asked)}); typing with key events instead",
            "warning",
        )
        from automation.blocks.desktop.keys import type_keys

        type_keys(text, interval=interval, between=lambda s: _pace(ctx, s), conn=conn)
        return "keys"
    raise BlockError(
        f"{target.describe()} did not take the paste within {wait:.3g}s (it asked for "
        f"{', '.join(asked)}); it may ignore Ctrl+V: use method: keys or auto"
    )


def check_still_focused(
    ctx: BlockContext, target: Target, text: str, conn: Any | None, evidence: Evidence
) -> None:
    """After typing: the window that had the focus before still has it.

    A window that took the focus while the keys went out (a dialog, a
    notification) got the rest of the text, and the step must not pass.  A
    text with a line break is not checked: its Enter may rightly close a
    dialog or open one.
    """
    if target.id is None or "\n" in text or "\r" in text:
        return
    now = focused_target(conn)
    if now.id == target.id:
        return
    evidence.label = "the focus moved while typing"
    raise BlockError(
        f"node '{ctx.node_id}': the focus moved from {target.describe()} to {now.describe()} "
        "while typing; part of the text may have gone there",
        retryable=False,
    )


def _xdotool_type(ctx: BlockContext, text: str, interval: float) -> None:
    import shutil

    tool = shutil.which("xdotool")
    if tool is None:
        raise BlockError(
            "xdotool is not installed; install it or use method: keys", retryable=False
        )
    # xdotool restores each remapped key right after sending it; a toolkit that reads
    # the map late then drops the character (seen with Qt at xdotool's 12 ms): keep a floor
    delay = max(_XDOTOOL_MIN_DELAY_MS, int(interval * 1000))
    limit = 10.0 + len(text) * delay / 1000 * 2
    done = run_tool(
        [tool, "type", "--delay", str(delay), "--", text],
        timeout=limit,
        ctx=ctx,
        what="xdotool type",
    )
    if done.returncode != 0:
        raise BlockError(f"xdotool type failed: {done.stderr.decode(errors='replace').strip()}")


def _type_elsewhere(ctx: BlockContext, text: str, method: str, interval: float) -> str:
    """Windows and macOS: pyautogui keys for ASCII, the clipboard for the rest (unchecked)."""
    if method in ("auto", "keys") and text.isascii():
        pg = gui()
        for start in range(0, len(text), 32):
            ctx.check_cancelled()
            pg.write(text[start : start + 32], interval=interval)
        return "keys"
    if method == "keys" or method == "xdotool":
        raise BlockError(f"method: {method} for non-ASCII text needs X11", retryable=False)
    from automation.blocks.desktop.clipboard import write_clipboard

    write_clipboard(text, ctx)
    gui().hotkey("command" if sys.platform == "darwin" else "ctrl", "v")
    return "clipboard"


# -- verify: true ----------------------------------------------------------------------------


class TextCheck:
    """The focused element's text before typing, to compare with after."""

    def __init__(self, element: Any, before: str) -> None:
        self.element = element
        self.before = before

    @classmethod
    def prepare(cls, ctx: BlockContext, target: Target) -> TextCheck:
        if target.terminal:
            raise BlockError(
                f"verify: true cannot read text back from {target.describe()}: terminals "
                "expose no text through accessibility. Check the result another way (for "
                "example have the shell write to a file and read it) and drop verify",
                retryable=False,
            )
        from automation.blocks.desktop import accessibility as a11y

        try:
            element = a11y.focused_element(target.pid)
            if element is not None and a11y.has_text(element):
                return cls(element, a11y.read_text(element))
        except a11y.AccessibilityError as exc:
            raise BlockError(
                f"verify: true cannot read the focused element: {exc}. Nothing was typed",
                retryable=False,
            ) from None
        raise BlockError(
            f"verify: true found no focused text element of {target.describe()} on the "
            "accessibility bus (AT-SPI); the app may not support accessibility, or the "
            "bus is not running. Nothing was typed",
            retryable=False,
        )

    def confirm(self, ctx: BlockContext, typed: str) -> None:
        from automation.blocks.desktop import accessibility as a11y

        seen = [self.before]

        def arrived() -> bool:
            seen[0] = a11y.read_text(self.element)
            return seen[0].count(typed) > self.before.count(typed)

        if not ctx.wait_until(arrived, timeout=ctx.remaining(VERIFY_WAIT) or VERIFY_WAIT):
            raise BlockError(
                f"the typed text did not arrive: expected {typed!r} in "
                f"{self.element.describe()}, which holds {_clip(seen[0])!r} "
                f"(before typing: {_clip(self.before)!r})"
            )


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
