"""Screen blocks: size and monitors, screenshots, pixel colours, waiting for a colour.

Everything is in virtual-desktop pixels: mss's monitor 0 is the bounding box
of all monitors, monitors 1.. are the physical ones in the X server's order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput, resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence, region_field, to_box
from automation.blocks.desktop.display import Box, grab, monitors
from automation.errors import BlockError, BlockInputError

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


class SizeOutput(BlockOutput):
    width: int = Field(description="width of the whole virtual desktop")
    height: int = Field(description="height of the whole virtual desktop")
    monitors: list[dict[str, int]] = Field(
        description="each monitor as {index, x, y, width, height}; index 1 is the first"
    )


class ScreenSize(DesktopBlock[BlockInput]):
    """The size of the desktop and the position of each monitor on it."""

    id = "screen.size"
    title = "Screen size"
    idempotent = True
    Output = SizeOutput

    def perform(self, inputs: BlockInput, ctx: BlockContext, evidence: Evidence) -> SizeOutput:
        boxes = monitors()
        return SizeOutput(
            width=boxes[0].width,
            height=boxes[0].height,
            monitors=[
                {"index": i, "x": b.x, "y": b.y, "width": b.width, "height": b.height}
                for i, b in enumerate(boxes[1:], start=1)
            ],
        )


def monitor_box(ctx: BlockContext, index: int) -> Box:
    boxes = monitors()
    if not 1 <= index < len(boxes):
        raise BlockInputError(
            f"node '{ctx.node_id}': there is no monitor {index}; this desktop has "
            f"{len(boxes) - 1} (numbered from 1)"
        )
    return boxes[index]


class ShotInput(BlockInput):
    region: list[int] | None = region_field()
    monitor: int | None = Field(default=None, ge=1, description="capture this monitor (1 = first)")
    path: str | None = Field(
        default=None,
        description="where to save the PNG (relative to the workflow); default: the run's artifacts",
    )


class ShotOutput(BlockOutput):
    path: str = Field(description="the saved PNG")
    box: list[int] = Field(description="what was captured: [x, y, width, height]")


class ScreenShot(DesktopBlock[ShotInput]):
    """Capture the screen, a region or one monitor to a PNG, recorded as a run artifact."""

    id = "screen.screenshot"
    title = "Screenshot"
    idempotent = True
    Input = ShotInput
    Output = ShotOutput

    def perform(self, inputs: ShotInput, ctx: BlockContext, evidence: Evidence) -> ShotOutput:
        import cv2  # here, not at the top: loading the block registry must stay light

        if inputs.region is not None and inputs.monitor is not None:
            raise BlockInputError(f"node '{ctx.node_id}': give a region or a monitor, not both")
        region = to_box(inputs.region)
        if inputs.monitor is not None:
            region = monitor_box(ctx, inputs.monitor)
        evidence.region = region
        image, box = grab(region)
        if inputs.path:
            path = resolve_path(ctx, inputs.path)
        else:
            path = ctx.artifacts_dir / f"{ctx.node_id}-step{ctx.step}-screenshot.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), image):
            raise BlockError(f"cannot write the screenshot to {path}", retryable=False)
        ctx.save_artifact(path, kind="screenshot", description=f"screenshot of {box.as_list()}")
        return ShotOutput(path=str(path), box=box.as_list())


def parse_colour(ctx: BlockContext, value: str | list[int]) -> tuple[int, int, int]:
    if isinstance(value, str):
        match = _HEX.match(value.strip())
        if not match:
            raise BlockInputError(
                f"node '{ctx.node_id}': colour {value!r} is not '#rrggbb' or [r, g, b]"
            )
        digits = match.group(1)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if len(value) != 3 or not all(0 <= c <= 255 for c in value):
        raise BlockInputError(f"node '{ctx.node_id}': colour {value} is not [r, g, b] in 0..255")
    return int(value[0]), int(value[1]), int(value[2])


def pixel(x: int, y: int) -> tuple[int, int, int]:
    image, _ = grab(Box(x, y, 1, 1))
    b, g, r = (int(v) for v in image[0, 0])
    return r, g, b


class PixelInput(BlockInput):
    x: int = Field(description="x in virtual-desktop pixels")
    y: int = Field(description="y in virtual-desktop pixels")


class PixelOutput(BlockOutput):
    r: int = Field(description="red 0..255")
    g: int = Field(description="green 0..255")
    b: int = Field(description="blue 0..255")
    hex: str = Field(description="the colour as #rrggbb")


def _pixel_output(rgb: tuple[int, int, int]) -> PixelOutput:
    r, g, b = rgb
    return PixelOutput(r=r, g=g, b=b, hex=f"#{r:02x}{g:02x}{b:02x}")


class ScreenPixel(DesktopBlock[PixelInput]):
    """The colour of one pixel on screen."""

    id = "screen.pixel"
    title = "Pixel colour"
    idempotent = True
    Input = PixelInput
    Output = PixelOutput

    def perform(self, inputs: PixelInput, ctx: BlockContext, evidence: Evidence) -> PixelOutput:
        evidence.candidate = Box(inputs.x - 4, inputs.y - 4, 9, 9)
        return _pixel_output(pixel(inputs.x, inputs.y))


class ColourInput(BlockInput):
    x: int = Field(description="x of the pixel to watch")
    y: int = Field(description="y of the pixel to watch")
    colour: str | list[int] = Field(description="'#rrggbb' or [r, g, b]")
    tolerance: int = Field(default=10, ge=0, le=255, description="largest per-channel difference")
    until: Literal["appears", "vanishes"] = Field(
        default="appears", description="wait for the colour to appear or to go away"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds before the step fails")
    interval: float = Field(default=0.1, gt=0, le=10, description="seconds between looks")


class ScreenWaitForColour(DesktopBlock[ColourInput]):
    """Wait until a pixel has (or no longer has) a colour."""

    id = "screen.wait_for_color"
    title = "Wait for colour"
    idempotent = True
    Input = ColourInput
    Output = PixelOutput

    def perform(self, inputs: ColourInput, ctx: BlockContext, evidence: Evidence) -> PixelOutput:
        want = parse_colour(ctx, inputs.colour)
        evidence.candidate = Box(inputs.x - 4, inputs.y - 4, 9, 9)
        seen: dict[str, Any] = {}

        def matches() -> bool:
            rgb = pixel(inputs.x, inputs.y)
            seen["rgb"] = rgb
            close = all(abs(a - b) <= inputs.tolerance for a, b in zip(rgb, want, strict=True))
            return close if inputs.until == "appears" else not close

        timeout = ctx.remaining(inputs.timeout) or inputs.timeout
        if not ctx.wait_until(matches, timeout=timeout, interval=inputs.interval):
            r, g, b = seen.get("rgb", (0, 0, 0))
            evidence.label = f"pixel ({inputs.x}, {inputs.y}) is #{r:02x}{g:02x}{b:02x}"
            verb = "appear" if inputs.until == "appears" else "go away"
            raise BlockError(
                f"colour #{want[0]:02x}{want[1]:02x}{want[2]:02x} did not {verb} at "
                f"({inputs.x}, {inputs.y}) within {inputs.timeout:g}s; it is "
                f"#{r:02x}{g:02x}{b:02x}"
            )
        return _pixel_output(seen["rgb"])


def save_png(path: Path, image: Any) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise BlockError(f"cannot write {path}", retryable=False)


BLOCKS = (ScreenSize, ScreenShot, ScreenPixel, ScreenWaitForColour)
