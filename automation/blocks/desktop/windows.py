"""Window and application blocks on X11, through python-xlib.

Windows are found by a regular expression on their title.  With a window
manager the list comes from its EWMH ``_NET_CLIENT_LIST`` and focus, minimise
and close go through EWMH/ICCCM client messages, which is what the window
manager expects; on a bare X server (Xvfb in CI, kiosks) the top-level
windows are read from the root window's children and the same operations are
done directly (set input focus, unmap, ``WM_DELETE_WINDOW``).

PyWinCtl was the first choice but blocks forever on an X server without a
window manager, so these blocks speak X11 themselves.  Other platforms are
reported as unsupported with a clear error rather than half-working.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from automation.blocks.base import BlockInput, BlockOutput, resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.desktop.display import Box, DisplayUnavailable, explain
from automation.blocks.desktop.expect import ActionInput
from automation.errors import BlockError, BlockInputError


@dataclass(frozen=True)
class WindowInfo:
    id: int
    title: str
    pid: int | None
    box: Box
    visible: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "pid": self.pid,
            "box": self.box.as_list(),
            "visible": self.visible,
        }


@contextmanager
def connect() -> Iterator[Any]:
    if not sys.platform.startswith("linux"):
        raise BlockError("window blocks support X11 (Linux) only for now", retryable=False)
    try:
        from Xlib import display as xdisplay  # type: ignore[import-untyped]
        from Xlib.error import DisplayError  # type: ignore[import-untyped]
    except ImportError as exc:
        raise DisplayUnavailable(f"window blocks need python-xlib: {exc}") from None
    try:
        conn = xdisplay.Display()
    except (DisplayError, OSError) as exc:
        raise DisplayUnavailable(explain(f"cannot connect to the X display: {exc}")) from None
    try:
        yield conn
    finally:
        conn.close()


#: The old private name, still imported by expect.py.
_x = connect


@contextmanager
def reuse(conn: Any | None) -> Iterator[Any]:
    """``conn`` when the caller already has a connection, else a new one for this call.

    Opening one costs python-xlib a dozen round trips (setup, extension
    queries), more than a whole window check: a step shares one.
    """
    if conn is not None:
        yield conn
        return
    with connect() as fresh:
        yield fresh


def _atom(conn: Any, name: str) -> int:
    return int(conn.get_atom(name))  # cached per connection: atoms never change


def title_of(conn: Any, window: Any) -> str | None:
    try:
        prop = window.get_full_property(_atom(conn, "_NET_WM_NAME"), _atom(conn, "UTF8_STRING"))
        if prop is not None and prop.value:
            value = prop.value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        name = window.get_wm_name()
    except Exception:  # the window vanished while we looked
        return None
    if isinstance(name, bytes):
        return name.decode("latin-1")
    return name or None


def _clients(conn: Any) -> list[Any]:
    root = conn.screen().root
    prop = root.get_full_property(_atom(conn, "_NET_CLIENT_LIST"), 0)  # AnyPropertyType
    if prop is not None and len(prop.value):
        return [conn.create_resource_object("window", int(w)) for w in prop.value]
    return list(root.query_tree().children)


def _info(conn: Any, window: Any) -> WindowInfo | None:
    from Xlib import X

    title = title_of(conn, window)
    if title is None:
        return None
    try:
        attrs = window.get_attributes()
        if attrs.override_redirect:
            return None  # menus and tooltips, not windows
        geometry = window.get_geometry()
        origin = window.translate_coords(conn.screen().root, 0, 0)
        pid_prop = window.get_full_property(_atom(conn, "_NET_WM_PID"), 0)
    except Exception:
        return None
    pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else None
    box = Box(-int(origin.x), -int(origin.y), int(geometry.width), int(geometry.height))
    return WindowInfo(int(window.id), title, pid, box, attrs.map_state == X.IsViewable)


def list_windows(
    pattern: str | None = None, *, include_hidden: bool = True, conn: Any | None = None
) -> list[WindowInfo]:
    regex = re.compile(pattern) if pattern else None
    with reuse(conn) as conn:
        found = []
        for window in _clients(conn):
            info = _info(conn, window)
            if info is None or (regex is not None and not regex.search(info.title)):
                continue
            if include_hidden or info.visible:
                found.append(info)
        return found


def _compile(ctx: BlockContext, pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise BlockInputError(
            f"node '{ctx.node_id}': title pattern {pattern!r} is not a valid regex: {exc}"
        ) from None
    return pattern


def _family(pid: int) -> set[int]:
    """``pid`` and every process under it (a launcher's real program is often a child)."""
    import psutil

    try:
        return {pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return {pid}


def matching(
    ctx: BlockContext, selector: WindowSelector, conn: Any | None = None
) -> list[WindowInfo]:
    """Windows that fit every part of ``selector`` given (title, window id, pid)."""
    pattern = _compile(ctx, selector.title) if selector.title else None
    found = list_windows(pattern, conn=conn)
    if selector.window_id is not None:
        found = [w for w in found if w.id == selector.window_id]
    if selector.pid is not None:
        family = _family(selector.pid)
        found = [w for w in found if w.pid is not None and w.pid in family]
    return found


def _listing(windows: list[WindowInfo]) -> str:
    return "; ".join(f"id {w.id} {w.title!r} pid {w.pid}" for w in windows[:10])


def _one(
    ctx: BlockContext, selector: WindowSelector, timeout: float, conn: Any | None = None
) -> WindowInfo:
    """The one window the selector names, waiting up to ``timeout`` for it.

    Several matches are an error listing them: acting on whichever came first
    would be a guess (an older window with the same title was picked before).
    """
    found: list[WindowInfo] = []

    def look() -> bool:
        found[:] = matching(ctx, selector, conn)
        return bool(found)

    if not ctx.wait_until(look, timeout=ctx.remaining(timeout) or timeout, interval=0.1):
        titles = [w.title for w in list_windows(conn=conn) if w.title][:15]
        raise BlockError(f"no window matches {selector.describe()}; open windows: {titles}")
    visible = [w for w in found if w.visible] or found
    if len(visible) > 1:
        raise BlockError(
            f"{len(visible)} windows match {selector.describe()}: {_listing(visible)}. "
            "Name one by window_id or pid (outputs of app.launch and window.list)",
            retryable=False,
        )
    return visible[0]


def _send(conn: Any, window: Any, message: str, data: list[int]) -> None:
    from Xlib import X
    from Xlib.protocol import event  # type: ignore[import-untyped]

    root = conn.screen().root
    ev = event.ClientMessage(
        window=window, client_type=_atom(conn, message), data=(32, (data + [0] * 5)[:5])
    )
    root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)


def _has_wm(conn: Any) -> bool:
    prop = conn.screen().root.get_full_property(_atom(conn, "_NET_SUPPORTING_WM_CHECK"), 0)
    return prop is not None and bool(len(prop.value))


def _act(
    info: WindowInfo, action: str, x: int = 0, y: int = 0, width: int = 0, height: int = 0
) -> None:
    from Xlib import X

    with connect() as conn:
        window = conn.create_resource_object("window", info.id)
        wm = _has_wm(conn)
        if action == "focus":
            if not info.visible:
                window.map()
            if wm:
                _send(conn, window, "_NET_ACTIVE_WINDOW", [1, X.CurrentTime, 0])
            window.configure(stack_mode=X.Above)
            window.set_input_focus(X.RevertToParent, X.CurrentTime)
        elif action == "move":
            window.configure(x=x, y=y)
        elif action == "resize":
            window.configure(width=width, height=height)
        elif action == "minimize":
            if wm:
                _send(conn, window, "WM_CHANGE_STATE", [3])  # IconicState
            else:
                window.unmap()  # nothing to iconify to without a window manager
        elif action == "close":
            protocols = window.get_wm_protocols() or []
            delete = _atom(conn, "WM_DELETE_WINDOW")
            if delete in protocols:
                from Xlib.protocol import event

                ev = event.ClientMessage(
                    window=window,
                    client_type=_atom(conn, "WM_PROTOCOLS"),
                    data=(32, [delete, X.CurrentTime, 0, 0, 0]),
                )
                window.send_event(ev)
            else:
                window.kill_client()
        conn.sync()


# -- blocks ------------------------------------------------------------------------------


class ListInput(BlockInput):
    title: str | None = Field(
        default=None, description="only windows whose title matches this regex"
    )
    include_hidden: bool = Field(default=False, description="include minimised / unmapped windows")


class ListOutput(BlockOutput):
    windows: list[dict[str, Any]] = Field(description="each window: id, title, pid, box, visible")
    count: int = Field(description="how many")


class WindowList(DesktopBlock[ListInput]):
    """List the top-level windows, optionally filtered by a title pattern."""

    id = "window.list"
    title = "List windows"
    idempotent = True
    Input = ListInput
    Output = ListOutput

    def perform(self, inputs: ListInput, ctx: BlockContext, evidence: Evidence) -> ListOutput:
        pattern = _compile(ctx, inputs.title) if inputs.title else None
        found = [w.as_dict() for w in list_windows(pattern, include_hidden=inputs.include_hidden)]
        return ListOutput(windows=found, count=len(found))


class WindowSelector(BlockInput):
    """Which window: a title pattern, a window id, a pid, or several of them together."""

    title: str | None = Field(default=None, description="regex matched against window titles")
    window_id: int | None = Field(
        default=None, description="the X window id, e.g. {{ nodes.launch.window_id }}"
    )
    pid: int | None = Field(
        default=None,
        description="a process id, e.g. {{ nodes.launch.pid }}: its windows or its children's",
    )

    @model_validator(mode="after")
    def _named(self) -> WindowSelector:
        if self.title is None and self.window_id is None and self.pid is None:
            raise ValueError("name the window by title, window_id or pid")
        return self

    def describe(self) -> str:
        parts = []
        if self.title is not None:
            parts.append(f"title {self.title!r}")
        if self.window_id is not None:
            parts.append(f"window id {self.window_id}")
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        return " and ".join(parts)


class WindowInput(WindowSelector, ActionInput):
    timeout: float = Field(default=5.0, ge=0, description="seconds to wait for the window to exist")


class WindowOutput(BlockOutput):
    id: int = Field(description="the X window id")
    title: str = Field(description="the window's title")
    pid: int | None = Field(description="the process that owns it (_NET_WM_PID), if it says")
    box: list[int] = Field(description="[x, y, width, height] after the step")


def _output(info: WindowInfo) -> WindowOutput:
    refreshed = next((w for w in list_windows() if w.id == info.id), info)
    return WindowOutput(
        id=info.id, title=refreshed.title, pid=info.pid, box=refreshed.box.as_list()
    )


class WindowFocus(DesktopBlock[WindowInput]):
    """Bring a window to the front and give it the keyboard focus."""

    id = "window.focus"
    title = "Focus window"
    idempotent = True
    Input = WindowInput
    Output = WindowOutput

    def perform(self, inputs: WindowInput, ctx: BlockContext, evidence: Evidence) -> WindowOutput:
        info = _one(ctx, inputs, inputs.timeout)
        evidence.candidate = info.box
        _act(info, "focus")
        from automation.blocks.desktop.focus import settle_focus

        settle_focus(ctx, info.id, evidence)  # not a modal dialog of it, not another window
        return _output(info)


class MoveWindowInput(WindowInput):
    x: int = Field(description="new left edge")
    y: int = Field(description="new top edge")


class WindowMove(DesktopBlock[MoveWindowInput]):
    """Move a window."""

    id = "window.move"
    title = "Move window"
    idempotent = True
    Input = MoveWindowInput
    Output = WindowOutput

    def perform(
        self, inputs: MoveWindowInput, ctx: BlockContext, evidence: Evidence
    ) -> WindowOutput:
        info = _one(ctx, inputs, inputs.timeout)
        _act(info, "move", x=inputs.x, y=inputs.y)
        ctx.wait_until(
            lambda: _box_of(info.id)[:2] == [inputs.x, inputs.y],
            timeout=ctx.remaining(2.0) or 2.0,
            interval=0.05,
        )
        return _output(info)


class ResizeInput(WindowInput):
    width: int = Field(gt=0, description="new width")
    height: int = Field(gt=0, description="new height")


class WindowResize(DesktopBlock[ResizeInput]):
    """Resize a window."""

    id = "window.resize"
    title = "Resize window"
    idempotent = True
    Input = ResizeInput
    Output = WindowOutput

    def perform(self, inputs: ResizeInput, ctx: BlockContext, evidence: Evidence) -> WindowOutput:
        info = _one(ctx, inputs, inputs.timeout)
        _act(info, "resize", width=inputs.width, height=inputs.height)
        ctx.wait_until(
            lambda: _box_of(info.id)[2:] == [inputs.width, inputs.height],
            timeout=ctx.remaining(2.0) or 2.0,
            interval=0.05,
        )
        return _output(info)


def _box_of(window_id: int) -> list[int]:
    for w in list_windows():
        if w.id == window_id:
            return w.box.as_list()
    return []


class WindowMinimize(DesktopBlock[WindowInput]):
    """Minimise a window (without a window manager: hide it)."""

    id = "window.minimize"
    title = "Minimise window"
    idempotent = True
    Input = WindowInput
    Output = WindowOutput

    def perform(self, inputs: WindowInput, ctx: BlockContext, evidence: Evidence) -> WindowOutput:
        info = _one(ctx, inputs, inputs.timeout)
        _act(info, "minimize")
        return _output(info)


class CloseInput(WindowInput):
    wait: float = Field(default=5.0, ge=0, description="seconds to wait for the window to go away")


class WindowClose(DesktopBlock[CloseInput]):
    """Ask a window to close, as its close button would, and wait for it to go."""

    id = "window.close"
    title = "Close window"
    Input = CloseInput
    Output = WindowOutput

    def perform(self, inputs: CloseInput, ctx: BlockContext, evidence: Evidence) -> WindowOutput:
        info = _one(ctx, inputs, inputs.timeout)
        _act(info, "close")
        if inputs.wait and not ctx.wait_until(
            lambda: not _box_of(info.id),
            timeout=ctx.remaining(inputs.wait) or inputs.wait,
            interval=0.05,
        ):
            raise BlockError(
                f"window {info.title!r} was asked to close but is still open after "
                f"{inputs.wait:g}s (it may be asking to save)"
            )
        return WindowOutput(id=info.id, title=info.title, pid=info.pid, box=info.box.as_list())


class WaitWindowInput(WindowSelector):
    until: Literal["appears", "disappears"] = Field(
        default="appears", description="wait for a match to appear or for all matches to go"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds before the step fails")


class WaitWindowOutput(BlockOutput):
    windows: list[dict[str, Any]] = Field(description="the matching windows when the wait ended")


class WindowWait(DesktopBlock[WaitWindowInput]):
    """Wait for a window to appear or disappear, by title pattern."""

    id = "window.wait"
    title = "Wait for window"
    idempotent = True
    Input = WaitWindowInput
    Output = WaitWindowOutput

    def perform(
        self, inputs: WaitWindowInput, ctx: BlockContext, evidence: Evidence
    ) -> WaitWindowOutput:
        seen: list[WindowInfo] = []

        def look() -> bool:
            seen[:] = [w for w in matching(ctx, inputs) if w.visible]
            return bool(seen) == (inputs.until == "appears")

        if not ctx.wait_until(
            look, timeout=ctx.remaining(inputs.timeout) or inputs.timeout, interval=0.1
        ):
            verb = "appear" if inputs.until == "appears" else "disappear"
            raise BlockError(
                f"no window matching {inputs.describe()} did {verb} within {inputs.timeout:g}s"
            )
        if inputs.until == "appears" and len(seen) == 1:
            from automation.blocks.desktop.focus import remember_window

            remember_window(ctx, seen[0].id)  # keys that follow are meant for it
        return WaitWindowOutput(windows=[w.as_dict() for w in seen])


class LaunchInput(ActionInput):
    command: list[str] = Field(
        min_length=1, description="program and arguments, e.g. [xterm, -T, Shell]"
    )
    window: str | None = Field(
        default=None, description="wait until a window title matches this regex"
    )
    timeout: float = Field(default=15.0, gt=0, description="seconds to wait for the window")
    cwd: str | None = Field(default=None, description="working folder, relative to the workflow")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")


class LaunchOutput(BlockOutput):
    pid: int = Field(description="process id of the launched program")
    window_id: int | None = Field(description="X id of the window that appeared")
    title: str | None = Field(description="its title")
    box: list[int] | None = Field(description="its [x, y, width, height]")


#: Launched programs outlive their step; holding the handles lets them be reaped
#: (no zombies) without waiting on them.
_launched: list[subprocess.Popen[bytes]] = []


def _keep(process: subprocess.Popen[bytes]) -> None:
    _launched[:] = [p for p in _launched if p.poll() is None]
    _launched.append(process)


class AppLaunch(DesktopBlock[LaunchInput]):
    """Start a program and wait for its window; the program keeps running after the step."""

    id = "app.launch"
    title = "Launch app"
    Input = LaunchInput
    Output = LaunchOutput

    def perform(self, inputs: LaunchInput, ctx: BlockContext, evidence: Evidence) -> LaunchOutput:
        import os

        pattern = _compile(ctx, inputs.window) if inputs.window else None
        env = {**os.environ, **inputs.env}
        cwd = resolve_path(ctx, inputs.cwd) if inputs.cwd else ctx.workflow_dir
        # windows open before the launch are never the launched program's
        before = {w.id for w in list_windows()} if pattern is not None else set()
        try:
            process = subprocess.Popen(
                inputs.command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise BlockError(
                f"program {inputs.command[0]!r} was not found", retryable=False
            ) from None
        except OSError as exc:
            raise BlockError(
                f"cannot start {inputs.command[0]!r}: {exc}", retryable=False
            ) from None
        _keep(process)
        ctx.log(f"started {inputs.command[0]} (pid {process.pid})", pid=process.pid)
        from automation.blocks.desktop import focus

        if pattern is None:
            focus.remember(ctx, pid=process.pid)  # keys that follow go to one of its windows
            return LaunchOutput(pid=process.pid, window_id=None, title=None, box=None)
        window = self._wait_window(ctx, inputs, process, pattern, before)
        focus.remember_window(ctx, window.id)
        return LaunchOutput(
            pid=process.pid, window_id=window.id, title=window.title, box=window.box.as_list()
        )

    def output_when_held(self, inputs: LaunchInput, ctx: BlockContext) -> LaunchOutput | None:
        """On resume, when ``expect`` names the window: that window, if exactly one matches."""
        from automation.blocks.desktop.expect import matching_windows

        condition = inputs.expect.window if inputs.expect is not None else None
        if condition is None or condition.state == "disappears":
            return None
        found = matching_windows(condition)
        if len(found) != 1 or found[0].pid is None:
            return None  # which one the step started cannot be told: it runs again if needed
        window = found[0]
        return LaunchOutput(
            pid=window.pid, window_id=window.id, title=window.title, box=window.box.as_list()
        )

    def _wait_window(
        self,
        ctx: BlockContext,
        inputs: LaunchInput,
        process: subprocess.Popen[bytes],
        pattern: str,
        before: set[int],
    ) -> WindowInfo:
        """The launched program's window: one of its process tree, else one that is new.

        A program that hands its work to a running instance and exits with 0
        (single-instance editors) opens its window from that instance: a window
        that appeared after the launch is accepted then, never an older one.
        """
        found: list[WindowInfo] = []
        family: set[int] = {process.pid}

        def look() -> bool:
            if process.poll() not in (None, 0):
                return True
            if process.poll() is None:
                family.update(_family(process.pid))
            fresh = [w for w in list_windows(pattern, include_hidden=False) if w.id not in before]
            found[:] = [w for w in fresh if w.pid in family] or fresh
            return bool(found)

        ok = ctx.wait_until(
            look, timeout=ctx.remaining(inputs.timeout) or inputs.timeout, interval=0.05
        )
        if not found and process.poll() not in (None, 0):
            raise BlockError(
                f"{inputs.command[0]} exited with code {process.returncode} "
                "before its window appeared"
            )
        if not ok:
            older = [w for w in list_windows(pattern) if w.id in before]
            note = (
                f"; windows open before the launch were not taken for it: {_listing(older)}"
                if older
                else ""
            )
            state = "is running" if process.poll() is None else "exited with code 0"
            raise BlockError(
                f"{inputs.command[0]} {state} (pid {process.pid}) but no new window title "
                f"matched {inputs.window!r} within {inputs.timeout:g}s{note}"
            )
        return found[0]


BLOCKS = (
    WindowList,
    WindowFocus,
    WindowMove,
    WindowResize,
    WindowMinimize,
    WindowClose,
    WindowWait,
    AppLaunch,
)
