"""A queued run's wait for a usable session, read back from its history (both backends).

The desktop gate writes the wait's two notes (``supervisor.desktop_gate``);
here they are written as the recorder writes them, and read back as a
restarted supervisor reads them: the open wait (``session_wait``) and the
part of ended waits off the run's clock (``paused_seconds``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from automation.engine.events import LogEmitted
from supervisor.store import HistoryStore
from supervisor.store.records import SessionWait
from supervisor.store.store import QueuedRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def note(run_id: str, seq: int, message: str, data: dict[str, Any], after: float) -> LogEmitted:
    return LogEmitted(
        run_id=run_id,
        seq=seq,
        at=T0 + timedelta(seconds=after),
        node_id=None,
        level="warning",
        message=message,
        data=data,
    )


def test_an_open_wait_is_found_and_an_ended_one_counts_its_paused_part(
    store: HistoryStore,
) -> None:
    version = store.save_workflow_version("clicker", None, "nodes: []\n")
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "clicker", version, needs_desktop=True)])
    assert store.session_wait(run_id) is None

    began = {"reason": "session_unusable", "session": "locked", "since": T0.isoformat()}
    store.record([note(run_id, 1, "waiting: locked; desktop runs start when ...", began, 0)])
    assert store.session_wait(run_id) == SessionWait(reason="locked", since=T0)
    assert store.paused_seconds(run_id) == 0.0  # still going on: its holder counts it

    ended = {
        "reason": "session_usable",
        "waited_seconds": 40.0,
        "paused_seconds": 40.0,
        "since": T0.isoformat(),
    }
    store.record([note(run_id, 2, "the session is usable again: the run starts ...", ended, 40)])
    assert store.session_wait(run_id) is None
    assert store.paused_seconds(run_id) == 40.0

    # A later wait of the same run, recorded by a supervisor that stopped during it.
    again = {**began, "session": "asleep", "since": (T0 + timedelta(seconds=90)).isoformat()}
    store.record([note(run_id, 3, "waiting: asleep; desktop runs start when ...", again, 95)])
    assert store.session_wait(run_id) == SessionWait(
        reason="asleep", since=T0 + timedelta(seconds=90)
    )
