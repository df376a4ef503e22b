"""Input goes where the step means it to: the focus check before typing, pressing and clicking.

Keys go to whichever window has the focus, and a click to whichever window
is under the point.  Ways that goes wrong and still "succeeds":

* a modal dialog (Save As, a confirmation) is open over the window: a
  window manager gives the focus to the dialog, so the text lands in the
  dialog's field; without one the window keeps the focus, and its toolkit
  drops every key and click while the dialog is open;
* another window took the focus (a notification, an error box, a second
  instance) since the run's last desktop step acted on its window.

So before it acts, an input step looks.  With ``window:`` naming the window
it means (title, window id or pid, as the window blocks take them), the
focused window (for keys) or the window under the point (for clicks) must
be that window, or a window transient for it that is not modal, and that
window must have no modal dialog open.

Without ``window:`` a key step (``keyboard.type``, ``press``, ``hotkey``,
``key_down``) holds the focused window to the one the run's last desktop
step acted on: the window ``window.focus`` focused, ``app.launch`` opened,
``window.wait`` or a ``window`` postcondition saw appear, a click landed on,
or the last keys went to.  Focus on any other top-level window, a dialog of
the same app included, is refused: a dialog that appeared by itself ("Save
changes?", an error box) must not receive text meant for the document.  A
flow that means to type into the dialog it opened says so: ``window.wait``
or ``expect: {window: ...}`` for it, ``window:`` naming it, or
``window: any`` (whatever has the focus, only a modal-blocked window is
refused).  When the remembered window has closed (a dialog the run typed
into was confirmed), the window it was transient for may have the focus
back.  A run's first desktop step has nothing to compare with.  The memory
(``BlockContext.run_state``, kept there in JSON form, ``Expected.to_json``)
is recorded with each finished step, so a run resumed on a new worker after
a crash or a hang checks the focus as the first worker would have.  Without ``window:`` any input still refuses a window that has a
modal dialog of its own open; a bare pointer move is not refused (it
changes nothing in the window under it; a hover that matters is checked
with ``expect:``).

A refusal names both windows (title, class, pid) and leaves a screenshot
with the target (blue) and the window in the way (red) drawn on it.

The decision is a pure function of what was seen (``focus_problem``); the
X11 part reads ``WM_TRANSIENT_FOR`` and ``_NET_WM_STATE_MODAL``.  Off X11
(no display, another platform) there is nothing to read and nothing is
refused.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.expect import ActionInput
from automation.blocks.desktop.windows import WindowSelector
from automation.errors import BlockError

#: How an input reaches its window: ``keys`` through the focus; ``click`` (a press:
#: click, drag, scroll) and ``hover`` (a bare move) at a point.
Kind = Literal["keys", "click", "hover"]
#: The ``run_state`` key of the window the run's last desktop step acted on.
_EXPECTED = "desktop.expected_window"


class AimedInput(ActionInput):
    """An input action that may name the window it is meant for."""

    window: WindowSelector | Literal["any"] | None = Field(
        default=None,
        description=(
            "the window this input is meant for: {title: regex}, {window_id: ...} or "
            "{pid: ...} (e.g. from app.launch); the step fails, with a screenshot, if "
            "another window or a modal dialog would get the input. Unset: keys must go "
            "to the window the run's last desktop step acted on; 'any': whatever has "
            "the focus"
        ),
    )


def aim(
    ctx: BlockContext,
    inputs: AimedInput,
    evidence: Evidence,
    doing: str,
    point: tuple[int, int] | None = None,
    *,
    kind: Kind | None = None,
    conn: Any | None = None,
    record: bool = True,
) -> Win | None:
    """Check, before an input block acts, that its input reaches the window it means.

    ``kind`` defaults to ``keys`` without a point and ``click`` with one.
    """
    how: Kind = kind or ("keys" if point is None else "click")
    return check_input_target(
        ctx, inputs.window, evidence, doing=doing, point=point, kind=how, conn=conn,
        record=record,
    )  # fmt: skip


@dataclass(frozen=True)
class Win:
    """A top-level window as far as the focus check cares."""

    id: int
    title: str
    #: The windows it is transient for, nearest first (a dialog's owner, its owner...).
    owners: tuple[int, ...] = ()
    modal: bool = False
    box: Box | None = None
    wm_class: tuple[str, ...] = ()
    pid: int | None = None

    def describe(self) -> str:
        kind = "modal dialog " if self.modal else ""
        return f"{kind}{self.title or '(untitled)'!r} (id {self.id})"

    def details(self) -> str:
        """``describe`` with its class and process: what a person needs to find it."""
        extra = [f"class {'/'.join(self.wm_class)}"] if self.wm_class else []
        if self.pid is not None:
            extra.append(f"pid {self.pid}")
        if self.owners:
            extra.append(f"transient for {self.owners[0]}")
        inner = f"id {self.id}" + "".join(f", {part}" for part in extra)
        kind = "modal dialog " if self.modal else ""
        return f"{kind}{self.title or '(untitled)'!r} ({inner})"


@dataclass(frozen=True)
class Expected:
    """The window the run's last desktop step acted on, which keys without ``window:`` need."""

    #: The node that acted on it, for messages.
    node: str
    #: The window (the top of its non-modal transients), or None when only ``pid`` is known.
    win: Win | None = None
    #: A program ``app.launch`` started without naming its window: any of its windows.
    pid: int | None = None

    def describe(self) -> str:
        if self.win is not None:
            return f"{self.win.details()}, the window node '{self.node}' acted on"
        return f"a window of process {self.pid}, which node '{self.node}' started"

    def to_json(self) -> dict[str, Any]:
        """The form the run state keeps (and history records, for a resumed run)."""
        win = self.win
        return {
            "node": self.node,
            "pid": self.pid,
            "win": None
            if win is None
            else {
                "id": win.id,
                "title": win.title,
                "owners": list(win.owners),
                "modal": win.modal,
                "box": None if win.box is None else win.box.as_list(),
                "wm_class": list(win.wm_class),
                "pid": win.pid,
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Expected | None:
        """The memory back from ``to_json``; None for anything else (it is not trusted)."""
        try:
            raw = data["win"]
            win = None
            if raw is not None:
                box = raw["box"]
                win = Win(
                    int(raw["id"]),
                    str(raw["title"]),
                    tuple(int(o) for o in raw["owners"]),
                    bool(raw["modal"]),
                    None if box is None else Box(*(int(v) for v in box)),
                    tuple(str(c) for c in raw["wm_class"]),
                    None if raw["pid"] is None else int(raw["pid"]),
                )
            pid = data["pid"]
            found = cls(str(data["node"]), win, None if pid is None else int(pid))
        except (KeyError, TypeError, ValueError):
            return None
        return found if found.win is not None or found.pid is not None else None


def remember(ctx: BlockContext, win: Win | None = None, *, pid: int | None = None) -> None:
    """Make ``win`` (or any window of process ``pid``) the window the next keys must reach."""
    if win is None and pid is None:
        ctx.run_state.pop(_EXPECTED, None)
        return
    ctx.run_state[_EXPECTED] = Expected(ctx.node_id, win, pid).to_json()


def recall(ctx: BlockContext) -> Expected | None:
    found = ctx.run_state.get(_EXPECTED)
    return None if found is None else Expected.from_json(found)


def remember_window(ctx: BlockContext, window_id: int, conn: Any | None = None) -> None:
    """``remember`` a window by id (for window blocks and postconditions); off X11, nothing."""
    if not _x11():
        return
    from automation.blocks.desktop.windows import reuse

    with reuse(conn) as c:
        remember(ctx, _top(c, _read(c, window_id)))


class WrongWindow(BlockError):
    """The input would go to another window than the one the step means."""


def focus_problem(
    *, target: Win | None, subject: Win | None, modals: list[Win], doing: str
) -> str | None:
    """Why ``doing`` must not go ahead, or None.

    ``subject`` is the window the input would reach (the focused one for keys,
    the one under the point for a click); ``target`` the window the step
    names (None when it names none); ``modals`` the mapped modal windows
    transient for ``target`` (or for ``subject`` when there is no target).
    """
    blocked = target if target is not None else subject
    if target is not None:
        if subject is None:
            return f"no window would get the input; {doing} is meant for {target.describe()}"
        if subject.id != target.id:
            if target.id in subject.owners and not subject.modal:
                return None  # a tool window or popup of the target: part of it
            return (
                f"{subject.describe()} would get the input, not {target.describe()}; "
                f"{doing} refused"
            )
    if blocked is not None and modals:
        dialog = modals[0]
        return (
            f"{dialog.describe()} is open over {blocked.describe()}, which ignores input "
            f"until it closes; {doing} refused (close the dialog first, or name it as the "
            "step's window)"
        )
    return None


def expectation_problem(
    *, expected: Expected, now: Win | None, family: set[int], subject: Win | None, doing: str
) -> str | None:
    """Why keys without ``window:`` must not go ahead, judged against the run's last window.

    ``now`` is the remembered window as it is now (None when it is gone or
    unmapped); ``family`` the ids of the windows of the remembered process
    (``pid`` expectations).  The focused window must be the remembered one or
    a non-modal transient of it; when the remembered window is gone, a window
    it was transient for (a confirmed dialog's owner) may have the focus.
    """
    fix = (
        f". If {doing} is meant for it, name it with window: (or window.focus it, or wait for "
        "it with window.wait first); window: any sends it to whatever has the focus"
    )
    if subject is None:
        return f"no window has the focus; {doing} is meant for {expected.describe()}; refused"
    if expected.win is None:
        if subject.id in family or (not subject.modal and family & set(subject.owners)):
            return None
        return f"{subject.details()} has the focus, not {expected.describe()}; {doing} refused{fix}"
    if now is None:
        if subject.id in expected.win.owners:
            return None  # the dialog the run typed into was confirmed: back to its owner
        return (
            f"{expected.describe()} is gone or hidden, and {subject.details()} has the focus; "
            f"{doing} refused{fix}"
        )
    if subject.id == now.id or (now.id in subject.owners and not subject.modal):
        return None
    return (
        f"{subject.details()} has the focus, not {expected.describe()} last: it took the "
        f"focus since then; {doing} refused{fix}"
    )


def _x11() -> bool:
    return sys.platform.startswith("linux") and bool(os.environ.get("DISPLAY"))


def check_input_target(
    ctx: BlockContext,
    selector: WindowSelector | Literal["any"] | None,
    evidence: Evidence,
    *,
    doing: str,
    point: tuple[int, int] | None = None,
    kind: Kind = "keys",
    conn: Any | None = None,
    record: bool = True,
) -> Win | None:
    """Raise ``WrongWindow`` with evidence if input now would not reach the meant window.

    On success the window it reaches becomes the run's expected window (for
    keys and clicks, when ``record``).  Returns the window the input goes
    to (None off X11 or when none is known).
    """
    if not _x11():
        return None
    from automation.blocks.desktop.windows import _family, _one, matching, reuse

    named = selector if isinstance(selector, WindowSelector) else None
    expected = recall(ctx) if kind == "keys" and selector is None else None
    now: Win | None = None
    family: set[int] = set()
    with reuse(conn) as c:  # one connection for the whole check: opening one costs more
        target_info = _one(ctx, named, 0.0, c) if named is not None else None
        subject_id = _window_at(c, point) if point is not None else _focused(c)
        subject = _read(c, subject_id) if subject_id is not None else None
        target = _read(c, target_info.id) if target_info is not None else None
        blocked = target if target is not None else subject
        check_modals = kind != "hover" or named is not None
        modals = _modals_of(c, blocked.id) if blocked is not None and check_modals else []
        if expected is not None and expected.win is not None:
            now = _read(c, expected.win.id) if _viewable(c, expected.win.id) else None
        elif expected is not None and expected.pid is not None:
            family = {w.id for w in matching(ctx, WindowSelector(pid=expected.pid), c)}
            # a window without _NET_WM_PID (xmessage): its pid came from the server
            if subject is not None and subject.pid in _family(expected.pid):
                family.add(subject.id)
        problem = focus_problem(target=target, subject=subject, modals=modals, doing=doing)
        if problem is None and expected is not None:
            problem = expectation_problem(
                expected=expected, now=now, family=family, subject=subject, doing=doing
            )
            if problem is not None:
                target = now if now is not None else expected.win
        if problem is None:
            if record and kind != "hover":
                reached = target if target is not None else subject
                remember(ctx, _top(c, reached) if reached is not None else None)
            return subject
    in_the_way = modals[0] if modals else subject
    if target is not None and target.box is not None:
        evidence.region = target.box
        evidence.region_label = f"meant for: {target.title}"[:60]
    if in_the_way is not None and in_the_way.box is not None:
        evidence.candidate = in_the_way.box
        evidence.candidate_label = f"in the way: {in_the_way.title}"[:60]
    evidence.label = "input refused: it would reach the wrong window"
    raise WrongWindow(f"node '{ctx.node_id}': {problem}")


# -- X11 -----------------------------------------------------------------------------------


def _focused(conn: Any) -> int | None:
    from Xlib import X  # type: ignore[import-untyped]

    from automation.blocks.desktop.text_entry import _client

    root = conn.screen().root
    focus = conn.get_input_focus().focus
    if isinstance(focus, int) or focus.id in (X.NONE, X.PointerRoot, root.id):
        focus = root.query_pointer().child  # PointerRoot: keys go where the pointer is
        if isinstance(focus, int) or focus.id == X.NONE:
            return None
    client = _client(conn, focus, root)
    return int(client.id) if client is not None else int(focus.id)


def _window_at(conn: Any, point: tuple[int, int]) -> int | None:
    from Xlib import X

    from automation.blocks.desktop.text_entry import _client

    root = conn.screen().root
    child = root.translate_coords(root, point[0], point[1]).child
    if isinstance(child, int) or child.id == X.NONE:
        return None
    client = _client(conn, child, root)
    return int(client.id) if client is not None else int(child.id)


def _read(conn: Any, window_id: int) -> Win:
    from automation.blocks.desktop.windows import _atom, title_of

    window = conn.create_resource_object("window", window_id)
    owners: list[int] = []
    modal = False
    box = None
    wm_class: tuple[str, ...] = ()
    pid = None
    try:
        current = window
        while len(owners) < 8:  # a loop of transients would be a client bug
            owner = current.get_full_property(_atom(conn, "WM_TRANSIENT_FOR"), 0)
            root = int(conn.screen().root.id)  # transient for the root: for its group
            if owner is None or not len(owner.value) or int(owner.value[0]) in (0, root, *owners):
                break
            owners.append(int(owner.value[0]))
            current = conn.create_resource_object("window", owners[-1])
        state = window.get_full_property(_atom(conn, "_NET_WM_STATE"), 0)
        modal = state is not None and _atom(conn, "_NET_WM_STATE_MODAL") in list(state.value)
        wm_class = tuple(str(name) for name in window.get_wm_class() or ())
        pid_prop = window.get_full_property(_atom(conn, "_NET_WM_PID"), 0)
        pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else None
        if pid is None:  # no _NET_WM_PID (xmessage, old toolkits): ask the server
            from automation.blocks.desktop.selection import _client_pid

            pid = _client_pid(conn, window_id)
        geometry = window.get_geometry()
        origin = window.translate_coords(conn.screen().root, 0, 0)
        box = Box(-int(origin.x), -int(origin.y), int(geometry.width), int(geometry.height))
    except Exception:  # it went away while we looked: what we have is what there is
        pass
    return Win(window_id, title_of(conn, window) or "", tuple(owners), modal, box, wm_class, pid)


def _viewable(conn: Any, window_id: int) -> bool:
    from Xlib import X

    try:
        window = conn.create_resource_object("window", window_id)
        return bool(window.get_attributes().map_state == X.IsViewable)
    except Exception:  # destroyed
        return False


def _top(conn: Any, win: Win) -> Win:
    """The window to remember for ``win``: itself, or for a non-modal transient (a find
    bar, a popup) the window it belongs to, so keys may go to either next time."""
    current = win
    for _ in range(8):
        if current.modal or not current.owners or not _viewable(conn, current.owners[0]):
            break
        current = _read(conn, current.owners[0])
    return current


def _modals_of(conn: Any, owner_id: int) -> list[Win]:
    """Mapped modal windows transient for ``owner_id`` (directly or through another dialog)."""
    from Xlib import X

    from automation.blocks.desktop.windows import _clients

    found = []
    for window in _clients(conn):
        if int(window.id) == owner_id:
            continue
        try:
            if window.get_attributes().map_state != X.IsViewable:
                continue
        except Exception:
            continue
        win = _read(conn, int(window.id))
        if win.modal and owner_id in win.owners:
            found.append(win)
    return found


#: Seconds a window manager has to move the focus after window.focus asked it to.
FOCUS_SETTLE = 2.0


def settle_focus(ctx: BlockContext, window_id: int, evidence: Evidence) -> None:
    """After ``window.focus``: the window has the focus, and no modal dialog of its own is open.

    A window manager answers the request asynchronously, so this waits up to
    ``FOCUS_SETTLE``; a modal dialog that took the focus instead fails the
    step, since the next keys would land in the dialog.
    """
    selector = WindowSelector(window_id=window_id)

    def focused() -> bool:
        try:
            check_input_target(ctx, selector, Evidence(), doing="focusing it")
        except WrongWindow:
            return False
        return True

    if ctx.wait_until(focused, timeout=FOCUS_SETTLE, interval=0.05):
        return
    check_input_target(ctx, selector, evidence, doing="focusing it")  # raises, with evidence
