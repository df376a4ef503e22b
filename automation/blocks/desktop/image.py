"""Image blocks: find, wait for and click an image on screen.

Each takes either ``template`` (one PNG) or ``target`` (several anchors, see
``targets.py``), searches a fresh mss screenshot with the scale- and
theme-tolerant matcher in ``matching.py``, and reports where it found it,
how well, at what scale, and which anchor matched.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop import matching
from automation.blocks.desktop.common import DesktopBlock, Evidence, region_field, to_box
from automation.blocks.desktop.display import CLICK_GAP, grab_raw, gui
from automation.blocks.desktop.focus import AimedInput, aim
from automation.blocks.desktop.targets import (
    Located,
    SearchOptions,
    Target,
    check_target,
    locate,
    simple_target,
)
from automation.errors import BlockError, BlockInputError


class FindInput(BlockInput):
    template: str | None = Field(
        default=None, description="PNG to look for, relative to the workflow"
    )
    target: Target | None = Field(
        default=None, description="several anchors tried in order (instead of template)"
    )
    region: list[int] | None = region_field()
    confidence: float = Field(
        default=0.85, gt=0, le=1, description="how close a match must be, 0..1"
    )
    grayscale: bool = Field(
        default=False, description="ignore colour (faster, and tolerant of tints)"
    )
    scales: list[float] = Field(
        default=list(matching.DEFAULT_SCALES),
        min_length=1,
        description="display scales to try, most likely first",
    )
    edges: bool = Field(
        default=True, description="fall back to matching outlines when colours changed"
    )
    all: bool = Field(default=False, description="report every match, not only the best")


class FindOutput(BlockOutput):
    found: bool = Field(description="whether the image is on screen")
    x: int | None = Field(description="centre x of the (best) match")
    y: int | None = Field(description="centre y of the (best) match")
    box: list[int] | None = Field(description="[x, y, width, height] of the match")
    score: float = Field(description="match score 0..1 (the best candidate's when not found)")
    scale: float | None = Field(description="display scale the match was found at")
    method: str | None = Field(
        description="color, gray, inverted (light/dark swapped), edges, ocr, accessibility or position"
    )
    matches: list[dict[str, Any]] = Field(
        description="every match, best first: x, y, box, score, scale"
    )
    anchor: str | None = Field(description="the anchor that matched")
    healed: bool = Field(description="true when a fallback anchor found the target")
    refreshed: str | None = Field(description="refreshed template saved by this step, if any")
    runner_up: float | None = Field(
        default=None,
        description="score of the best other distinct place near the bar (None: none came close)",
    )


def _target(ctx: BlockContext, block_id: str, inputs: FindInput) -> Target:
    if (inputs.template is None) == (inputs.target is None):
        raise BlockInputError(
            f"node '{ctx.node_id}' ({block_id}): give template or target (one of them)"
        )
    target = inputs.target if inputs.target is not None else simple_target(str(inputs.template))
    check_target(ctx, block_id, target)
    return target


def _options(inputs: FindInput) -> SearchOptions:
    return SearchOptions(
        confidence=inputs.confidence,
        grayscale=inputs.grayscale,
        scales=tuple(inputs.scales),
        edges=inputs.edges,
        find_all=inputs.all,
    )


def search_once(
    ctx: BlockContext, block_id: str, inputs: FindInput, evidence: Evidence
) -> Located | None:
    target = _target(ctx, block_id, inputs)
    region = to_box(inputs.region)
    screen, origin = grab_raw(region)
    evidence.region = origin if region is not None else None
    return locate(ctx, target, screen, origin, _options(inputs), evidence)


def _output(found: Located | None, evidence: Evidence) -> FindOutput:
    if found is None:
        return FindOutput(
            found=False,
            x=None,
            y=None,
            box=None,
            score=round(evidence.score or 0.0, 4),
            scale=None,
            method=None,
            matches=[],
            anchor=None,
            healed=False,
            refreshed=None,
        )
    cx, cy = found.box.center
    return FindOutput(
        found=True,
        x=cx,
        y=cy,
        box=found.box.as_list(),
        score=round(found.score, 4),
        scale=found.scale,
        method=found.method,
        matches=found.matches,
        anchor=found.anchor,
        healed=found.healed,
        refreshed=found.refreshed,
        runner_up=None if found.runner_up is None else round(found.runner_up, 4),
    )


def _describe(inputs: FindInput) -> str:
    if inputs.template is not None:
        return f"image {inputs.template}"
    assert inputs.target is not None
    return "target (" + ", ".join(a.label() for a in inputs.target.anchors) + ")"


def _not_found(inputs: FindInput, evidence: Evidence, waited: float | None) -> BlockError:
    best = f"; best candidate scored {evidence.score:.3f}" if evidence.score is not None else ""
    box = evidence.candidate
    if evidence.score is not None and evidence.score >= inputs.confidence and box is not None:
        # a score over the confidence with no answer reads as a contradiction unless
        # it says that a check set the place aside (a look-alike within the label
        # stage's gap records no refusal of its own: "∕" at 0.993 beside an italic "i")
        best += (
            f" at [{box.x}, {box.y}, {box.width}, {box.height}], over the confidence but"
            " set aside by the checks that keep look-alikes out (its colours, its label's"
            " shape, or a look-alike elsewhere too close to tell apart); give the target"
            " a region, an anchor, an index or nearest_to"
        )
    if evidence.refused:
        # a look-alike reached the bar but is not the target: say which and why
        best = f"; {evidence.refused}"
    when = f" within {waited:g}s" if waited else ""
    return BlockError(
        f"{_describe(inputs)} was not found on screen{when} at confidence {inputs.confidence:g}{best}"
    )


class ImageFind(DesktopBlock[FindInput]):
    """Look for an image on screen once; reports found: false rather than failing."""

    id = "image.find"
    title = "Find image"
    idempotent = True
    Input = FindInput
    Output = FindOutput

    def perform(self, inputs: FindInput, ctx: BlockContext, evidence: Evidence) -> FindOutput:
        return _output(search_once(ctx, self.id, inputs, evidence), evidence)


class WaitInput(FindInput):
    until: Literal["appears", "vanishes"] = Field(
        default="appears", description="wait for the image to appear or to go away"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds before the step fails")
    interval: float = Field(default=0.2, gt=0, le=10, description="seconds between looks")


def wait_for(
    ctx: BlockContext, block_id: str, inputs: WaitInput, evidence: Evidence
) -> Located | None:
    state: dict[str, Located | None] = {"found": None}

    def look() -> bool:
        state["found"] = search_once(ctx, block_id, inputs, evidence)
        present = state["found"] is not None
        return present if inputs.until == "appears" else not present

    timeout = ctx.remaining(inputs.timeout) or inputs.timeout
    if not ctx.wait_until(look, timeout=timeout, interval=inputs.interval):
        if inputs.until == "appears":
            raise _not_found(inputs, evidence, inputs.timeout)
        found = state["found"]
        if found is not None:
            evidence.candidate, evidence.score = found.box, found.score
        raise BlockError(f"{_describe(inputs)} was still on screen after {inputs.timeout:g}s")
    return state["found"]


class ImageWait(DesktopBlock[WaitInput]):
    """Wait until an image appears on screen (or goes away), polling until a timeout."""

    id = "image.wait"
    title = "Wait for image"
    idempotent = True
    Input = WaitInput
    Output = FindOutput

    def perform(self, inputs: WaitInput, ctx: BlockContext, evidence: Evidence) -> FindOutput:
        return _output(wait_for(ctx, self.id, inputs, evidence), evidence)


class ClickImageInput(FindInput, AimedInput):
    offset: list[int] = Field(
        default=[0, 0], min_length=2, max_length=2, description="[dx, dy] from the match's centre"
    )
    which: int = Field(
        default=0,
        ge=0,
        description="with all: which match to click, in reading order (0 = top-left-most)",
    )
    button: Literal["left", "right", "middle"] = Field(default="left", description="mouse button")
    clicks: int = Field(default=1, ge=1, le=3, description="1 = click, 2 = double-click")
    timeout: float = Field(
        default=0.0, ge=0, description="seconds to wait for the image first; 0 looks once"
    )
    interval: float = Field(
        default=0.2, gt=0, le=10, description="seconds between looks while waiting"
    )


class ImageClick(DesktopBlock[ClickImageInput]):
    """Find an image and click it (with an offset, on a chosen match); fails if it is not there."""

    id = "image.click"
    title = "Click image"
    Input = ClickImageInput
    Output = FindOutput

    def perform(self, inputs: ClickImageInput, ctx: BlockContext, evidence: Evidence) -> FindOutput:
        if inputs.timeout > 0:
            wait = WaitInput(
                **inputs.model_dump(
                    exclude={"offset", "which", "button", "clicks", "expect", "window"}
                )
            )
            found = wait_for(ctx, self.id, wait, evidence)
        else:
            found = search_once(ctx, self.id, inputs, evidence)
        if found is None:
            raise _not_found(inputs, evidence, None)
        x, y = found.box.center
        if inputs.all and found.matches:
            ordered = sorted(found.matches, key=lambda m: (m["box"][1] // 8, m["box"][0]))
            if inputs.which >= len(ordered):
                raise BlockError(
                    f"match {inputs.which} was asked for but only {len(ordered)} were found",
                    retryable=True,
                )
            x, y = int(ordered[inputs.which]["x"]), int(ordered[inputs.which]["y"])
        x, y = x + inputs.offset[0], y + inputs.offset[1]
        evidence.candidate = found.box
        aim(ctx, inputs, evidence, f"a click at {(x, y)}", (x, y))
        gap = CLICK_GAP if inputs.clicks > 1 else 0.0
        gui().click(x, y, button=inputs.button, clicks=inputs.clicks, interval=gap)
        output = _output(found, evidence)
        return output.model_copy(update={"x": x, "y": y})


BLOCKS = (ImageFind, ImageWait, ImageClick)
