"""A recording as workflow nodes (the editor inserts them) or as a workflow file of its own.

Steps become nodes linked one after the other (``a -> b``):

| step | block |
|---|---|
| click with anchors | ``image.click`` with a ``target`` (waits up to ``CLICK_WAIT`` for it) |
| click without any | ``mouse.click`` at the recorded coordinates (its notes say why) |
| drag | ``image.wait`` for where it starts (anchors as a click's), then ``mouse.drag`` by the recorded distance |
| scroll | ``mouse.scroll`` at the recorded coordinates |
| typing, key, chord | ``keyboard.type``, ``keyboard.press``, ``keyboard.hotkey`` |
| window appeared / went away | ``window.wait`` on its exact title |
| keys going to another window | ``window.focus`` on its exact title |
| a pause between two key steps | ``control.delay`` (see ``compose``) |

Inferred waits are ``window.wait`` nodes, not an ``expect:`` on the step
before: on resume an ``expect`` decides that an interrupted step already took
effect, and a title that changes at the first typed key would make a half-typed
text count as typed.

Image anchors are written as PNG files into an images folder next to the
workflow and referred to relative to the workflow's folder, as every image
path in a workflow is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from automation.loader import dump_workflow
from automation.model import Workflow
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
)
from automation.recording.recorder import Recording

CLICK_WAIT = 10.0
WINDOW_WAIT = 10.0
_SPACING = 110.0


def _where(window: Any) -> str:
    return f" in '{window.title}'" if window is not None and window.title else ""


def _anchors(
    target: ClickTarget | None, images: Path, base: Path, node_id: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """A press's anchors, its image written as ``<node_id>.png``; and notes on what is missing."""
    if target is None:
        return [], ["its screen was not captured"]
    anchors: list[dict[str, Any]] = []
    for anchor in target.anchors:
        anchor = dict(anchor)
        if "image" in anchor:
            if target.crop is None:
                continue
            import cv2

            images.mkdir(parents=True, exist_ok=True)
            path = images / f"{node_id}.png"
            if not cv2.imwrite(str(path), target.crop):
                raise OSError(f"could not write the template image {path}")
            anchor["image"] = Path(os.path.relpath(path, base)).as_posix()
        anchors.append(anchor)
    return anchors, list(target.notes)


def _target(anchors: list[dict[str, Any]], recording: Recording) -> dict[str, Any]:
    screen = {"captured_screen": list(recording.screen)} if recording.screen else {}
    return {"anchors": anchors} | screen


def _click_node(
    step: ClickStep, recording: Recording, images: Path, base: Path, node_id: str
) -> dict[str, Any]:
    anchors, notes = _anchors(recording.target_of(step), images, base, node_id)
    node: dict[str, Any]
    if anchors:
        node = {
            "block": "image.click",
            "title": f"Click{_where(step.window)}",
            "with": {"target": _target(anchors, recording), "timeout": CLICK_WAIT},
        }
    else:
        node = {
            "block": "mouse.click",
            "title": f"Click at {step.x},{step.y}{_where(step.window)}",
            "with": {"x": step.x, "y": step.y},
            "notes": "recorded at fixed coordinates: " + "; ".join(notes or ["no anchor found"]),
        }
    if step.button != "left":
        node["with"]["button"] = step.button
    if step.clicks != 1:
        node["with"]["clicks"] = step.clicks
    return node


def _drag_nodes(
    step: DragStep, recording: Recording, images: Path, base: Path, node_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """A drag from an anchored start: find where it starts, then drag by the recorded distance."""
    values: dict[str, Any] = {"from_x": step.from_x, "from_y": step.from_y}
    values |= {"to_x": step.to_x, "to_y": step.to_y}
    if step.button != "left":
        values["button"] = step.button
    start = f"{node_id}_from"
    anchors, notes = _anchors(recording.targets.get(step.start), images, base, start)
    if not anchors:
        note = "recorded at fixed coordinates: " + "; ".join(notes or ["no anchor found"])
        return [(node_id, {"block": "mouse.drag", "with": values, "notes": note})]
    dx, dy = step.to_x - step.from_x, step.to_y - step.from_y
    values |= {
        "from_x": f"{{{{ nodes.{start}.x }}}}",
        "from_y": f"{{{{ nodes.{start}.y }}}}",
        "to_x": f"{{{{ nodes.{start}.x + ({dx}) }}}}",
        "to_y": f"{{{{ nodes.{start}.y + ({dy}) }}}}",
    }
    finder = {
        "block": "image.wait",
        "title": "Find where the drag starts",
        "with": {"target": _target(anchors, recording), "timeout": CLICK_WAIT},
    }
    return [(start, finder), (node_id, {"block": "mouse.drag", "with": values})]


def _node(
    step: Step, recording: Recording, images: Path, base: Path, node_id: str
) -> dict[str, Any]:
    if isinstance(step, ClickStep):
        return _click_node(step, recording, images, base, node_id)
    if isinstance(step, ScrollStep):
        values = {"clicks": step.clicks, "x": step.x, "y": step.y}
        return {
            "block": "mouse.scroll",
            "with": values | ({"horizontal": True} if step.horizontal else {}),
        }
    if isinstance(step, TypeStep):
        return {
            "block": "keyboard.type",
            "title": f"Type{_where(step.window)}",
            "with": {"text": step.text},
        }
    if isinstance(step, PressStep):
        press: dict[str, Any] = {"key": step.key}
        if step.presses > 1:
            press["presses"] = step.presses
        return {
            "block": "keyboard.press",
            "title": f"Press {step.key}{_where(step.window)}",
            "with": press,
        }
    if isinstance(step, HotkeyStep):
        chord = "+".join(step.keys)
        return {
            "block": "keyboard.hotkey",
            "title": f"{chord}{_where(step.window)}",
            "with": {"keys": step.keys},
        }
    if isinstance(step, WaitWindowStep):
        return {
            "block": "window.wait",
            "title": f"Wait until '{step.title}' {step.until}",
            "with": {"title": step.pattern, "until": step.until, "timeout": WINDOW_WAIT},
        }
    if isinstance(step, PauseStep):
        return {
            "block": "control.delay",
            "title": "Pause as the recording did",
            "with": {"seconds": step.seconds},
        }
    assert isinstance(step, FocusStep)
    return {
        "block": "window.focus",
        "title": f"Focus '{step.title}'",
        "with": {"title": step.pattern},
    }


_KINDS = {
    ClickStep: "click",
    DragStep: "drag",
    ScrollStep: "scroll",
    TypeStep: "type",
    PressStep: "press",
    HotkeyStep: "hotkey",
    WaitWindowStep: "wait",
    FocusStep: "focus",
    PauseStep: "pause",
}


def recorded_nodes(
    recording: Recording,
    images: Path,
    base: Path,
    *,
    taken: set[str] | frozenset[str] = frozenset(),
    origin: tuple[float, float] = (0.0, 0.0),
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Nodes (in order) and the links chaining them; template images go into ``images``.

    ``base`` is the workflow's folder (image paths are relative to it);
    ``taken`` are node ids already in use; ``origin`` is where the editor
    puts the first node (the others go below it).
    """
    nodes: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for step in recording.steps:
        kind = _KINDS[type(step)]
        while True:
            counts[kind] = counts.get(kind, 0) + 1
            node_id = f"{kind}_{counts[kind]}"
            if not {node_id, f"{node_id}_from"} & (set(taken) | set(nodes)):
                break
        if isinstance(step, DragStep):
            made = _drag_nodes(step, recording, images, base, node_id)
        else:
            made = [(node_id, _node(step, recording, images, base, node_id))]
        for made_id, node in made:
            node["position"] = [origin[0], origin[1] + len(nodes) * _SPACING]
            nodes[made_id] = node
    ids = list(nodes)
    links = [f"{a} -> {b}" for a, b in zip(ids, ids[1:], strict=False)]
    return nodes, links


def write_recording(recording: Recording, path: Path, name: str | None = None) -> Workflow:
    """Write the recording as a workflow file, its images in ``<stem>-images/`` beside it."""
    path = path.resolve()
    images = path.with_name(f"{path.stem}-images")
    nodes, links = recorded_nodes(recording, images, path.parent)
    workflow = Workflow.model_validate(
        {
            "name": name or path.stem.replace("-", "_"),
            "description": "recorded with deskpilot record",
            "nodes": nodes,
            "links": links,
        }
    )
    text = dump_workflow(workflow)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)  # a reader never sees half a workflow
    return workflow
