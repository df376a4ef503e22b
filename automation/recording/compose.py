"""From captured events to steps: a pure function, so every rule is tested without a display.

The rules, in the order a user would check them:

* a button press and release within ``DRAG_MIN`` pixels is a click; a second
  click of the same button within ``DOUBLE_CLICK`` seconds and ``DRAG_MIN``
  pixels makes it a double (then triple) click; farther apart it is a drag;
* wheel buttons (4-7) are scroll steps, merged while they go one way at one
  place;
* printable keys pressed without Ctrl, Alt or Super are typing: a run of them
  is one ``keyboard.type`` (BackSpace inside a run edits the run), in the
  case Shift and CapsLock gave them;
* a key pressed while Ctrl, Alt or Super is held is a ``keyboard.hotkey``
  (Ctrl+S), as is Shift with a key that types nothing (Shift+Tab);
* other keys (Enter, Tab, arrows, Escape, F-keys) are ``keyboard.press``,
  repeated presses merged;
* between one step and the next, a window that appeared or changed its title
  becomes a ``window.wait`` for that title (a window that only went away, a
  wait for it to disappear): the replay waits where the user waited;
* a key step going to another window than the step before starts with a
  ``window.focus`` on it, so a replay types where the recording did even if
  something else has the focus when it starts;
* a key step that came ``PAUSE_MIN`` seconds or more after another key step
  (with no window change between them) keeps part of that pause as a delay
  (at most ``PAUSE_MAX``): a dialog's entry may still be busy with what was
  typed (a file chooser completing a path ignored an Enter sent 2 ms after
  the path), and the user's pause is the only evidence of how long it needs.

A step keeps the time of its first event: ``anchors`` cuts a click's target
from the screen as it was just before that moment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from automation.recording.events import ButtonEvent, Event, KeyEvent, WindowRef, WindowsSeen

PAUSE_MIN = 0.1
PAUSE_MAX = 1.0
DRAG_MIN = 5
DOUBLE_CLICK = 0.5
SCROLL_GAP = 1.0

_MODIFIERS = {
    "Control_L": "ctrl",
    "Control_R": "ctrl",
    "Shift_L": "shift",
    "Shift_R": "shift",
    "Alt_L": "alt",
    "Alt_R": "alt",
    "Meta_L": "alt",
    "Meta_R": "alt",
    "Super_L": "win",
    "Super_R": "win",
}
_MODIFIER_ORDER = ("ctrl", "alt", "shift", "win")
_IGNORED = {"Caps_Lock", "Num_Lock", "Scroll_Lock", "ISO_Level3_Shift", "Mode_switch"}
#: X keysym names -> pyautogui key names, for keys that type nothing.
_KEY_NAMES = {
    "Return": "enter",
    "KP_Enter": "enter",
    "Tab": "tab",
    "ISO_Left_Tab": "tab",
    "BackSpace": "backspace",
    "Escape": "esc",
    "Delete": "delete",
    "KP_Delete": "delete",
    "Insert": "insert",
    "Home": "home",
    "End": "end",
    "Prior": "pageup",
    "Next": "pagedown",
    "Up": "up",
    "Down": "down",
    "Left": "left",
    "Right": "right",
    "Print": "printscreen",
    "Pause": "pause",
    "Menu": "apps",
    **{f"F{n}": f"f{n}" for n in range(1, 25)},
}
_BUTTONS = {1: "left", 2: "middle", 3: "right"}
_SCROLL = {4: (1, False), 5: (-1, False), 6: (-1, True), 7: (1, True)}


@dataclass
class Step:
    start: float
    end: float


@dataclass
class ClickStep(Step):
    x: int
    y: int
    button: str
    clicks: int
    window: WindowRef | None


@dataclass
class DragStep(Step):
    from_x: int
    from_y: int
    to_x: int
    to_y: int
    button: str


@dataclass
class ScrollStep(Step):
    x: int
    y: int
    clicks: int
    horizontal: bool


@dataclass
class TypeStep(Step):
    text: str
    window: WindowRef | None


@dataclass
class PressStep(Step):
    key: str
    presses: int
    window: WindowRef | None


@dataclass
class HotkeyStep(Step):
    keys: list[str]
    window: WindowRef | None


@dataclass
class WaitWindowStep(Step):
    title: str
    until: str  # 'appears' or 'disappears'

    @property
    def pattern(self) -> str:
        return "^" + re.escape(self.title) + "$"


@dataclass
class PauseStep(Step):
    seconds: float


@dataclass
class FocusStep(Step):
    title: str
    #: every title the window had since the step before (a typed key may retitle it at once)
    titles: list[str] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        names = list(dict.fromkeys([self.title, *self.titles]))
        if len(names) == 1:
            return "^" + re.escape(names[0]) + "$"
        return "^(?:" + "|".join(re.escape(n) for n in names) + ")$"


KEY_STEPS = (TypeStep, PressStep, HotkeyStep)


@dataclass
class _State:
    steps: list[Step] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    caps: bool = False
    presses: dict[int, ButtonEvent] = field(default_factory=dict)
    last_release: dict[int, ButtonEvent] = field(default_factory=dict)


def compose(events: Sequence[Event], *, stopped_with_ctrl_c: bool = False) -> list[Step]:
    """The steps a recording's events make, waits and focus steps included."""
    state = _State()
    for event in events:
        if isinstance(event, KeyEvent):
            _key(state, event)
        elif isinstance(event, ButtonEvent):
            _button(state, event)
    steps = state.steps
    last = steps[-1] if steps else None
    if stopped_with_ctrl_c and isinstance(last, HotkeyStep) and last.keys == ["ctrl", "c"]:
        steps.pop()  # the Ctrl+C that ended `deskpilot record` in its terminal
    snapshots = [e for e in events if isinstance(e, WindowsSeen)]
    return _with_focus(_with_pauses(_with_waits(steps, snapshots)), snapshots)


# -- keys -----------------------------------------------------------------------------------


def _key(state: _State, event: KeyEvent) -> None:
    modifier = _MODIFIERS.get(event.keysym)
    if modifier is not None:
        if event.pressed:
            state.held.add(modifier)
        else:
            state.held.discard(modifier)
        return
    if not event.pressed:
        return
    if event.keysym == "Caps_Lock":
        state.caps = not state.caps
        return
    if event.keysym in _IGNORED:
        return
    chord = [m for m in _MODIFIER_ORDER if m in state.held]
    text = _typed(state, event)
    name = _KEY_NAMES.get(event.keysym)
    if set(chord) - {"shift"}:
        key = name or (event.char.lower() if event.char else None)
        if key is not None:
            _add(state, HotkeyStep(event.time, event.time, [*chord, key], event.window))
        return
    if text and name is None:
        last = state.steps[-1] if state.steps else None
        if isinstance(last, TypeStep) and _same(last.window, event.window):
            last.text += text
            last.end = event.time
        else:
            _add(state, TypeStep(event.time, event.time, text, event.window))
        return
    if name is None:
        return  # a key deskpilot cannot press (media keys...): nothing to replay
    last = state.steps[-1] if state.steps else None
    if name == "backspace" and not chord and isinstance(last, TypeStep) and last.text:
        last.text = last.text[:-1]
        last.end = event.time
        if not last.text:
            state.steps.pop()
        return
    if chord:  # only shift is held here
        _add(state, HotkeyStep(event.time, event.time, [*chord, name], event.window))
        return
    if isinstance(last, PressStep) and last.key == name and _same(last.window, event.window):
        last.presses += 1
        last.end = event.time
        return
    _add(state, PressStep(event.time, event.time, name, 1, event.window))


def _same(a: WindowRef | None, b: WindowRef | None) -> bool:
    """One window, even if its title changed meanwhile (an editor marks unsaved text)."""
    return (a.id if a else None) == (b.id if b else None)


def _typed(state: _State, event: KeyEvent) -> str:
    shift = "shift" in state.held
    if state.caps and event.char.isalpha():
        shift = not shift
    text = event.shifted_char if shift else event.char
    return text if text and text.isprintable() else ""


def _add(state: _State, step: Step) -> None:
    state.steps.append(step)


# -- buttons --------------------------------------------------------------------------------


def _button(state: _State, event: ButtonEvent) -> None:
    if event.button in _SCROLL:
        if event.pressed:
            _scroll(state, event)
        return
    if event.button not in _BUTTONS:
        return
    if event.pressed:
        state.presses[event.button] = event
        return
    press = state.presses.pop(event.button, None)
    if press is None:
        return  # pressed before the recording started
    button = _BUTTONS[event.button]
    moved = max(abs(event.x - press.x), abs(event.y - press.y))
    if moved > DRAG_MIN:
        _add(state, DragStep(press.time, event.time, press.x, press.y, event.x, event.y, button))
        return
    last = state.steps[-1] if state.steps else None
    previous = state.last_release.get(event.button)
    if (
        isinstance(last, ClickStep)
        and last.button == button
        and last.clicks < 3
        and previous is not None
        and press.time - previous.time <= DOUBLE_CLICK
        and max(abs(press.x - last.x), abs(press.y - last.y)) <= DRAG_MIN
    ):
        last.clicks += 1
        last.end = event.time
    else:
        _add(state, ClickStep(press.time, event.time, press.x, press.y, button, 1, press.window))
    state.last_release[event.button] = event


def _scroll(state: _State, event: ButtonEvent) -> None:
    amount, horizontal = _SCROLL[event.button]
    last = state.steps[-1] if state.steps else None
    if (
        isinstance(last, ScrollStep)
        and last.horizontal == horizontal
        and (last.clicks > 0) == (amount > 0)
        and event.time - last.end <= SCROLL_GAP
        and max(abs(event.x - last.x), abs(event.y - last.y)) <= DRAG_MIN
    ):
        last.clicks += amount
        last.end = event.time
        return
    _add(state, ScrollStep(event.time, event.time, event.x, event.y, amount, horizontal))


# -- windows --------------------------------------------------------------------------------


def _seen_at(snapshots: Sequence[WindowsSeen], moment: float) -> tuple[WindowRef, ...] | None:
    seen = None
    for snapshot in snapshots:
        if snapshot.time > moment:
            break
        seen = snapshot.windows
    return seen


def _with_waits(steps: list[Step], snapshots: Sequence[WindowsSeen]) -> list[Step]:
    if not snapshots:
        return steps
    result: list[Step] = []
    for index, step in enumerate(steps):
        result.append(step)
        before = _seen_at(snapshots, step.start)
        following = steps[index + 1].start if index + 1 < len(steps) else float("inf")
        after = _seen_at(snapshots, following)
        if before is None or after is None:
            continue
        old = {(w.id, w.title) for w in before}
        titles = {w.title for w in after}
        appeared = [w.title for w in after if (w.id, w.title) not in old and w.title]
        gone = [w.title for w in before if w.title and w.title not in titles]
        for title in dict.fromkeys(appeared):
            result.append(WaitWindowStep(step.end, step.end, title, "appears"))
        if not appeared:
            for title in dict.fromkeys(gone):
                result.append(WaitWindowStep(step.end, step.end, title, "disappears"))
    return result


def _with_pauses(steps: list[Step]) -> list[Step]:
    result: list[Step] = []
    for step in steps:
        last = result[-1] if result else None
        if isinstance(step, KEY_STEPS) and isinstance(last, KEY_STEPS):
            gap = step.start - last.end
            if gap >= PAUSE_MIN and _same(step.window, last.window):
                result.append(PauseStep(last.end, step.start, round(min(gap, PAUSE_MAX), 2)))
        result.append(step)
    return result


def _titles(
    window: WindowRef, since: float, until: float, snapshots: Sequence[WindowsSeen]
) -> list[str]:
    """The titles ``window`` had from ``since`` to ``until``, oldest first.

    The event's own title, or even a snapshot taken just before the event
    arrived, may already show what the key did (an editor marks its title
    modified at the first key), so the focus step accepts each of them.
    """
    titles = [w.title for s in snapshots if since <= s.time <= until for w in s.windows
              if w.id == window.id and w.title]  # fmt: skip
    before = _seen_at(snapshots, since) or ()
    titles = [w.title for w in before if w.id == window.id and w.title] + titles
    return list(dict.fromkeys([*titles, window.title]))


def _with_focus(steps: list[Step], snapshots: Sequence[WindowsSeen]) -> list[Step]:
    result: list[Step] = []
    current: int | None = None
    previous_end = float("-inf")
    for step in steps:
        if isinstance(step, KEY_STEPS):
            window = step.window
            if window is not None and window.id != current:
                titles = [t for t in _titles(window, previous_end, step.start, snapshots) if t]
                if titles:
                    result.append(FocusStep(step.start, step.start, titles[0], titles[1:]))
            if window is not None:
                current = window.id
        elif isinstance(step, ClickStep) and step.window is not None:
            current = step.window.id
        result.append(step)
        previous_end = step.end
    return result
