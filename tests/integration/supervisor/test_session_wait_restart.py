"""A resumed desktop run waiting for a usable session keeps its wait across a supervisor restart.

A real daemon (real workers, real SQLite) on a private session bus whose
screen saver is a real D-Bus service (``tests/helpers/fake_screensaver.py``)
says the screen is locked.  The run in the history was started before and
interrupted (a resume), with a time limit.  The first supervisor holds it
in the queue and notes why; it is stopped during the wait and a second one
starts on the same home.  The second goes on with the same wait (same
reason, same start, no second "waiting" line); at the unlock the run
starts, and the whole wait, restart included, is off its clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.records import EventRecord
from supervisor.store.store import QueuedRow
from tests.helpers.common import eventually
from tests.integration.triggers.harness import DaemonThread, write_workflow

pytestmark = pytest.mark.timeout(120)

WORKFLOW = """\
nodes:
  where: {block: mouse.position}
"""
LOCKED = "the screen is locked (org.freedesktop.ScreenSaver GetActive)"


def desktop_registry() -> BlockRegistry:
    from automation.blocks import desktop

    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.position" not in registry:
        registry.register_module(desktop)
    return registry


def resumed_run(store: HistoryStore, text: str) -> str:
    """A run the history shows started, interrupted and queued again, with a time limit."""
    version = store.save_workflow_version("clicker", None, text)
    run_id = uuid.uuid4().hex
    store.create_runs(
        [
            QueuedRow(
                run_id, "clicker", version, needs_desktop=True, options={"deadline_seconds": 600}
            )
        ]
    )
    for status in (RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.QUEUED):
        store.set_run_status(run_id, status)
    return run_id


def wait_notes(store: HistoryStore, run_id: str) -> list[EventRecord]:
    return [
        event
        for event in store.events(run_id)
        if (event.data or {}).get("reason") in ("session_unusable", "session_usable")
    ]


def test_a_restart_goes_on_with_the_wait_and_the_whole_wait_is_off_the_runs_clock(
    tmp_path: Path, screensaver: Path, xvfb_display: object
) -> None:
    registry = desktop_registry()
    path = write_workflow(tmp_path / "workflows", "clicker", WORKFLOW)
    screensaver.write_text("locked")
    first = DaemonThread(tmp_path, registry, triggers=False)
    store = HistoryStore.open(first.paths.database_url)
    try:
        run_id = resumed_run(store, path.read_text())
        first.start()
        try:
            (began,) = eventually(lambda: wait_notes(store, run_id), timeout=30)
        finally:
            first.stop()
        assert began.message == (
            f"waiting: {LOCKED}; desktop runs start when the session is usable again"
        )
        since = datetime.fromisoformat(began.data["since"])

        second = DaemonThread(tmp_path, registry, triggers=False).start()
        try:
            gate = second.parts.supervisor.desktop_gate
            assert gate is not None
            # The second supervisor holds the run under the wait the history recorded.
            held = eventually(lambda: gate.held.get(run_id), timeout=30)
            assert (held.reason, held.since) == (LOCKED, since)
            screensaver.write_text("")  # unlocked
            eventually(
                lambda: (r := store.get_run(run_id)) and r.status is RunStatus.SUCCEEDED,
                timeout=60,
            )
        finally:
            second.stop()
        notes = wait_notes(store, run_id)
        assert [n.data["reason"] for n in notes] == ["session_unusable", "session_usable"]
        ended = notes[1]
        assert ended.data["since"] == began.data["since"]
        whole = (ended.at - since).total_seconds()
        assert ended.data["waited_seconds"] == pytest.approx(whole, abs=0.5)
        # A resumed run: all of it, across the restart, is off its time limit's clock.
        assert ended.data["paused_seconds"] == ended.data["waited_seconds"]
        assert store.paused_seconds(run_id) >= ended.data["paused_seconds"]
        assert store.session_wait(run_id) is None
    finally:
        store.close()
