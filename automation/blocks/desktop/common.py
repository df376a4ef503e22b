"""What every desktop block shares: the resource, pause/abort, and evidence on failure.

A desktop step that fails leaves a screenshot behind: the whole screen with
the search region (blue) and the best candidate it saw (red, with its score)
drawn on it (for an ambiguous target, every close candidate in orange with its
score), saved in the run's artifacts folder and recorded with
``ctx.save_artifact`` so the history links it to the step.  Its path goes into
the error message, so the CLI prints it with the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from automation.blocks.base import Block, BlockInput, BlockOutput, ResumeCheck, RunResult
from automation.blocks.context import BlockContext
from automation.blocks.desktop.display import (
    Box,
    DisplayUnavailable,
    checkpoint,
    failsafe_error,
    grab,
)
from automation.errors import BlockError, StepCancelled

logger = logging.getLogger(__name__)

InT = TypeVar("InT", bound=BlockInput)

DESKTOP = frozenset({"desktop"})
#: Seconds a desktop step may run when nothing else sets its timeout.
DESKTOP_STEP_TIMEOUT = 120.0
#: Added to that for each wait input given as a template (its value is unknown at load).
TEMPLATED_WAIT = 3600.0
#: The default time ``expect:`` gives its postcondition (``Expect.timeout``).
EXPECT_TIMEOUT = 5.0
_BLUE = (255, 128, 0)
_RED = (0, 0, 255)
_ORANGE = (0, 140, 255)


@dataclass
class Evidence:
    """What a failing step was looking at, filled in as the step goes."""

    region: Box | None = None
    candidate: Box | None = None
    score: float | None = None
    label: str = ""
    region_label: str = "search region"
    candidate_label: str = "best candidate"
    #: Why the best place was refused (a look-alike checked on its label), if it was.
    refused: str = ""
    #: Every close candidate of an ambiguous target, with its score.
    candidates: list[tuple[Box, float]] = field(default_factory=list)


class DesktopBlock(Block[InT]):
    """Base of the desktop blocks: subclasses implement ``perform``."""

    category: ClassVar[str] = "desktop"
    resources: ClassVar[frozenset[str]] = DESKTOP
    idempotent: ClassVar[bool] = False
    #: No desktop step blocks for ever: this applies when the node and the workflow's
    #: defaults set no timeout, plus the seconds the step's own wait inputs ask for.
    default_timeout: ClassVar[float | None] = DESKTOP_STEP_TIMEOUT
    wait_inputs: ClassVar[tuple[str, ...]] = ("timeout", "wait", "duration")

    @classmethod
    def timeout_for(cls, literal: Mapping[str, Any]) -> float | None:
        if cls.default_timeout is None:
            return None
        total = cls.default_timeout
        for name in cls.wait_inputs:
            value = literal.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                total += float(value)
            elif value is not None:  # a template: its value is known only at run time
                total += TEMPLATED_WAIT
        expect = literal.get("expect")
        if isinstance(expect, Mapping):  # the postcondition's wait comes after the action
            value = expect.get("timeout", EXPECT_TIMEOUT)
            if isinstance(value, int | float) and not isinstance(value, bool):
                total += float(value)
            else:
                total += TEMPLATED_WAIT
        elif expect is not None:
            total += TEMPLATED_WAIT
        return total

    def perform(self, inputs: InT, ctx: BlockContext, evidence: Evidence) -> RunResult:
        raise NotImplementedError

    def output_when_held(self, inputs: InT, ctx: BlockContext) -> BlockOutput | None:
        """What the step emits when, on resume, its postcondition shows it already ran.

        None when the block has outputs it cannot know without acting again
        (the engine then runs the step again if anything uses them).
        """
        return self.Output() if not self.Output.model_fields else None

    def run(self, inputs: InT, ctx: BlockContext) -> RunResult:
        evidence = Evidence()
        try:
            checkpoint(ctx)
            result = self.perform(inputs, ctx, evidence)
            expect = getattr(inputs, "expect", None)
            if expect is not None:
                from automation.blocks.desktop.expect import verify  # imports this module

                verify(ctx, expect, evidence)
            return result
        except StepCancelled:
            raise
        except DisplayUnavailable:
            raise  # nothing to photograph
        except BlockError as exc:
            path = save_evidence(ctx, evidence, str(exc))
            if path is not None:
                exc.args = (f"{exc} (screenshot: {path})",)
            raise
        except Exception as exc:
            error = failsafe_error(exc) or BlockError(
                f"node '{ctx.node_id}' ({self.id}): {type(exc).__name__}: {exc}"
            )
            path = save_evidence(ctx, evidence, str(error))
            if path is not None:
                error.args = (f"{error} (screenshot: {path})",)
            raise error from exc

    def check_resumed(self, inputs: InT, ctx: BlockContext) -> ResumeCheck | None:
        """On resume: the postcondition decides whether the interrupted action took effect."""
        expect = getattr(inputs, "expect", None)
        if expect is None:
            return None
        from automation.blocks.desktop.expect import check_expect

        result = check_expect(ctx, expect, ctx.deadline)
        if not result.held:
            return ResumeCheck(held=False, detail=f"expected {result.expected}; saw {result.seen}")
        return ResumeCheck(
            held=True,
            detail=f"{result.expected}: {result.seen}",
            output=self.output_when_held(inputs, ctx),
        )


def save_evidence(ctx: BlockContext, evidence: Evidence, message: str) -> Path | None:
    """Screenshot with the search region and best candidate drawn; None if the screen is gone."""
    import cv2  # here, not at the top: loading the block registry must stay light

    try:
        image, screen = grab()
    except Exception as exc:  # the display may be what failed
        logger.warning("could not take a failure screenshot: %s", exc)
        return None
    image = image.copy()
    if evidence.region is not None:
        _rect(image, evidence.region, screen, _BLUE, evidence.region_label)
    if evidence.candidate is not None:
        label = evidence.candidate_label
        if evidence.score is not None:
            label += f" {evidence.score:.3f}"
        _rect(image, evidence.candidate, screen, _RED, label)
    for number, (box, score) in enumerate(evidence.candidates, 1):
        _rect(image, box, screen, _ORANGE, f"#{number} {score:.3f}")
    if evidence.label:
        cv2.putText(image, evidence.label[:120], (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, _RED, 2)
    folder = ctx.artifacts_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_safe(ctx.node_id)}-step{ctx.step}-attempt{ctx.attempt}-failure.png"
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write {path}")
    except OSError as exc:
        logger.warning("could not save a failure screenshot: %s", exc)
        return None
    description = ctx.redactor.clip(message, 300, suffix="…")  # masked before it is cut
    ctx.save_artifact(path, kind="screenshot", description=f"failure: {description}")
    return path


def _rect(image: Any, box: Box, screen: Box, colour: tuple[int, int, int], label: str) -> None:
    import cv2

    x, y = box.x - screen.x, box.y - screen.y
    cv2.rectangle(image, (x, y), (x + box.width, y + box.height), colour, 2)
    cv2.putText(
        image, label, (x, max(14, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "step"


# -- input fields shared by several blocks -------------------------------------------------


def region_field() -> Any:
    return Field(
        default=None,
        description="search only here: [x, y, width, height] in virtual-desktop pixels",
        min_length=4,
        max_length=4,
    )


def to_box(region: list[int] | None) -> Box | None:
    if region is None:
        return None
    box = Box.of(region)
    if box.width <= 0 or box.height <= 0:
        raise BlockError(f"region {region} has no area", retryable=False)
    return box
