"""``screen.read_text``: the text on screen, with a box for every word, by OCR.

Read a region, a region placed relative to a target (a label's value to its
right, a dialog's message under its icon), or the whole screen::

    - block: screen.read_text
      with: {region: [0, 30, 330, 60]}
    - block: screen.read_text
      with:
        target: {anchors: [{accessibility: "app=galculator / ... / text"}]}
    - block: screen.read_text
      with:
        target: {anchors: [{text: "Total:"}]}
        relative: [0, -4, 200, 30]     # [dx, dy, width, height] from the target's top-left

The screen is read window by window (see ``ocr.py``), so text in one window
never runs into the next one's lines.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop import ocr
from automation.blocks.desktop.common import DesktopBlock, Evidence, region_field, to_box
from automation.blocks.desktop.display import Box
from automation.blocks.desktop.targets import Target
from automation.errors import BlockError, BlockInputError


class ReadTextInput(BlockInput):
    region: list[int] | None = region_field()
    target: Target | None = Field(
        default=None, description="read where this target is (or relative to it)"
    )
    relative: list[int] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="with target: [dx, dy, width, height] from the target's top-left corner; "
        "default: the target's own box",
    )
    language: str = Field(default="eng", description="Tesseract language, e.g. eng, deu, eng+fra")
    min_confidence: float = Field(
        default=0.0, ge=0, le=1, description="leave out words OCR is less sure of (0..1)"
    )


class ReadTextOutput(BlockOutput):
    text: str = Field(description="the text read, one line per line on screen")
    lines: list[str] = Field(description="the lines, top to bottom")
    words: list[dict[str, Any]] = Field(
        description="every word: text, box [x, y, width, height] on screen, confidence 0..1"
    )
    box: list[int] = Field(description="the region read: [x, y, width, height]")
    engine: str = Field(description="tesserocr or tesseract-cli")
    seconds: float = Field(description="time the grab and the OCR took")


class ScreenReadText(DesktopBlock[ReadTextInput]):
    """Read the text in a region, relative to a target, or on the whole screen (OCR)."""

    id = "screen.read_text"
    title = "Read text on screen"
    idempotent = True
    Input = ReadTextInput
    Output = ReadTextOutput

    def perform(
        self, inputs: ReadTextInput, ctx: BlockContext, evidence: Evidence
    ) -> ReadTextOutput:
        region = self._region(inputs, ctx, evidence)
        evidence.region = region
        started = time.perf_counter()
        words, box = ocr.read_region(region, language=inputs.language, timeout=_left(ctx))
        seconds = time.perf_counter() - started
        words = [w for w in words if w.confidence >= inputs.min_confidence]
        lines = [" ".join(w.text for w in line) for line in ocr.lines(words)]
        return ReadTextOutput(
            text="\n".join(lines),
            lines=lines,
            words=[word.as_dict() for line in ocr.lines(words) for word in line],
            box=box.as_list(),
            engine=ocr.engine_name(),
            seconds=round(seconds, 4),
        )

    def _region(self, inputs: ReadTextInput, ctx: BlockContext, evidence: Evidence) -> Box | None:
        if inputs.target is None:
            if inputs.relative is not None:
                raise BlockInputError(
                    f"node '{ctx.node_id}' ({self.id}): relative needs a target to be relative to"
                )
            return to_box(inputs.region)
        from automation.blocks.desktop.image import FindInput, search_once

        found = search_once(
            ctx, self.id, FindInput(target=inputs.target, region=inputs.region), evidence
        )
        if found is None:
            labels = ", ".join(a.label() for a in inputs.target.anchors)
            raise BlockError(f"the target to read at ({labels}) is not on screen")
        evidence.candidate = found.box
        if inputs.relative is None:
            return found.box
        dx, dy, width, height = inputs.relative
        if width <= 0 or height <= 0:
            raise BlockInputError(
                f"node '{ctx.node_id}' ({self.id}): relative {inputs.relative} has no area"
            )
        return Box(found.box.x + dx, found.box.y + dy, width, height)


def _meets(a: Box, b: Box) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def _left(ctx: BlockContext) -> float:
    return ctx.remaining(30.0) or 30.0


BLOCKS = (ScreenReadText,)
