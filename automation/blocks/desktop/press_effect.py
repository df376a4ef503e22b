"""Whether a press through the accessibility bus could act, and whether it did.

An element's press action (AT-SPI ``doAction``) is answered by the app, and
the answer is "done" even when nothing happened: a button that is disabled
(insensitive), an element the app already destroyed (``defunct``, a stale
handle) or one the app ignores.  A step that pressed such an element and
succeeded would be a wrong success, so ``ui.click``:

* before the press (``ready``): waits, up to the step's ``timeout``, for a
  disabled element to become enabled (a dialog's OK often is until a field is
  filled) and fails when it stays disabled or is defunct, naming its states;
* after it (``watch``): compares the element (its states, text and value) and
  its application (every showing element's role, name and states, a few text
  fields' contents, and so the focus and the windows) with a look taken just
  before the press, until something differs or ``verify_timeout`` passes.

What was seen goes into the step's ``effect`` output.  Nothing seen is not
by itself an error: some presses have no effect on screen (a memory key, a
button that starts work elsewhere), and failing them would be a false
failure.  It is logged as a warning, and fails the step with evidence when
the node asks for ``verify: true``.  A postcondition (``expect:``) replaces
the watch: it says what the effect must be.

A look walks the app's showing elements, at most ``_MAX_NODES`` of them (a
few hundred D-Bus round trips for a calculator or a text editor, tens of
milliseconds).  Password fields are never read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from automation.blocks.context import BlockContext
from automation.blocks.desktop import accessibility as a11y
from automation.blocks.desktop.common import Evidence
from automation.errors import BlockError

#: Elements a look reads at most: a bound on its time for a huge app.
_MAX_NODES = 3000
#: Text fields whose content a look reads at most (names are read for all).
_MAX_TEXTS = 40
_TEXT_ROLES = frozenset(
    {"text", "entry", "terminal", "document text", "paragraph", "spin button", "editbar"}
)
_INTERVAL = 0.05


class ElementNotPressable(BlockError):
    """The element cannot take a press now: it is disabled or gone."""


class PressHadNoEffect(BlockError):
    """The press was accepted, but nothing was seen to change (with ``verify: true``)."""


@dataclass(frozen=True)
class Look:
    """The element and its app at one moment, as far as a press could change them."""

    states: frozenset[str]
    text: str
    value: float | None
    #: (role, name, states) of every showing element of the app, in tree order.
    app: tuple[tuple[str, str, frozenset[str]], ...]
    #: Contents of the app's first text fields.
    texts: tuple[str, ...]
    windows: tuple[str, ...]


def _states(element: a11y.Element) -> frozenset[str]:
    try:
        with a11y._lock:
            return a11y._states(element.handle)
    except Exception:  # the app dropped it
        return frozenset({"defunct"})


def _disabled(states: frozenset[str]) -> bool:
    return "enabled" not in states and "sensitive" not in states


def ready(
    ctx: BlockContext, element: a11y.Element, timeout: float, evidence: Evidence
) -> a11y.Element:
    """``element`` with its states read now, once it can take a press; raises otherwise."""
    states = [_states(element)]

    def pressable() -> bool:
        states[0] = _states(element)
        return "defunct" in states[0] or not _disabled(states[0])

    if not pressable() and timeout > 0:
        ctx.wait_until(pressable, timeout=ctx.remaining(timeout) or timeout, interval=0.1)
    now = states[0]
    evidence.candidate = element.box
    if "defunct" in now:
        evidence.label = "the element is gone"
        raise ElementNotPressable(
            f"{element.describe()} is gone (defunct): the app destroyed it after it was "
            "found; a press would do nothing"
        )
    if _disabled(now):
        evidence.label = "the element is disabled"
        raise ElementNotPressable(
            f"{element.describe()} is disabled (neither enabled nor sensitive; states: "
            f"{', '.join(sorted(now)) or 'none'}) and stayed so for {timeout:g}s: a press "
            "would do nothing. Wait for what enables it first (ui.wait state: enabled)"
        )
    return dataclasses.replace(element, states=now)


def snapshot(element: a11y.Element) -> Look:
    """A look at ``element`` and its app, to compare with one after the press."""
    Atspi = a11y.atspi()
    with a11y._lock:
        states = _states(element)
        readable = element.role != "password text" and "Text" in a11y._interfaces(element.handle)
        text = _text(element.handle) if readable else ""
        value = None
        if "Value" in a11y._interfaces(element.handle):
            try:
                value = float(Atspi.Value.get_current_value(element.handle))
            except Exception:
                value = None
        nodes: list[tuple[str, str, frozenset[str]]] = []
        texts: list[str] = []
        windows: list[str] = []
        for app in a11y.applications():
            if not _same_app(app, element):
                continue
            windows.extend(f"{w.role}:{w.name}" for w in app.children())
            pending: list[Any] = list(app.children())
            while pending and len(nodes) < _MAX_NODES:
                node = pending.pop(0)
                nodes.append((node.role, node.name, node.states))
                if node.role in _TEXT_ROLES and len(texts) < _MAX_TEXTS:
                    texts.append(_text(node.acc))
                pending.extend(node.children())
    return Look(states, text, value, tuple(nodes), tuple(texts), tuple(windows))


def _same_app(app: Any, element: a11y.Element) -> bool:
    if element.pid is not None:
        return bool(app.pid == element.pid)
    return bool(app.name == element.app)


def _text(acc: Any) -> str:
    try:
        return str(a11y.atspi().Text.get_text(acc, 0, -1) or "")
    except Exception:
        return ""


def difference(before: Look, after: Look, element: a11y.Element) -> str | None:
    """What changed between two looks, in words; None when nothing did."""
    if after.states != before.states:
        gained = sorted(after.states - before.states)
        lost = sorted(before.states - after.states)
        parts = [f"+{s}" for s in gained] + [f"-{s}" for s in lost]
        return f"{element.describe()} states {' '.join(parts)}"
    if after.text != before.text:
        return f"{element.describe()} text changed"
    if after.value != before.value:
        return f"{element.describe()} value {before.value} -> {after.value}"
    if after.windows != before.windows:
        return f"the app's windows changed: {list(after.windows)[:5]}"
    focused_before = [n for n in before.app if "focused" in n[2]]
    focused_after = [n for n in after.app if "focused" in n[2]]
    if focused_after != focused_before:
        where = f'{focused_after[0][0]} "{focused_after[0][1]}"' if focused_after else "nothing"
        return f"the focus moved to {where}"
    if after.texts != before.texts:
        return "a text field of the app changed"
    if after.app != before.app:
        changed = next((a for a, b in zip(after.app, before.app, strict=False) if a != b), None)
        if changed is None:
            return f"the app's elements changed ({len(before.app)} -> {len(after.app)})"
        return f'the app\'s {changed[0]} "{changed[1]}" changed'
    return None


def watch(
    ctx: BlockContext,
    element: a11y.Element,
    before: Look,
    timeout: float,
    *,
    demand: bool,
    evidence: Evidence,
    how: str,
) -> str:
    """What the press changed, watched for up to ``timeout``; raises if nothing and ``demand``."""
    seen: list[str | None] = [None]

    def changed() -> bool:
        seen[0] = difference(before, snapshot(element), element)
        return seen[0] is not None

    if ctx.wait_until(changed, timeout=ctx.remaining(timeout) or timeout, interval=_INTERVAL):
        return str(seen[0])
    message = (
        f"pressed {element.describe()} by {how}, and nothing was seen to change within "
        f"{timeout:g}s (its states, text and value, the app's elements, focus and windows)"
    )
    if demand:
        evidence.candidate = element.box
        evidence.candidate_label = "pressed"
        evidence.label = "the press had no visible effect"
        raise PressHadNoEffect(
            f"node '{ctx.node_id}': {message}; the press may have been ignored. Give the step "
            "an expect: saying what must follow, or verify: false if the press has no "
            "visible effect"
        )
    ctx.log(f"{message}; verify: true would fail the step", "warning", path=element.path)
    return "none seen"
