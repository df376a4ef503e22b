"""What the capture helpers may set on a node, and how a capture becomes new input values.

The helpers are offered from the block's JSON Schema, not from a list of
block ids, so a third-party block gets them by declaring the same inputs:

* a **target** input: any property whose schema is the ``Target`` object of
  ``automation.blocks.desktop.targets`` (an ``anchors`` array of objects with
  ``image`` and ``position``) — capture an image, pick a point (a
  ``position`` anchor), test the target;
* an **image** input: a string named ``template`` or ``image`` (or ending in
  ``_template`` / ``_image``) — capture an image, test it;
* **point** inputs: integer pairs ``x``/``y`` or ``<name>_x``/``<name>_y`` —
  pick a point; a ``colour`` (or ``color``) string next to ``x``/``y`` gets
  the picked pixel's colour too, and a ``relative`` switch that is on is
  turned off (a picked point is absolute).

Nothing here imports Qt: these are the rules, the widgets are in
``capture_tools.py`` and ``capture_overlay.py``.  Captured templates are
saved as ``images/<node>-<n>.png`` next to the workflow, never over an
existing file, and referred to by that relative path (the blocks resolve
paths against the workflow's folder).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
from pydantic import BaseModel

from app.editor.document import UNSET
from automation.blocks.desktop.display import Box, Image
from automation.templates import is_template

#: Where captured templates go, relative to the workflow file's folder.
IMAGES_DIR = "images"
#: The smallest template worth matching: the matcher skips anything under 3 pixels a side.
MIN_TEMPLATE_SIDE = 4
_IMAGE_NAMES = ("template", "image")
_COLOUR_NAMES = ("colour", "color")


class CaptureError(Exception):
    """A capture or test that cannot be done as asked; the message is for the user."""


@dataclass(frozen=True)
class PointFields:
    """An x/y input pair, and the colour input that goes with it (if any)."""

    x: str
    y: str
    colour: str | None = None

    @property
    def label(self) -> str:
        prefix = self.x[: -len("_x")] if self.x.endswith("_x") else ""
        return f"{prefix.replace('_', ' ')} point".strip() if prefix else "point"


@dataclass(frozen=True)
class CaptureSupport:
    """Which capture helpers a block gets."""

    target: str | None = None
    image: str | None = None
    points: tuple[PointFields, ...] = ()
    #: whether the target's schema has ``captured_screen``
    records_screen: bool = False
    #: a boolean input that makes x/y offsets from the pointer
    relative: str | None = None

    @property
    def can_capture(self) -> bool:
        return self.target is not None or self.image is not None

    @property
    def can_pick(self) -> bool:
        return self.target is not None or bool(self.points)

    @property
    def can_test(self) -> bool:
        return self.can_capture

    def __bool__(self) -> bool:
        return self.can_capture or self.can_pick


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 20:
        schema = defs.get(str(schema["$ref"]).split("/")[-1], {})
        seen += 1
    return schema


def _options(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The non-null alternatives of a property (one for a plain property)."""
    schema = _resolve(schema, defs)
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return [schema]
    resolved = [_resolve(option, defs) for option in options]
    return [option for option in resolved if option.get("type") != "null"]


def _is_target(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[bool, bool]:
    """(is a Target object, has captured_screen)."""
    for option in _options(schema, defs):
        anchors = option.get("properties", {}).get("anchors")
        if not isinstance(anchors, Mapping) or anchors.get("type") != "array":
            continue
        item = _resolve(anchors.get("items", {}), defs)
        fields = item.get("properties", {})
        if "image" in fields and "position" in fields:
            return True, "captured_screen" in option.get("properties", {})
    return False, False


def _kinds(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> set[str]:
    return {str(option.get("type")) for option in _options(schema, defs)}


@lru_cache(maxsize=256)
def capture_support(model: type[BaseModel]) -> CaptureSupport:
    """The helpers a block with this ``Input`` model gets (see the module docstring)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    properties: dict[str, Any] = schema.get("properties", {})
    target: str | None = None
    records = False
    image: str | None = None
    for name, prop in properties.items():
        is_target, has_screen = _is_target(prop, defs)
        if is_target and target is None:
            target, records = name, has_screen
        elif (
            image is None
            and _kinds(prop, defs) == {"string"}
            and (name in _IMAGE_NAMES or name.endswith(tuple(f"_{n}" for n in _IMAGE_NAMES)))
        ):
            image = name
    points: list[PointFields] = []
    for name in properties:
        if name == "x" or name.endswith("_x"):
            y_name = name[:-1] + "y"
            if y_name not in properties:
                continue
            if _kinds(properties[name], defs) != {"integer"} or _kinds(
                properties[y_name], defs
            ) != {"integer"}:
                continue
            colour = None
            if name == "x":
                colour = next((c for c in _COLOUR_NAMES if c in properties), None)
            points.append(PointFields(name, y_name, colour))
    relative = "relative" if _kinds(properties.get("relative", {}), defs) == {"boolean"} else None
    return CaptureSupport(target, image, tuple(points), records, relative)


# -- saving a template ---------------------------------------------------------------------


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "node"


def save_template(workflow_dir: Path, node_id: str, image: Image) -> Path:
    """Write ``image`` (BGR) as ``images/<node>-<n>.png`` under ``workflow_dir``; return the path.

    ``n`` is the first number whose file does not exist yet, and the file is
    created exclusively, so an earlier capture is never replaced (a workflow
    still using it keeps working, and undo stays honest).
    """
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise CaptureError("the captured region could not be encoded as PNG")
    folder = workflow_dir / IMAGES_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(f"cannot create {folder}: {exc.strerror or exc}") from None
    stem = safe_name(node_id)
    for number in range(1, 100_000):
        path = folder / f"{stem}-{number}.png"
        try:
            with path.open("xb") as handle:
                handle.write(png.tobytes())
        except FileExistsError:
            continue
        except OSError as exc:
            raise CaptureError(f"cannot save {path}: {exc.strerror or exc}") from None
        return path
    raise CaptureError(f"{folder} already holds too many captures of '{node_id}'")


def relative_path(path: Path, workflow_dir: Path) -> str:
    """How the workflow refers to ``path``: relative to its folder, with '/' on every OS."""
    try:
        return path.relative_to(workflow_dir).as_posix()
    except ValueError:
        return str(path)


# -- new input values ------------------------------------------------------------------------


def _literal_image(anchor: Any) -> bool:
    return (
        isinstance(anchor, Mapping)
        and isinstance(anchor.get("image"), str)
        and not is_template(anchor["image"])
    )


def _editable_target(value: Any, field: str) -> dict[str, Any] | None:
    """The target value as a dict to change (None when unset); refuses a templated one."""
    if value is None:
        return None
    if isinstance(value, str):
        raise CaptureError(
            f"'{field}' is a template ({value}); set it to anchors to capture into it"
        )
    if not isinstance(value, Mapping):
        raise CaptureError(f"'{field}' is not a target (a mapping with anchors)")
    target = copy.deepcopy(dict(value))
    anchors = target.get("anchors")
    if anchors is None:
        target["anchors"] = []
    elif not isinstance(anchors, list):
        raise CaptureError(f"'{field}.anchors' is not a list")
    return target


def image_edit(
    support: CaptureSupport,
    inputs: Mapping[str, Any],
    image_path: str,
    screen: Box,
) -> dict[str, Any]:
    """The inputs to set after capturing ``image_path`` on a desktop of size ``screen``.

    * a target that is set: its first literal image anchor gets the new image
      (a new image anchor goes first when there is none, e.g. every image is
      a ``{{ template }}``), and ``captured_screen`` records the desktop size;
    * otherwise an image input that is set is replaced;
    * otherwise the target is created with one anchor (or the image input set).
    """
    size = [screen.width, screen.height]
    if support.target is not None:
        current = _editable_target(inputs.get(support.target), support.target)
        if current is not None or support.image is None or inputs.get(support.image) is None:
            target = current or {"anchors": []}
            anchors: list[Any] = target["anchors"]
            index = next((i for i, a in enumerate(anchors) if _literal_image(a)), None)
            if index is None:
                anchors.insert(0, {"image": image_path})
            else:
                anchors[index] = {**anchors[index], "image": image_path}
            if support.records_screen:
                target["captured_screen"] = size
            return {support.target: target}
    assert support.image is not None
    return {support.image: image_path}


def position_edit(
    support: CaptureSupport, inputs: Mapping[str, Any], x: int, y: int
) -> dict[str, Any]:
    """The inputs to set for a picked point on a target: a ``position`` anchor.

    The position anchor is the target's last resort (it cannot follow a moved
    window), so an existing one is updated in place and a new one goes last.
    A node that uses the image input instead is given a target holding that
    image first and the position after it (the block takes one or the other).
    """
    assert support.target is not None
    current = _editable_target(inputs.get(support.target), support.target)
    edit: dict[str, Any] = {}
    if current is None:
        current = {"anchors": []}
        if support.image is not None and inputs.get(support.image) is not None:
            current["anchors"].append({"image": inputs[support.image]})
            edit[support.image] = UNSET
    anchors: list[Any] = current["anchors"]
    index = next(
        (i for i, a in enumerate(anchors) if isinstance(a, Mapping) and "position" in a), None
    )
    if index is None:
        anchors.append({"position": [x, y]})
    else:
        anchors[index] = {**anchors[index], "position": [x, y]}
    edit[support.target] = current
    return edit


def point_edit(
    support: CaptureSupport,
    inputs: Mapping[str, Any],
    fields: PointFields,
    x: int,
    y: int,
    rgb: tuple[int, int, int],
) -> dict[str, Any]:
    edit: dict[str, Any] = {fields.x: x, fields.y: y}
    if fields.colour is not None:
        edit[fields.colour] = "#{:02x}{:02x}{:02x}".format(*rgb)
    if fields.x == "x" and support.relative is not None and inputs.get(support.relative) is True:
        edit[support.relative] = UNSET  # the default, absolute: what was picked
    return edit


def check_region(box: Box) -> str | None:
    """Why a selected region cannot be a template (too small), or None."""
    if box.width < MIN_TEMPLATE_SIDE or box.height < MIN_TEMPLATE_SIDE:
        return (
            f"the selection is {box.width} × {box.height} pixels; a template needs at least "
            f"{MIN_TEMPLATE_SIDE} × {MIN_TEMPLATE_SIDE}. Drag around the thing to find"
        )
    return None


# -- the frozen screen ----------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """A screenshot of the whole virtual desktop, frozen when a capture starts.

    It is grabbed with the blocks' own grabber (``display.grab``, mss), so a
    template cut from it holds exactly the pixels the blocks will search.
    """

    image: Image  # BGR
    origin: Box  # where the image lies on the virtual desktop

    @classmethod
    def take(cls) -> Shot:
        from automation.blocks.desktop.display import grab

        image, box = grab()
        return cls(image, box)

    def local(self, box: Box) -> Box:
        return Box(box.x - self.origin.x, box.y - self.origin.y, box.width, box.height)

    def crop(self, box: Box) -> Image:
        """A copy of the pixels of ``box`` (virtual-desktop coordinates)."""
        x, y, w, h = self.local(box).as_list()
        return self.image[y : y + h, x : x + w].copy()

    def rgb(self, x: int, y: int) -> tuple[int, int, int]:
        b, g, r = (int(v) for v in self.image[y - self.origin.y, x - self.origin.x][:3])
        return r, g, b
