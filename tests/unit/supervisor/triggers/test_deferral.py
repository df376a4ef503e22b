"""Desktop schedules and a session that is not usable, driven by a fake clock and a stub probe.

A real supervisor and a real SQLite history; the manager's "now" is fake
and its session probe is a stub (``SessionProbe`` is the seam for this; the
D-Bus probe itself is tested against a real bus in
``tests/integration/triggers/test_session_deferral.py``).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path

from automation.blocks import desktop
from automation.blocks.registry import BlockRegistry
from supervisor.session import SessionState
from supervisor.triggers.manager import TriggerManager
from tests.unit.supervisor.triggers.test_manager_misfires import (
    T0,
    FakeNow,
    history,
    label,
    missed,
    submitted,
)
from tests.unit.supervisor.triggers.test_manager_misfires import session as supervisor_session


class StubSession:
    def __init__(self) -> None:
        self.state = SessionState()

    def read(self) -> SessionState:
        return self.state


def desktop_workflow(home: Path) -> None:
    folder = home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clicker.yaml").write_text(
        "name: clicker\nnodes:\n  where: {block: mouse.position}\ntriggers:\n"
        "  - {type: schedule, interval: 60s, misfire: run_once}\n",
        encoding="utf-8",
    )


def session(
    home: Path, now: FakeNow, probe: StubSession
) -> AbstractAsyncContextManager[TriggerManager]:
    """``test_manager_misfires.session`` with the desktop blocks and the stub session probe."""
    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.position" not in registry:
        registry.register_module(desktop)
    return supervisor_session(home, registry, now, session=probe, session_poll=0.01)


async def until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_fires_missed_while_down_wait_for_a_locked_screen_then_follow_the_policy(
    tmp_path: Path,
) -> None:
    now = FakeNow(T0)
    probe = StubSession()
    desktop_workflow(tmp_path)

    async def scenario() -> None:
        async with session(tmp_path, now, probe):
            pass  # first sight of the trigger
        now.advance(630)  # down ten and a half minutes, and the screen is locked at the start
        probe.state = SessionState(locked_by="org.gnome.ScreenSaver GetActive")
        async with session(tmp_path, now, probe) as manager:
            await until(lambda: manager.deferral.is_deferred("clicker:0"))
            # the deferral's record is written behind, on the store lane
            await until(lambda: bool(history(tmp_path, "clicker")))
            runs = history(tmp_path, "clicker")
            assert [r.trigger.split("@")[0] for r in runs] == ["deferred:clicker:0"]
            now.advance(5)
            probe.state = SessionState()  # unlocked
            await until(
                lambda: any(r.trigger.startswith("schedule:") for r in history(tmp_path, "clicker"))
            )
        runs = history(tmp_path, "clicker")
        ran = [r.trigger for r in submitted(runs) if r.trigger.startswith("schedule:")]
        assert ran == [label("clicker:0", 600)]
        assert len(missed(runs)) == 9
        assert all(
            "because the screen is locked (org.gnome.ScreenSaver GetActive)" in (r.error or "")
            for r in missed(runs)
        )
        since = (T0 + timedelta(seconds=630)).isoformat()
        assert all(f"deferred from {since}" in (r.error or "") for r in missed(runs))

    asyncio.run(scenario())
