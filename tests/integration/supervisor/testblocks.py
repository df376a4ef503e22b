"""Blocks that only the supervisor tests use, loaded by real workers through a real entry point.

A worker builds its registry from the built-in modules plus the
``deskpilot.blocks`` entry points it can see; the ``plugin_path`` fixture
puts a tiny ``.dist-info`` declaring this module on the workers'
``PYTHONPATH``.  That is how a test gets a block that exits the worker with a
chosen code (a crash the worker did itself, not a signal) and a block that
needs the ``desktop`` resource without needing a display.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from automation.blocks.base import Block, BlockInput, BlockOutput, resolve_path
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence

ENTRY_POINT_MODULE = __name__


class ExitInput(BlockInput):
    code: int = Field(3, description="exit status of the worker")
    unless_exists: str | None = Field(
        None, description="do nothing when this file exists (lets a test end a crash loop)"
    )
    once: str | None = Field(
        None, description="crash only the first time: create this file, then exit"
    )


class Done(BlockOutput):
    pass


class ExitWorker(Block[ExitInput]):
    """End the worker process at once with ``code``, as a crashing native library would."""

    id = "suptest.exit_worker"
    title = "Exit worker"
    category = "testing"
    Input = ExitInput
    Output = Done

    def run(self, inputs: ExitInput, ctx: BlockContext) -> Done:
        if inputs.unless_exists is not None and resolve_path(ctx, inputs.unless_exists).exists():
            return Done()
        if inputs.once is not None:
            marker = resolve_path(ctx, inputs.once)
            if marker.exists():
                return Done()
            marker.touch()
        os._exit(inputs.code)


class HoldInput(BlockInput):
    log: str = Field(description="file that gets 'start'/'end' lines with monotonic times")
    seconds: float = Field(0.3, description="how long to hold the resource")


class Hold(Block[HoldInput]):
    """Take a while, writing when it started and ended."""

    id = "suptest.hold"
    title = "Hold"
    category = "testing"
    Input = HoldInput
    Output = Done

    def run(self, inputs: HoldInput, ctx: BlockContext) -> Done:
        path = resolve_path(ctx, inputs.log)
        _line(path, f"start {ctx.run_id} {time.monotonic():.6f}\n")
        ctx.sleep(inputs.seconds)
        _line(path, f"end {ctx.run_id} {time.monotonic():.6f}\n")
        return Done()


class DesktopHold(Hold):
    """Hold the ``desktop`` resource for a while, writing when it started and ended."""

    id = "suptest.desktop_hold"
    title = "Hold the desktop"
    resources: ClassVar[frozenset[str]] = frozenset({"desktop"})


class ChildInput(BlockInput):
    pids: str = Field(description="file that gets the helper's pid")


class DesktopChildHang(DesktopBlock[ChildInput]):
    """Wait on a helper program with no time limit, as a block that forgot one would.

    ``wait()`` blocks in C (waitpid), where the engine's watchdog cannot reach;
    the node sets no timeout, so only the desktop default bounds it.
    """

    id = "suptest.desktop_child"
    title = "Wait on a helper for ever"
    category = "testing"
    default_timeout = 0.5
    Input = ChildInput
    Output = Done

    def perform(self, inputs: ChildInput, ctx: BlockContext, evidence: Evidence) -> Done:
        helper = subprocess.Popen(["sleep", "600"])
        _line(resolve_path(ctx, inputs.pids), f"{helper.pid}\n")
        helper.wait()
        return Done()


class CompiledInput(BlockInput):
    blocks: list[str] = Field(description="ids of built-in blocks")
    report: str = Field(description="file that gets, per block, whether its Input is compiled")


class Compiled(Block[CompiledInput]):
    """Write which blocks' models this worker had compiled before it ran anything else.

    A worker validates only its own run's blocks: another block's model is
    compiled here only if the process it was forked from compiled it.
    """

    id = "suptest.compiled"
    title = "Report compiled block models"
    category = "testing"
    Input = CompiledInput
    Output = Done

    def run(self, inputs: CompiledInput, ctx: BlockContext) -> Done:
        from automation.blocks.registry import BlockRegistry

        registry = BlockRegistry.with_builtins(plugins=False)
        compiled = {b: bool(registry[b].Input.__pydantic_complete__) for b in inputs.blocks}
        resolve_path(ctx, inputs.report).write_text(json.dumps(compiled), encoding="utf-8")
        return Done()


def _line(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


BLOCKS = (ExitWorker, Hold, DesktopHold, DesktopChildHang, Compiled)
