"""A running run holds its desktop steps while the session is held (``automation.engine.hold``).

The engine is driven directly with ``RunOptions(hold=...)``, as the worker
does when the supervisor says the screen locked.  The blocks here claim the
``desktop`` resource but send nothing anywhere: they record, per piece of
"input", whether the session was held when it was sent, so the tests need
no display.  (tests/integration/desktop/test_locked_run.py does it with real
keys, a real terminal and a real D-Bus lock.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field

from automation.blocks.base import Block, BlockInput, ResumeCheck
from automation.blocks.context import BlockContext
from automation.blocks.registry import BlockRegistry
from automation.engine.engine import Engine
from automation.engine.events import (
    Event,
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodeStarted,
)
from automation.engine.hold import SessionHold
from automation.engine.options import RunOptions
from automation.engine.result import RunResult
from automation.loader import parse_workflow
from tests.helpers.common import eventually

pytestmark = pytest.mark.timeout(30)
LOCKED = "the screen is locked (test)"


class PiecesInput(BlockInput):
    pieces: int = Field(default=10, description="pieces of input to send")
    lock_after: int = Field(default=-1, description="the lock comes after this piece")


class Pieces(Block[PiecesInput]):
    """Sends pieces of input with a pause between them (keyboard.type's shape)."""

    id = "holdtest.pieces"
    resources: ClassVar[frozenset[str]] = frozenset({"desktop"})
    Input = PiecesInput
    hold: ClassVar[SessionHold | None] = None
    #: Per piece sent: whether the session was held at that moment.
    sent: ClassVar[list[bool]] = []

    def run(self, inputs: PiecesInput, ctx: BlockContext) -> None:
        assert Pieces.hold is not None
        for piece in range(inputs.pieces):
            ctx.input_pause(0.005)
            Pieces.sent.append(Pieces.hold.current() is not None)
            if piece == inputs.lock_after:
                Pieces.hold.hold(LOCKED)  # the lock comes while the step is under way


class Click(Block[BlockInput]):
    """One action that cannot stop half-way; its postcondition is a flag."""

    id = "holdtest.click"
    resources: ClassVar[frozenset[str]] = frozenset({"desktop"})
    runs: ClassVar[list[int]] = []
    lock_during: ClassVar[bool] = False
    took_effect: ClassVar[bool] = False

    def run(self, inputs: BlockInput, ctx: BlockContext) -> None:
        Click.runs.append(ctx.attempt)
        if Click.lock_during:
            Click.lock_during = False
            assert Pieces.hold is not None
            Pieces.hold.hold(LOCKED)

    def check_resumed(self, inputs: BlockInput, ctx: BlockContext) -> ResumeCheck | None:
        return ResumeCheck(held=Click.took_effect, detail=f"took effect: {Click.took_effect}")


@pytest.fixture(scope="module")
def registry() -> BlockRegistry:
    registry = BlockRegistry.with_builtins(plugins=False)
    registry.register(Pieces)
    registry.register(Click)
    return registry


@pytest.fixture
def hold() -> SessionHold:
    Pieces.hold = SessionHold()
    Pieces.sent = []
    Click.runs = []
    Click.lock_during = False
    Click.took_effect = False
    return Pieces.hold


class Running:
    """A run in a thread of its own, its events collected as they come."""

    def __init__(
        self, registry: BlockRegistry, tmp_path: Path, text: str, hold: SessionHold
    ) -> None:
        self.events: list[Event] = []
        engine = Engine(registry, sink=self.events.append, artifacts_dir=tmp_path / "artifacts")
        loaded = parse_workflow(text, path=tmp_path / "flow.yaml")
        self.result: RunResult | None = None

        def run() -> None:
            self.result = engine.run(loaded, {}, RunOptions(hold=hold))

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def logs(self, kind: str) -> list[LogEmitted]:
        return [e for e in self.events if isinstance(e, LogEmitted) and e.data.get("hold") == kind]

    def wait_for(self, check: Callable[[], object]) -> None:
        eventually(check, timeout=10, interval=0.005)

    def finished(self) -> RunResult:
        self.thread.join(10)
        assert self.result is not None, "the run did not finish"
        return self.result


def _flow(nodes: str, limits: str = "") -> str:
    return f"deskpilot: 1\nname: hold\n{limits}nodes:\n{nodes}"


def test_a_held_session_holds_the_desktop_step_before_it_starts(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    hold.hold(LOCKED)
    run = Running(
        registry,
        tmp_path,
        _flow(
            "  plain: {block: control.pass, with: {value: 1}}\n"
            "  keys: {block: holdtest.pieces, with: {pieces: 3}}\n"
            "links:\n  - plain -> keys\n"
        ),
        hold,
    )
    run.wait_for(lambda: run.logs("held"))
    # the step that needs no desktop ran; the desktop one has not started (no attempt used)
    started = [e.node_id for e in run.events if isinstance(e, NodeStarted)]
    assert started == ["plain"]
    [held] = run.logs("held")
    assert held.message.startswith(f"held: {LOCKED} (since ") and "before step 2" in held.message
    hold.release()
    result = run.finished()
    assert result.ok, result.error
    [released] = run.logs("released")
    assert released.data["held_seconds"] >= 0
    assert [e.attempt for e in run.events if isinstance(e, NodeStarted)] == [1, 1]
    assert Pieces.sent == [False] * 3


def test_a_lock_mid_step_stops_the_input_between_pieces_and_the_step_goes_on(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    # the step's own timeout is far shorter than the hold: its clock stops while held
    run = Running(
        registry,
        tmp_path,
        _flow("  keys: {block: holdtest.pieces, with: {pieces: 10, lock_after: 3}, timeout: 1}\n"),
        hold,
    )
    run.wait_for(lambda: run.logs("held"))
    held_at = len(Pieces.sent)
    release = threading.Timer(1.5, hold.release)  # the unlock, from elsewhere, later
    release.start()
    result = run.finished()
    release.join()
    assert result.ok, result.error
    assert held_at == 4
    assert Pieces.sent == [False] * 10, "a piece of input was sent while the session was held"
    assert "inside step 1" in run.logs("held")[0].message
    assert run.logs("released")[0].data["held_seconds"] >= 1.4
    # one attempt: the step was held, not failed and redone
    assert [e.attempt for e in run.events if isinstance(e, NodeStarted)] == [1]


def test_a_step_the_lock_cut_short_is_settled_by_its_postcondition(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    Click.lock_during = True
    run = Running(registry, tmp_path, _flow("  click: {block: holdtest.click}\n"), hold)
    run.wait_for(lambda: run.logs("held"))
    assert Click.runs == [1]
    hold.release()
    result = run.finished()
    assert result.ok, result.error
    # the cut attempt failed, the postcondition did not hold, the step ran again; the cut
    # attempt did not count against its retries (one attempt allowed, two made)
    assert Click.runs == [1, 2]
    [cut] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert cut.error_type == "SessionInterrupted" and cut.will_retry
    assert "began while it acted" in cut.message
    settled = [e for e in run.events if isinstance(e, LogEmitted) and "resume_check" in e.data]
    assert settled[0].message.startswith(
        f"step 1 was in flight when the session became unusable ({LOCKED}); "
        "postcondition not held: repeated"
    )
    assert [e.attempt for e in run.events if isinstance(e, NodeFinished)] == [2]


def test_a_cut_step_whose_postcondition_holds_is_not_repeated(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    Click.lock_during = True
    Click.took_effect = True
    run = Running(registry, tmp_path, _flow("  click: {block: holdtest.click}\n"), hold)
    run.wait_for(lambda: run.logs("held"))
    hold.release()
    result = run.finished()
    assert result.ok, result.error
    assert Click.runs == [1]


def test_a_run_held_longer_than_its_time_limit_goes_on_after_the_unlock(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    """The hold is not the run's time: held 0.6 s with a 0.3 s limit, then it finishes."""
    import time

    hold.hold(LOCKED)
    run = Running(
        registry,
        tmp_path,
        _flow(
            "  keys: {block: holdtest.pieces, with: {pieces: 3}}\n",
            limits="limits: {max_duration: 0.3s}\n",
        ),
        hold,
    )
    run.wait_for(lambda: run.logs("held"))
    held_until = time.monotonic() + 0.6  # the length of the hold is what is under test
    while time.monotonic() < held_until:
        assert run.result is None, run.result.error if run.result else None
        time.sleep(0.02)
    hold.release()
    result = run.finished()
    assert result.ok, result.error
    assert Pieces.sent == [False] * 3
    [released] = run.logs("released")
    assert released.data["held_seconds"] >= 0.6


def test_a_hold_inside_a_subflow_is_not_its_caller_s_time_either(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    """The caller's 0.3 s limit: the child's held step waits 0.6 s, then both finish."""
    import time

    (tmp_path / "child.yaml").write_text(
        _flow("  keys: {block: holdtest.pieces, with: {pieces: 3}}\n"), encoding="utf-8"
    )
    hold.hold(LOCKED)
    run = Running(
        registry,
        tmp_path,
        _flow(
            "  sub: {block: control.subflow, with: {path: child.yaml}}\n"
            "  after: {block: control.pass}\n"
            "links:\n  - sub -> after\n",
            limits="limits: {max_duration: 0.3s}\n",
        ),
        hold,
    )
    run.wait_for(lambda: run.logs("held"))
    held_until = time.monotonic() + 0.6  # the length of the hold is what is under test
    while time.monotonic() < held_until:
        time.sleep(0.02)
    hold.release()
    result = run.finished()
    assert result.ok, result.error
    assert Pieces.sent == [False] * 3


def test_steps_that_do_not_drive_the_desktop_are_never_held(
    registry: BlockRegistry, tmp_path: Path, hold: SessionHold
) -> None:
    hold.hold(LOCKED)
    run = Running(
        registry, tmp_path, _flow("  plain: {block: control.pass, with: {value: 1}}\n"), hold
    )
    result = run.finished()
    assert result.ok, result.error
    assert not run.logs("held")
