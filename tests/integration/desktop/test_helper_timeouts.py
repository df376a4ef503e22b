"""A clipboard helper that never answers fails the step in time and leaves nothing behind.

The fake ``xsel`` is a real shell script on PATH that starts a child and
waits for ever, as a helper stuck on a frozen clipboard owner does.  The
desktop block with no timeout of its own runs under the desktop default, and
a stuck block is stopped by that default like any timed-out step.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from automation.blocks.base import BlockInput
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.registry import BlockRegistry
from automation.engine.engine import Engine
from automation.validation import load_valid
from tests.helpers.common import eventually
from tests.integration.desktop.conftest import Flows

READ_FLOW = """
deskpilot: 1
name: read-clipboard
nodes:
  read:
    block: clipboard.get
    timeout: 2s
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_clipboard_read_that_never_answers_fails_within_the_timeout(
    xvfb_display, flows: Flows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    pids = tmp_path / "pids"
    fake = folder / "xsel"
    fake.write_text(f"#!/bin/sh\necho $$ >> '{pids}'\nsleep 3600 &\necho $! >> '{pids}'\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    started = time.monotonic()
    result = flows.run(READ_FLOW)
    elapsed = time.monotonic() - started
    assert not result.ok
    assert elapsed < 3.5, elapsed
    assert "reading the clipboard (" in str(result.error) and "was killed" in str(result.error)
    stuck = [int(line) for line in pids.read_text().split()]
    assert len(stuck) == 2  # the script and its child
    eventually(lambda: not any(_alive(pid) for pid in stuck), timeout=5)


class Stuck(DesktopBlock[BlockInput]):
    """Never finishes on its own (a stand-in for any desktop block that blocks)."""

    id = "test.stuck"
    default_timeout = 0.5

    def perform(self, inputs: BlockInput, ctx: BlockContext, evidence: Evidence) -> None:
        ctx.sleep(60)


def test_a_desktop_step_with_no_timeout_gets_the_default(xvfb_display, tmp_path: Path) -> None:
    registry = BlockRegistry()
    registry.register(Stuck)
    path = tmp_path / "stuck.yaml"
    path.write_text("deskpilot: 1\nname: stuck\nnodes:\n  hang: {block: test.stuck}\n")
    engine = Engine(registry, artifacts_dir=tmp_path / "artifacts")
    started = time.monotonic()
    try:
        result = engine.run(load_valid(path, registry), {})
    finally:
        engine.close()
    assert not result.ok
    assert time.monotonic() - started < 5
    assert "deadline" in str(result.error)
