"""Test a node's target against the screen now, as the block would, without running anything.

``prepare`` turns the node's literal inputs into a ``TargetTest`` (the same
``Target`` and ``SearchOptions`` the image blocks build); ``run`` grabs the
screen with the blocks' grabber and calls the blocks' own ``locate``, timing
both.  No Qt here: the editor runs ``run`` on a worker thread and shows the
``TargetTestResult`` in a dialog.

Two differences from a real step, both deliberate: ``refresh_template`` is
switched off (a test must not write files next to the workflow), and the
search happens once (``image.wait``'s polling is the run's business).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.editor.capture import CaptureError, CaptureSupport
from app.editor.document import UNSET
from automation.blocks.base import Block
from automation.blocks.context import BlockContext, LogLevel, RunHooks
from automation.blocks.desktop import matching
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.display import Box, Image, grab_raw
from automation.blocks.desktop.targets import (
    Located,
    SearchOptions,
    Target,
    check_target,
    locate,
    simple_target,
)
from automation.errors import DeskpilotError
from automation.templates import is_template

log = logging.getLogger(__name__)

_DEFAULTS: dict[str, Any] = {
    "confidence": 0.85,
    "grayscale": False,
    "scales": list(matching.DEFAULT_SCALES),
    "edges": True,
    "all": False,
}


@dataclass(frozen=True)
class TargetTest:
    node_id: str
    block_id: str
    target: Target
    options: SearchOptions
    region: Box | None
    workflow_dir: Path

    def anchors(self) -> list[str]:
        return [anchor.label() for anchor in self.target.anchors]


@dataclass
class TargetTestResult:
    test: TargetTest
    screen: Image | None = None  # BGR, what was searched
    origin: Box | None = None
    located: Located | None = None
    candidate: Box | None = None
    candidate_score: float | None = None
    grab_seconds: float = 0.0
    search_seconds: float = 0.0
    logs: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def found(self) -> bool:
        return self.located is not None

    def summary(self) -> str:
        """One paragraph for the dialog: what matched, how well, where, and how long it took."""
        timing = (
            f"Search took {self.search_seconds * 1000:.0f} ms "
            f"(screen grab {self.grab_seconds * 1000:.0f} ms)."
        )
        if self.error is not None:
            return f"The test failed: {self.error}"
        anchors = self.test.anchors()
        found = self.located
        if found is None:
            text = f"Not found at confidence {self.test.options.confidence:g}"
            if self.candidate is not None and self.candidate_score is not None:
                text += (
                    f"; the best candidate scored {self.candidate_score:.3f} "
                    f"at {self.candidate.as_list()}"
                )
            else:
                text += "; no image anchor produced a candidate"
            return f"{text}. {timing}"
        which = f"anchor {found.index + 1} of {len(anchors)} ({found.anchor})"
        x, y = found.box.center
        if found.method == "position":
            text = (
                f"Only the last known position matched: {which} at ({x}, {y}). "
                "No image or text anchor was found on screen."
            )
        else:
            text = (
                f"Found by {which}, score {found.score:.3f} ({found.method}, scale "
                f"{found.scale:g}) at {found.box.as_list()}, centre ({x}, {y})."
            )
            if found.healed:
                text += " A fallback anchor matched: the first one did not."
            if len(found.matches) > 1:
                text += f" {len(found.matches)} matches in all."
        return f"{text} {timing}"


class _Collect(RunHooks):
    """Keeps what the search logs (a skipped OCR anchor, a healed match) for the dialog."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def log(self, node_id: str | None, level: LogLevel, message: str, data: dict[str, Any]) -> None:
        self.lines.append(f"{level}: {message}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _option(block: type[Block[Any]], inputs: Mapping[str, Any], name: str) -> Any:
    value = inputs.get(name, UNSET)
    if value is UNSET or (isinstance(value, str) and is_template(value)):
        info = block.Input.model_fields.get(name)
        if info is not None and not info.is_required():
            return info.get_default(call_default_factory=True)
        return _DEFAULTS[name]
    return value


def _search_options(block: type[Block[Any]], inputs: Mapping[str, Any]) -> SearchOptions:
    confidence = _option(block, inputs, "confidence")
    scales = _option(block, inputs, "scales")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise CaptureError(f"confidence must be a number, got {confidence!r}")
    if not 0 < confidence <= 1:
        raise CaptureError(f"confidence must be above 0 and at most 1, got {confidence}")
    if (
        not isinstance(scales, list)
        or not scales
        or not all(isinstance(s, int | float) and not isinstance(s, bool) and s > 0 for s in scales)
    ):
        raise CaptureError(f"scales must be a list of positive numbers, got {scales!r}")
    return SearchOptions(
        confidence=float(confidence),
        grayscale=bool(_option(block, inputs, "grayscale")),
        scales=tuple(float(s) for s in scales),
        edges=bool(_option(block, inputs, "edges")),
        find_all=bool(_option(block, inputs, "all")),
    )


def _region(inputs: Mapping[str, Any]) -> Box | None:
    value = inputs.get("region")
    if value is None or value is UNSET:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise CaptureError(f"region must be [x, y, width, height], got {value!r}")
    box = Box.of(value)
    if box.width <= 0 or box.height <= 0:
        raise CaptureError(f"region {value} has no area")
    return box


def prepare(
    block: type[Block[Any]],
    support: CaptureSupport,
    node_id: str,
    inputs: Mapping[str, Any],
    workflow_path: Path | None,
    linked: Collection[str] = (),
) -> TargetTest:
    """The test the node's current inputs describe; ``CaptureError`` says why there is none."""
    name: str | None = None
    value: Any = None
    if support.target is not None and inputs.get(support.target) is not None:
        name, value = support.target, inputs[support.target]
    elif support.image is not None and inputs.get(support.image) is not None:
        name, value = support.image, inputs[support.image]
    for pin in (support.target, support.image, "region"):
        if pin is not None and pin in linked:
            raise CaptureError(
                f"'{pin}' comes from a link, so its value is only known during a run"
            )
    if name is None:
        raise CaptureError("there is nothing to test yet: capture an image first")
    templated = next((s for s in _strings(value) if is_template(s)), None)
    if templated is not None:
        raise CaptureError(
            f"'{name}' uses a template ({templated}), which only has a value during a run; "
            "test with literal image paths"
        )
    try:
        target = (
            simple_target(value)
            if name == support.image and isinstance(value, str)
            else Target.model_validate(value)
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CaptureError(f"'{name}' is not a valid target: {problems}") from None
    relative = [a.image for a in target.anchors if a.image and not Path(a.image).is_absolute()]
    if relative and workflow_path is None:
        raise CaptureError(
            "save the workflow first: image paths are relative to the workflow's folder"
        )
    folder = workflow_path.parent if workflow_path is not None else Path.cwd()
    ctx = BlockContext(run_id="editor-test", node_id=node_id, workflow_dir=folder)
    try:
        check_target(ctx, block.id, target)
    except DeskpilotError as exc:
        raise CaptureError(str(exc)) from None
    return TargetTest(
        node_id=node_id,
        block_id=block.id,
        target=target.model_copy(update={"refresh_template": False}),
        options=_search_options(block, inputs),
        region=_region(inputs),
        workflow_dir=folder,
    )


def search(test: TargetTest, screen: Image, origin: Box) -> TargetTestResult:
    """Run the blocks' ``locate`` on one screenshot (BGRA or BGR) taken at ``origin``."""
    result = TargetTestResult(test=test, origin=origin)
    hooks = _Collect(result.logs)
    ctx = BlockContext(
        run_id="editor-test",
        node_id=test.node_id,
        workflow_dir=test.workflow_dir,
        artifacts_dir=test.workflow_dir,
        hooks=hooks,
    )
    evidence = Evidence()
    started = time.perf_counter()
    try:
        result.located = locate(ctx, test.target, screen, origin, test.options, evidence)
    except DeskpilotError as exc:
        result.error = str(exc)
    result.search_seconds = time.perf_counter() - started
    result.candidate, result.candidate_score = evidence.candidate, evidence.score
    result.screen = matching.to_bgr(screen)
    return result


def run(test: TargetTest) -> TargetTestResult:
    """Grab the screen (or the node's region) as the block does, then ``search`` it.

    Safe to call off the GUI thread: the grabber keeps one mss handle per thread.
    """
    started = time.perf_counter()
    try:
        screen, origin = grab_raw(test.region)
    except DeskpilotError as exc:
        return TargetTestResult(test=test, error=str(exc))  # says it could not capture
    grabbed = time.perf_counter() - started
    try:
        result = search(test, screen, origin)
    except Exception as exc:  # a bug: the log gets the traceback, the dialog a message
        log.exception("testing the target of node '%s' failed", test.node_id)
        return TargetTestResult(test=test, error=f"{type(exc).__name__}: {exc}")
    result.grab_seconds = grabbed
    return result
