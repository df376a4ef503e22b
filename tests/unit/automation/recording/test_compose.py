"""The rules that turn captured events into steps, driven with plain events and times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from automation.blocks.registry import BlockRegistry
from automation.loader import parse_workflow
from automation.recording.anchors import ClickTarget
from automation.recording.compose import (
    ClickStep,
    DragStep,
    FocusStep,
    HotkeyStep,
    PauseStep,
    PressStep,
    ScrollStep,
    Step,
    TypeStep,
    WaitWindowStep,
    compose,
)
from automation.recording.events import ButtonEvent, Event, KeyEvent, WindowRef, WindowsSeen
from automation.recording.recorder import Recording
from automation.recording.workflow import recorded_nodes, write_recording
from automation.validation import validate

EDITOR = WindowRef(1, "Untitled - Editor", 10)
EDITED = WindowRef(1, "*Untitled - Editor", 10)
DIALOG = WindowRef(2, "Save As", 10)
CALC = WindowRef(3, "calc", 11)
_KEYS = {
    "a": ("a", "A"),
    "h": ("h", "H"),
    "i": ("i", "I"),
    "s": ("s", "S"),
    "c": ("c", "C"),
    "1": ("1", "!"),
    "space": (" ", " "),
    "Return": ("", ""),
    "Tab": ("", ""),
    "BackSpace": ("", ""),
    "Shift_L": ("", ""),
    "Control_L": ("", ""),
    "Caps_Lock": ("", ""),
    "XF86AudioPlay": ("", ""),
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def tick(self, seconds: float = 0.02) -> float:
        self.now += seconds
        return self.now


def key(
    clock: Clock, name: str, pressed: bool = True, window: WindowRef | None = EDITOR
) -> KeyEvent:
    char, shifted = _KEYS[name]
    return KeyEvent(clock.tick(), pressed, 0, name, char, shifted, window)


def tap(clock: Clock, name: str, window: WindowRef | None = EDITOR) -> Iterator[KeyEvent]:
    yield key(clock, name, True, window)
    yield key(clock, name, False, window)


def chord(clock: Clock, modifier: str, name: str, window: WindowRef = EDITOR) -> list[KeyEvent]:
    return [
        key(clock, modifier, True, window),
        *tap(clock, name, window),
        key(clock, modifier, False, window),
    ]


def click(
    clock: Clock, x: int, y: int, button: int = 1, to: tuple[int, int] | None = None
) -> list[ButtonEvent]:
    down = ButtonEvent(clock.tick(), True, button, x, y, CALC)
    ex, ey = to or (x, y)
    return [down, ButtonEvent(clock.tick(0.02), False, button, ex, ey, CALC)]


def kinds(steps: list[Step]) -> list[str]:
    return [type(s).__name__ for s in steps]


def test_typing_is_merged_with_shift_caps_lock_and_backspace_applied() -> None:
    clock = Clock()
    events: list[Event] = [
        key(clock, "Shift_L"), *tap(clock, "h"), key(clock, "Shift_L", False),
        *tap(clock, "i"), *tap(clock, "space"), *tap(clock, "a"), *tap(clock, "BackSpace"),
        *tap(clock, "Caps_Lock"), *tap(clock, "a"), *tap(clock, "Caps_Lock"),
        key(clock, "Shift_L"), *tap(clock, "1"), key(clock, "Shift_L", False),
        *tap(clock, "XF86AudioPlay"),
    ]  # fmt: skip
    steps = compose(events)
    assert kinds(steps) == ["FocusStep", "TypeStep"]
    assert isinstance(steps[1], TypeStep) and steps[1].text == "Hi A!"


def test_chords_become_hotkeys_and_other_keys_presses_merged_when_repeated() -> None:
    clock = Clock()
    events: list[Event] = [
        *chord(clock, "Control_L", "s"),
        *tap(clock, "Return"), *tap(clock, "Return"),
        *chord(clock, "Shift_L", "Tab"),
        *tap(clock, "BackSpace"),
    ]  # fmt: skip
    steps = [s for s in compose(events) if not isinstance(s, FocusStep)]
    assert isinstance(steps[0], HotkeyStep) and steps[0].keys == ["ctrl", "s"]
    assert isinstance(steps[1], PressStep) and (steps[1].key, steps[1].presses) == ("enter", 2)
    assert isinstance(steps[2], HotkeyStep) and steps[2].keys == ["shift", "tab"]
    assert isinstance(steps[3], PressStep) and steps[3].key == "backspace"


def test_the_ctrl_c_that_stopped_the_recorder_is_dropped() -> None:
    clock = Clock()
    events: list[Event] = [*tap(clock, "a"), *chord(clock, "Control_L", "c")]
    assert kinds(compose(events)) == ["FocusStep", "TypeStep", "HotkeyStep"]
    assert kinds(compose(events, stopped_with_ctrl_c=True)) == ["FocusStep", "TypeStep"]


def test_clicks_double_clicks_drags_and_scrolls() -> None:
    clock = Clock()
    events: list[Event] = [
        *click(clock, 10, 10), *click(clock, 11, 10),          # a double click
        *click(clock, 100, 100, 3),                             # a right click
        *click(clock, 200, 200, to=(300, 250)),                 # a drag
        ButtonEvent(clock.tick(), True, 5, 50, 50, CALC),       # three wheel steps down
        ButtonEvent(clock.tick(), True, 5, 50, 50, CALC),
        ButtonEvent(clock.tick(), True, 5, 51, 50, CALC),
        ButtonEvent(clock.tick(), True, 4, 51, 50, CALC),       # then one up
    ]  # fmt: skip
    steps = compose(events)
    assert kinds(steps) == ["ClickStep", "ClickStep", "DragStep", "ScrollStep", "ScrollStep"]
    first, right, drag, down, up = steps
    assert isinstance(first, ClickStep) and (first.x, first.y, first.clicks) == (10, 10, 2)
    assert isinstance(right, ClickStep) and right.button == "right"
    assert isinstance(drag, DragStep) and (drag.to_x, drag.to_y) == (300, 250)
    assert isinstance(down, ScrollStep) and down.clicks == -3
    assert isinstance(up, ScrollStep) and up.clicks == 1


def test_window_changes_become_waits_and_keys_to_another_window_a_focus() -> None:
    clock = Clock()
    events: list[Event] = [WindowsSeen(clock.tick(), (EDITOR, CALC))]
    events += [*tap(clock, "h", EDITOR)]
    events += [WindowsSeen(clock.tick(), (EDITED, CALC))]  # the title the typing changed
    events += chord(clock, "Control_L", "s", EDITED)
    events += [WindowsSeen(clock.tick(), (EDITED, CALC, DIALOG))]
    events += [*tap(clock, "a", DIALOG)]
    events += [WindowsSeen(clock.tick(), (EDITED, CALC))]  # the dialog went away
    events += click(clock, 5, 5)
    steps = compose(events)
    assert kinds(steps) == [
        "FocusStep", "TypeStep", "WaitWindowStep", "HotkeyStep", "WaitWindowStep",
        "FocusStep", "TypeStep", "WaitWindowStep", "ClickStep",
    ]  # fmt: skip
    focus, _, edited, _, dialog, focus_dialog, _, gone, _ = steps
    assert isinstance(focus, FocusStep) and focus.pattern == r"^Untitled\ \-\ Editor$"
    assert isinstance(edited, WaitWindowStep) and (edited.title, edited.until) == (
        "*Untitled - Editor",
        "appears",
    )
    assert isinstance(dialog, WaitWindowStep) and dialog.title == "Save As"
    assert isinstance(focus_dialog, FocusStep) and focus_dialog.title == "Save As"
    assert isinstance(gone, WaitWindowStep) and (gone.title, gone.until) == (
        "Save As",
        "disappears",
    )


def test_a_pause_between_key_steps_is_kept_up_to_a_second() -> None:
    clock = Clock()
    events: list[Event] = [*tap(clock, "a")]
    clock.tick(0.4)
    events += tap(clock, "Return")
    clock.tick(5.0)
    events += tap(clock, "Return", DIALOG)  # another window: a focus, no pause
    steps = compose(events)
    assert kinds(steps) == [
        "FocusStep",
        "TypeStep",
        "PauseStep",
        "PressStep",
        "FocusStep",
        "PressStep",
    ]
    pause = steps[2]
    assert isinstance(pause, PauseStep) and 0.4 <= pause.seconds <= 0.5


def test_recorded_nodes_make_a_valid_workflow_with_images(tmp_path: Path) -> None:
    clock = Clock()
    events: list[Event] = [*tap(clock, "h"), *chord(clock, "Control_L", "s"), *click(clock, 40, 50)]
    events += click(clock, 400, 500)
    steps = compose(events)
    clicks = [s for s in steps if isinstance(s, ClickStep)]
    crop = np.full((32, 32, 3), 200, dtype=np.uint8)
    targets = {
        clicks[0].start: ClickTarget(
            40,
            50,
            [
                {"accessibility": "app=calc / button[name=1]"},
                {"image": "", "offset": [2, 0]},
                {"text": "OK"},
            ],
            crop,
        ),
        clicks[1].start: ClickTarget(
            400, 500, [], None, ["no crop around the click is unique on screen"]
        ),
    }
    recording = Recording(steps, targets, (1920, 1080))
    nodes, links = recorded_nodes(recording, tmp_path / "images", tmp_path, taken={"click_1"})
    assert list(nodes) == ["focus_1", "type_1", "hotkey_1", "click_2", "click_3"]
    assert links == [
        "focus_1 -> type_1",
        "type_1 -> hotkey_1",
        "hotkey_1 -> click_2",
        "click_2 -> click_3",
    ]
    anchors = nodes["click_2"]["with"]["target"]["anchors"]
    assert anchors[1] == {"image": "images/click_2.png", "offset": [2, 0]}
    assert (tmp_path / "images" / "click_2.png").is_file()
    assert nodes["click_3"]["block"] == "mouse.click"
    assert "no crop around the click is unique" in nodes["click_3"]["notes"]

    del targets[clicks[0].start]  # the accessibility anchor needs targets that know it
    targets[clicks[0].start] = ClickTarget(40, 50, [{"image": "", "offset": [2, 0]}], crop)
    path = tmp_path / "flow" / "my-recording.yaml"
    path.parent.mkdir()
    write_recording(recording, path)
    loaded = parse_workflow(path.read_text(encoding="utf-8"), path=path)
    registry = BlockRegistry.with_builtins(plugins=False)
    assert validate(loaded, registry) == []
    assert loaded.workflow.name == "my_recording"
    assert (path.parent / "my-recording-images" / "click_1.png").is_file()


def test_a_focus_accepts_the_title_a_key_changed_before_the_recorder_saw_the_key() -> None:
    clock = Clock()
    events: list[Event] = [WindowsSeen(clock.tick(), (EDITOR,))]
    events += [WindowsSeen(clock.tick(), (EDITED,))]  # polled as the key was being handled
    events += tap(clock, "h", EDITED)
    focus = compose(events)[0]
    assert isinstance(focus, FocusStep) and focus.title == "Untitled - Editor"
    assert focus.pattern == r"^(?:Untitled\ \-\ Editor|\*Untitled\ \-\ Editor)$"


def test_a_drag_starts_from_its_anchors_and_moves_by_the_recorded_distance(tmp_path: Path) -> None:
    clock = Clock()
    steps = compose(click(clock, 200, 200, to=(300, 250)) + click(clock, 10, 10, to=(60, 10)))
    drag = steps[0]
    assert isinstance(drag, DragStep)
    crop = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    recording = Recording(steps, {drag.start: ClickTarget(200, 200, [{"image": ""}], crop)})
    path = tmp_path / "drag.yaml"
    write_recording(recording, path)
    loaded = parse_workflow(path.read_text(encoding="utf-8"), path=path)
    assert validate(loaded, BlockRegistry.with_builtins(plugins=False)) == []
    nodes = loaded.workflow.nodes
    assert list(nodes) == ["drag_1_from", "drag_1", "drag_2"]
    assert nodes["drag_1_from"].block == "image.wait"
    assert nodes["drag_1"].with_ == {
        "from_x": "{{ nodes.drag_1_from.x }}",
        "from_y": "{{ nodes.drag_1_from.y }}",
        "to_x": "{{ nodes.drag_1_from.x + (100) }}",
        "to_y": "{{ nodes.drag_1_from.y + (50) }}",
    }
    assert nodes["drag_2"].with_ == {"from_x": 10, "from_y": 10, "to_x": 60, "to_y": 10}
    assert "fixed coordinates" in (nodes["drag_2"].notes or "")
