"""Input goes where the step means it to: the focus check before typing, pressing and clicking.

Keys go to whichever window has the focus, and a click to whichever window
is under the point.  Two ways that goes wrong and still "succeeds":

* a modal dialog (Save As, a confirmation) is open over the window: a
  window manager gives the focus to the dialog, so the text lands in the
  dialog's field; without one the window keeps the focus, and its toolkit
  drops every key and click while the dialog is open;
* another window took the focus (a notification, a second instance).

So before it acts, an input step looks.  With ``window:`` naming the window
it means (title, window id or pid, as the window blocks take them), the
focused window (for keys) or the window under the point (for clicks) must
be that window, or a window transient for it that is not modal, and that
window must have no modal dialog open.  Without ``window:`` the step still
refuses a window that has a modal dialog of its own open.  A refusal names
both windows and leaves a screenshot with the target (blue) and the window
in the way (red) drawn on it.

The decision is a pure function of what was seen (``focus_problem``); the
X11 part reads ``WM_TRANSIENT_FOR`` and ``_NET_WM_STATE_MODAL``.  Off X11
(no display, another platform) there is nothing to read and nothing is
refused.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.expect import ActionInput
from automation.blocks.desktop.windows import WindowSelector
from automation.errors import BlockError


class AimedInput(ActionInput):
    """An input action that may name the window it is meant for."""

    window: WindowSelector | None = Field(
        default=None,
        description=(
            "the window this input is meant for: {title: regex}, {window_id: ...} or "
            "{pid: ...} (e.g. from app.launch); the step fails, with a screenshot, if "
            "another window or a modal dialog would get the input"
        ),
    )


def aim(
    ctx: BlockContext,
    inputs: AimedInput,
    evidence: Evidence,
    doing: str,
    point: tuple[int, int] | None = None,
) -> None:
    """Check, before an input block acts, that its input reaches the window it means."""
    check_input_target(ctx, inputs.window, evidence, doing=doing, point=point)


@dataclass(frozen=True)
class Win:
    """A top-level window as far as the focus check cares."""

    id: int
    title: str
    #: The windows it is transient for, nearest first (a dialog's owner, its owner...).
    owners: tuple[int, ...] = ()
    modal: bool = False
    box: Box | None = None

    def describe(self) -> str:
        kind = "modal dialog " if self.modal else ""
        return f"{kind}{self.title or '(untitled)'!r} (id {self.id})"


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


def check_input_target(
    ctx: BlockContext,
    selector: WindowSelector | None,
    evidence: Evidence,
    *,
    doing: str,
    point: tuple[int, int] | None = None,
) -> Win | None:
    """Raise ``WrongWindow`` with evidence if input now would not reach the meant window.

    Returns the window the input goes to (None off X11 or when none is known).
    """
    if not (sys.platform.startswith("linux") and os.environ.get("DISPLAY")):
        return None
    from automation.blocks.desktop.windows import _one, connect

    with connect() as conn:  # one connection for the whole check: opening one costs more
        target_info = _one(ctx, selector, 0.0, conn) if selector is not None else None
        subject_id = _window_at(conn, point) if point is not None else _focused(conn)
        subject = _read(conn, subject_id) if subject_id is not None else None
        target = _read(conn, target_info.id) if target_info is not None else None
        blocked = target if target is not None else subject
        modals = _modals_of(conn, blocked.id) if blocked is not None else []
    problem = focus_problem(target=target, subject=subject, modals=modals, doing=doing)
    if problem is None:
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
    try:
        current = window
        while len(owners) < 8:  # a loop of transients would be a client bug
            owner = current.get_full_property(_atom(conn, "WM_TRANSIENT_FOR"), 0)
            if owner is None or not len(owner.value) or int(owner.value[0]) in (0, *owners):
                break
            owners.append(int(owner.value[0]))
            current = conn.create_resource_object("window", owners[-1])
        state = window.get_full_property(_atom(conn, "_NET_WM_STATE"), 0)
        modal = state is not None and _atom(conn, "_NET_WM_STATE_MODAL") in list(state.value)
        geometry = window.get_geometry()
        origin = window.translate_coords(conn.screen().root, 0, 0)
        box = Box(-int(origin.x), -int(origin.y), int(geometry.width), int(geometry.height))
    except Exception:  # it went away while we looked: what we have is what there is
        pass
    return Win(window_id, title_of(conn, window) or "", tuple(owners), modal, box)


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
