"""UI elements through the accessibility bus (AT-SPI): find, click, read and set text, wait.

Pixels change with themes, scales and fonts; the accessibility tree names a
button "7" whatever it looks like.  This module is the small API the ``ui.*``
blocks, ``keyboard.type verify``, text postconditions and the recorder share::

    element = find("app=galculator / ... / button[name=7]")   # one Element, or an error
    click(element)                                            # its action, else its box
    read_text(find("app=galculator / ... / text"))            # '7'
    set_text(element, "hello")                                # and read back
    wait_for("app=mousepad / ... / push button[name=Save]", state="enabled", timeout=5)
    focused_element()                                         # where typing goes, or None
    element_at(812, 440).path                                 # a selector that finds it again

Selectors are described in ``selector.py``.  A find is "right or loud": no
match raises ``ElementNotFound`` naming the step that matched nothing and the
closest elements there; several matches raise ``ElementAmbiguous`` listing
them with their boxes, and the selector (``index=``, a name, a parent step) or
the caller's ``index`` must say which.  Only elements that are showing are
searched unless ``showing_only=False`` (hidden menus and off-screen pages
would otherwise make almost every selector ambiguous).

Boxes are in screen pixels: at a toolkit scale (``GDK_SCALE=2``,
``QT_SCALE_FACTOR=2``) the logical positions AT-SPI reports are multiplied by
the ratio between the app's X window and its accessible window.

Requirements (Debian): ``at-spi2-core`` and ``gir1.2-atspi-2.0`` on the system,
PyGObject in the environment.  GTK 3 apps join the bus by themselves; Qt 5/6
apps need ``QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1`` in their environment (or a
desktop that turns accessibility on), and the accessibility bus
(``/usr/libexec/at-spi-bus-launcher``) must be running before they start.
``gi`` is imported on first use, never when the block registry loads.
libatspi connects to one accessibility bus per process, found through the
display (the root window's ``AT_SPI_BUS``) or the session bus the first time
it is used, and keeps it: a process works with one desktop session, as a
worker does.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from automation.blocks.desktop import selector as sel
from automation.blocks.desktop.display import Box
from automation.errors import BlockError

logger = logging.getLogger(__name__)

#: State names a wait may ask for (AT-SPI's, with '-' for '_').
STATES = frozenset(
    {
        "active", "armed", "busy", "checked", "collapsed", "defunct", "editable", "enabled",
        "expandable", "expanded", "focusable", "focused", "has-tooltip", "horizontal",
        "iconified", "indeterminate", "modal", "multi-line", "multiselectable", "opaque",
        "pressed", "resizable", "selectable", "selected", "sensitive", "showing",
        "single-line", "stale", "transient", "vertical", "visible", "visited", "read-only",
        "checkable", "required", "invalid-entry",
    }
)  # fmt: skip
#: Action names that mean "press it", in the order they are preferred.
CLICK_ACTIONS = ("click", "press", "activate", "toggle", "jump", "open")
_HINT = (
    "install at-spi2-core and gir1.2-atspi-2.0 (apt) and PyGObject (pip); "
    "start Qt apps with QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1"
)
_lock = threading.RLock()
_atspi_module: Any = None


class AccessibilityError(BlockError):
    """Root of this module's errors."""


class AccessibilityUnavailable(AccessibilityError):
    """PyGObject/Atspi is missing, or no accessibility bus answers."""

    retryable = False


class ElementNotFound(AccessibilityError):
    """Nothing matches the selector; ``closest`` lists what was there instead."""

    def __init__(self, message: str, closest: Sequence[Element] = ()) -> None:
        super().__init__(message)
        self.closest = list(closest)


class ElementAmbiguous(AccessibilityError):
    """Several elements match; ``matches`` lists them so the selector can be narrowed."""

    retryable = False

    def __init__(self, message: str, matches: Sequence[Element]) -> None:
        super().__init__(message)
        self.matches = list(matches)


@dataclass(frozen=True)
class Element:
    """A snapshot of one UI element; ``handle`` is the live Atspi.Accessible."""

    role: str
    name: str
    app: str
    pid: int | None
    box: Box | None
    states: frozenset[str]
    #: the selector path from the application to this element, one step per level
    path: str
    handle: Any = field(default=None, repr=False, compare=False)

    @property
    def center(self) -> tuple[int, int] | None:
        return self.box.center if self.box is not None else None

    def describe(self) -> str:
        where = f" at {self.box.as_list()}" if self.box is not None else ""
        return f'{self.role} "{self.name}"{where} in {self.app}'

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "app": self.app,
            "pid": self.pid,
            "box": self.box.as_list() if self.box is not None else None,
            "states": sorted(self.states),
            "path": self.path,
        }


# -- the bus -------------------------------------------------------------------------------


def atspi() -> Any:
    """The Atspi module from PyGObject, imported on first use."""
    global _atspi_module
    with _lock:
        if _atspi_module is None:
            try:
                import gi  # type: ignore[import-untyped]

                gi.require_version("Atspi", "2.0")
                from gi.repository import Atspi  # type: ignore[import-untyped]
            except (ImportError, ValueError) as exc:
                raise AccessibilityUnavailable(
                    f"accessibility (AT-SPI) is not available: {exc}; {_HINT}"
                ) from None
            _atspi_module = Atspi
        return _atspi_module


class _Node:
    """One accessible, its role/name/states read once per search, children on demand."""

    __slots__ = (
        "acc", "app", "parent", "role", "name", "states", "_children", "_showing_only", "scale"
    )  # fmt: skip

    def __init__(
        self, acc: Any, app: _App | None, parent: _Node | None, showing_only: bool
    ) -> None:
        self.acc = acc
        self.app = app
        self.parent = parent
        self._showing_only = showing_only
        self._children: list[_Node] | None = None
        self.scale: float | None = None  # display_scale() of a top-level window, once known
        try:
            self.role = acc.get_role_name() or ""
            self.name = acc.get_name() or ""
            self.states = _states(acc)
        except Exception:  # the element went away while we looked: treat it as hidden
            self.role, self.name, self.states = "", "", frozenset({"defunct"})

    def children(self) -> list[_Node]:
        if self._children is None:
            found: list[_Node] = []
            try:
                count = self.acc.get_child_count()
            except Exception:
                count = 0
            for index in range(count):
                try:
                    child = self.acc.get_child_at_index(index)
                except Exception:
                    continue
                if child is None:
                    continue
                node = _Node(child, self.app, self, self._showing_only)
                if not self._showing_only or "showing" in node.states:
                    found.append(node)
            self._children = found
        return self._children


class _App(_Node):
    __slots__ = ("pid",)

    def __init__(self, acc: Any, showing_only: bool) -> None:
        super().__init__(acc, None, None, showing_only)
        self.app = self
        try:
            self.pid: int | None = int(acc.get_process_id())
        except Exception:
            self.pid = None


def _states(acc: Any) -> frozenset[str]:
    return frozenset(
        str(state.value_nick).replace("_", "-") for state in acc.get_state_set().get_states()
    )


def applications(showing_only: bool = True) -> list[_App]:
    """Every application on the accessibility bus."""
    Atspi = atspi()
    with _lock:
        try:
            desktop = Atspi.get_desktop(0)
            count = desktop.get_child_count()
        except Exception as exc:
            raise AccessibilityUnavailable(f"cannot reach the accessibility bus: {exc}") from None
        apps = []
        for index in range(count):
            try:
                acc = desktop.get_child_at_index(index)
            except Exception:
                continue
            if acc is not None:
                apps.append(_App(acc, showing_only))
        return apps


def _box(acc: Any) -> Box | None:
    Atspi = atspi()
    try:
        rect = Atspi.Component.get_extents(acc, Atspi.CoordType.SCREEN)
    except Exception:
        return None
    if rect.width <= 0 or rect.height <= 0 or rect.x < -100000 or rect.y < -100000:
        return None  # GTK reports hidden widgets at INT_MIN
    return Box(int(rect.x), int(rect.y), int(rect.width), int(rect.height))


def _window_of(node: _Node) -> _Node:
    """The top-level window (child of the application) that holds ``node``."""
    current = node
    while current.parent is not None and current.parent.parent is not None:
        current = current.parent
    return current


def display_scale(window: _Node) -> float:
    """Screen pixels per accessibility pixel for one top-level window.

    GTK (``GDK_SCALE``) and Qt (``QT_SCALE_FACTOR``) report positions in logical pixels:
    at 200 % a key at (6, 183) is drawn at (12, 366).  The X window of the same process
    and shape tells the ratio; 1.0 when there is no X window to compare with.
    """
    if window.scale is None:
        window.scale = _measure_scale(window)
    return window.scale


def _measure_scale(window: _Node) -> float:
    box = _box(window.acc)
    app = window.app
    if box is None or app is None or app.pid is None:
        return 1.0
    try:
        from automation.blocks.desktop.windows import list_windows

        candidates = [w.box for w in list_windows(include_hidden=False) if w.pid == app.pid]
    except Exception:  # no X (Wayland): coordinates are taken as they are
        return 1.0
    best = 1.0
    for other in candidates:
        ratio_x, ratio_y = other.width / box.width, other.height / box.height
        if abs(ratio_x - ratio_y) <= 0.02 * max(ratio_x, ratio_y):
            best = round((ratio_x + ratio_y) / 2, 2)
            if abs(best - 1.0) < 0.05:
                return 1.0
            break
    return best


def _scaled(box: Box | None, scale: float) -> Box | None:
    if box is None or scale == 1.0:
        return box
    return Box(
        round(box.x * scale),
        round(box.y * scale),
        round(box.width * scale),
        round(box.height * scale),
    )


def _full_path(node: _Node) -> str:
    """A selector with one step per level from the application down to ``node``."""
    chain: list[_Node] = []
    current: _Node | None = node
    while current is not None and current.parent is not None:
        chain.append(current)
        current = current.parent
    chain.reverse()
    app = node.app
    steps: list[sel.Step] = []
    for level in chain:
        parent = level.parent
        assert parent is not None
        twins = [c for c in parent.children() if c.role == level.role and c.name == level.name]
        index = next(i for i, c in enumerate(twins) if c is level) if len(twins) > 1 else None
        steps.append(sel.Step(role=level.role, name=level.name or None, index=index))
    if not steps:
        return f"app={sel.quote(app.name)}" if app else ""
    name = app.name if app is not None else None
    return str(sel.Selector(tuple(steps), app=name))


def _element(node: _Node, path: str | None = None) -> Element:
    app = node.app
    return Element(
        role=node.role,
        name=node.name,
        app=app.name if app is not None else "",
        pid=app.pid if app is not None else None,
        box=_scaled(_box(node.acc), display_scale(_window_of(node)) if node.parent else 1.0),
        states=node.states,
        path=path if path is not None else _full_path(node),
        handle=node.acc,
    )


# -- finding -------------------------------------------------------------------------------


def parse(selector: str | sel.Selector) -> sel.Selector:
    if isinstance(selector, sel.Selector):
        return selector
    try:
        return sel.parse(selector)
    except sel.SelectorError as exc:
        raise AccessibilityError(f"bad selector: {exc}", retryable=False) from None


def _scoped(selector: sel.Selector, showing_only: bool) -> list[_App]:
    apps = applications(showing_only)
    wanted = [app for app in apps if selector.wants_app(app.name, app.pid)]
    if not wanted:
        names = ", ".join(sorted({f"{a.name} (pid {a.pid})" for a in apps})) or "none"
        raise ElementNotFound(
            f"no application matches {selector.scope()!r} on the accessibility bus; "
            f"running there: {names}. A Qt app needs QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1 and "
            "the accessibility bus started before it"
        )
    return wanted


def find_all(selector: str | sel.Selector, *, showing_only: bool = True) -> list[Element]:
    """Every element the selector names, in tree order; [] when none."""
    parsed = parse(selector)
    with _lock:
        try:
            apps = _scoped(parsed, showing_only)
        except ElementNotFound:
            return []
        result = sel.match(parsed, apps)
        if isinstance(result, sel.NoMatch):
            return []
        return [_element(node) for node in result if isinstance(node, _Node)]


def find(
    selector: str | sel.Selector, *, index: int | None = None, showing_only: bool = True
) -> Element:
    """The one element the selector names; ``index`` picks among several (tree order).

    Raises ``ElementNotFound`` (with the closest elements) or ``ElementAmbiguous``.
    """
    parsed = parse(selector)
    with _lock:
        apps = _scoped(parsed, showing_only)
        result = sel.match(parsed, apps)
        if isinstance(result, sel.NoMatch):
            closest = [_element(n) for n in result.closest if isinstance(n, _Node)]
            listing = "".join(f"\n  - {e.describe()}: {e.path}" for e in closest)
            step = parsed.steps[result.step]
            raise ElementNotFound(
                f"no element matches {str(parsed)!r}: step {result.step + 1} ({step}) matched "
                f"none of {result.searched} elements"
                + (f"; the closest are:{listing}" if listing else ""),
                closest,
            )
        nodes = [n for n in result if isinstance(n, _Node)]
        if index is not None:
            if index >= len(nodes):
                raise ElementNotFound(
                    f"index {index} asked for, but {str(parsed)!r} matches {len(nodes)} element(s)"
                )
            return _element(nodes[index])
        if len(nodes) > 1:
            matches = [_element(n) for n in nodes]
            listing = "".join(
                f"\n  - [{i}] {e.describe()}: {e.path}" for i, e in enumerate(matches)
            )
            raise ElementAmbiguous(
                f"ambiguous selector {str(parsed)!r}: {len(nodes)} elements match; name one by "
                f"index (the number in brackets), a name or a parent step:{listing}",
                matches,
            )
        return _element(nodes[0])


def wait_for(
    selector: str | sel.Selector,
    *,
    state: str | None = "showing",
    present: bool = True,
    timeout: float = 5.0,
    interval: float = 0.1,
    index: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Element | None:
    """Wait until the element exists with ``state`` (or, ``present=False``, until it is gone
    or lacks it).  Returns the element (None when it went away); raises on timeout.

    Hidden elements are searched too, so "wait until enabled" sees a disabled button.
    """
    if state is not None and state not in STATES:
        raise AccessibilityError(
            f"unknown state {state!r}; use one of {', '.join(sorted(STATES))}", retryable=False
        )
    parsed = parse(selector)
    deadline = time.monotonic() + timeout
    last: Element | None = None
    last_error: AccessibilityError | None = None
    while True:
        try:
            last = find(parsed, index=index, showing_only=state == "showing")
            last_error = None
            has = state is None or state in last.states
        except ElementNotFound as exc:
            last, last_error, has = None, exc, False
        if has == present:
            return last
        if time.monotonic() >= deadline:
            break
        sleep(min(interval, max(0.0, deadline - time.monotonic())))
    what = f"{str(parsed)!r}" + (f" with state {state!r}" if state else "")
    if present:
        seen = f"; it is there with states {sorted(last.states)}" if last is not None else ""
        more = f" ({last_error})" if last_error is not None else ""
        raise AccessibilityError(f"{what} did not appear within {timeout:g}s{seen}{more}")
    assert last is not None
    raise AccessibilityError(f"{what} was still there after {timeout:g}s: {last.describe()}")


# -- acting --------------------------------------------------------------------------------


def actions(element: Element) -> list[str]:
    Atspi = atspi()
    with _lock:
        try:
            count = Atspi.Action.get_n_actions(element.handle)
            with warnings.catch_warnings():
                # get_action_name is deprecated for get_name, which bookworm's typelib lacks
                warnings.simplefilter("ignore", DeprecationWarning)
                return [str(Atspi.Action.get_action_name(element.handle, i)) for i in range(count)]
        except Exception:
            return []


def click(
    element: Element,
    *,
    method: str = "auto",
    before_mouse: Callable[[tuple[int, int]], None] | None = None,
) -> str:
    """Press the element: through its action (``action``), a mouse click on the centre of its
    box (``mouse``), or the action when it has one and the mouse otherwise (``auto``).

    ``before_mouse`` is called with the point just before a mouse click (the ui.click
    block checks there that the click reaches the element's window); it may raise.
    Returns how it was clicked ("action:<name>" or "mouse").
    """
    if method not in ("auto", "action", "mouse"):
        raise AccessibilityError(f"unknown click method {method!r}", retryable=False)
    if method in ("auto", "action"):
        names = [n.lower() for n in actions(element)]
        for wanted in CLICK_ACTIONS:
            if wanted in names:
                Atspi = atspi()
                with _lock:
                    ok = Atspi.Action.do_action(element.handle, names.index(wanted))
                if not ok:
                    raise AccessibilityError(f"{element.describe()} refused the action {wanted!r}")
                return f"action:{wanted}"
        if method == "action":
            raise AccessibilityError(
                f"{element.describe()} has no press action (it has {names or 'none'}); "
                "use method: mouse",
                retryable=False,
            )
    if element.box is None:
        raise AccessibilityError(
            f"{element.describe()} reports no position on screen, so it cannot be clicked with "
            "the mouse"
        )
    from automation.blocks.desktop.display import gui

    x, y = element.box.center
    if before_mouse is not None:
        before_mouse((x, y))
    gui().click(x, y)
    return "mouse"


def read_text(element: Element) -> str:
    """The element's text (its Text interface); its name when it has no text of its own."""
    Atspi = atspi()
    with _lock:
        if "Text" in _interfaces(element.handle):
            try:
                return str(Atspi.Text.get_text(element.handle, 0, -1) or "")
            except Exception as exc:
                raise AccessibilityError(
                    f"cannot read the text of {element.describe()}: {exc}"
                ) from None
        return element.name


def has_text(element: Element) -> bool:
    return "Text" in _interfaces(element.handle)


def set_text(element: Element, value: str) -> str:
    """Replace an editable element's text and read it back; raises if it did not take it."""
    Atspi = atspi()
    with _lock:
        if "EditableText" not in _interfaces(element.handle):
            raise AccessibilityError(
                f"{element.describe()} is not editable text; type into it with keyboard.type",
                retryable=False,
            )
        try:
            ok = Atspi.EditableText.set_text_contents(element.handle, value)
        except Exception as exc:
            raise AccessibilityError(
                f"cannot set the text of {element.describe()}: {exc}"
            ) from None
    if not ok:
        raise AccessibilityError(f"{element.describe()} refused the new text")
    now = read_text(element)
    if now != value:
        raise AccessibilityError(
            f"{element.describe()} holds {now!r} after setting {value!r}: the app changed or "
            "refused the text"
        )
    return now


def _interfaces(acc: Any) -> list[str]:
    try:
        return list(acc.get_interfaces())
    except Exception:
        return []


# -- where am I ------------------------------------------------------------------------------


def focused_element(pid: int | None = None) -> Element | None:
    """The focused element of the active window (of application ``pid`` when given)."""
    with _lock:
        in_active: list[_Node] = []
        elsewhere: list[_Node] = []
        for app in applications():
            if pid is not None and app.pid != pid:
                continue
            for window in app.children():
                for node in sel.descendants(window):
                    if isinstance(node, _Node) and "focused" in node.states:
                        (in_active if "active" in window.states else elsewhere).append(node)
        # Without a window manager no window is "active"; one focused element is still clear.
        for group in (in_active, elsewhere):
            if len(group) == 1:
                return _element(group[0])
            if group:
                return None if pid is None else _element(group[0])
    return None


def element_at(x: int, y: int) -> Element | None:
    """The innermost showing element under a screen point, its ``path`` a selector that finds
    it again (a short one when that is unique, else one step per level); None when no
    accessible window covers the point.

    When windows of several applications cover the point, the X stacking order decides.
    """
    with _lock:
        hits: list[tuple[_Node, float]] = []
        for app in applications():
            for window in app.children():
                box = _box(window.acc)
                scale = display_scale(window) if box is not None else 1.0
                if box is not None and _inside(box, round(x / scale), round(y / scale)):
                    hits.append((window, scale))
        if not hits:
            return None
        windows = [window for window, _ in hits]
        window = windows[0] if len(hits) == 1 else _topmost(windows, x, y)
        scale = dict((id(w), s) for w, s in hits)[id(window)]
        best = _deepest(window, round(x / scale), round(y / scale))
        return _element(best, path=_short_path(best))


def _inside(box: Box, x: int, y: int) -> bool:
    return box.x <= x < box.x + box.width and box.y <= y < box.y + box.height


def _deepest(node: _Node, x: int, y: int) -> _Node:
    best, best_area = node, None
    for child in node.children():
        box = _box(child.acc)
        if box is None or not _inside(box, x, y):
            continue
        inner = _deepest(child, x, y)
        inner_box = _box(inner.acc) or box
        area = inner_box.width * inner_box.height
        if best_area is None or area < best_area:
            best, best_area = inner, area
    return best


def _topmost(windows: list[_Node], x: int, y: int) -> _Node:
    """The window highest in X's stacking order among those at (x, y).

    AT-SPI knows no order between applications; X does (the root's children, bottom
    first).  Each top-level (a window manager's frame, or the client itself) is matched to
    an application by ``_NET_WM_PID`` on it or on its children.
    """
    try:
        for pid in _stacking_pids(x, y):
            for window in windows:
                if window.app is not None and window.app.pid == pid:
                    return window
    except Exception as exc:  # no X (Wayland): say so in the log, keep the tree's order
        logger.debug("no X stacking order for element_at: %s", exc)
    return windows[-1]


def _stacking_pids(x: int, y: int) -> list[int]:
    """Process ids of the mapped top-level windows covering (x, y), topmost first."""
    from Xlib import X, display  # type: ignore[import-untyped]

    connection = display.Display()
    try:
        root = connection.screen().root
        pid_atom = connection.intern_atom("_NET_WM_PID")
        found: list[int] = []
        for top in reversed(root.query_tree().children):
            attrs = top.get_attributes()
            if attrs.map_state != X.IsViewable:
                continue
            geometry = top.get_geometry()
            if not (
                geometry.x <= x < geometry.x + geometry.width
                and geometry.y <= y < geometry.y + geometry.height
            ):
                continue
            for window in (top, *top.query_tree().children):
                prop = window.get_full_property(pid_atom, X.AnyPropertyType)
                if prop is not None and len(prop.value):
                    found.append(int(prop.value[0]))
                    break
        return found
    finally:
        connection.close()


def _short_path(node: _Node) -> str:
    """The shortest of a few selector shapes that finds exactly ``node``."""
    app = node.app
    if app is None:
        return _full_path(node)
    candidates: list[sel.Selector] = []
    leaf = sel.Step(role=node.role, name=node.name or None, deep=True)
    candidates.append(sel.Selector((leaf,), app=app.name))
    ancestor = node.parent
    while ancestor is not None and ancestor is not app:
        if ancestor.name:
            step = sel.Step(role=ancestor.role, name=ancestor.name, deep=True)
            candidates.append(sel.Selector((step, leaf), app=app.name))
            break
        ancestor = ancestor.parent
    for candidate in candidates:
        result = sel.match(candidate, [app])
        if isinstance(result, list) and len(result) == 1 and result[0] is node:
            return str(candidate)
    return _full_path(node)
