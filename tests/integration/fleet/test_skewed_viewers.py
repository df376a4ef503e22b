"""Countdowns shown for another machine's run are right whatever the viewer's clock says (PostgreSQL).

A run paused on one machine, whose clock is ten minutes off, is looked at
through another machine whose clock is ten minutes off the other way: the
pause's time left is the same as on the owner (within a second or two).
Likewise a run waiting out its restart delay, shown by ``deskpilot runs
show`` on a machine ahead of the database or behind it, and through any
machine's API.  Machines are simulated as in ``test_shared_times``: each
supervisor's (or command's) store reads a wall clock that is off.  Each test
fails when the countdown is computed on a machine's own clock: ten minutes
too long, or over at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from automation.engine.events import NodePaused
from supervisor.protocol import event_message
from supervisor.store.store import HistoryStore, QueuedRow
from tests.integration.fleet.test_clock_skew import SkewedClock
from tests.integration.fleet.test_shared_times import (
    DIRECTIONS,
    SKEW,
    TINY,
    member,
    until,
    workflow,
)
from tests.unit.supervisor.fakes import FakeLauncher, FakeWorker

pytestmark = pytest.mark.timeout(120)

#: How far a countdown shown may be from the true one (a loaded machine; the skew is 600 s).
SLACK = 2.0


@DIRECTIONS
def test_a_pause_on_one_machine_shows_the_same_time_left_on_another(
    postgres_migrated_url: str, tmp_path: Path, first: timedelta, second: timedelta
) -> None:
    """The owner pauses a run for 300 s; the other machine's answer counts down the same 300 s."""
    timeout = 300.0
    paused_at: list[float] = []

    def pause(worker: FakeWorker, message: dict[str, Any]) -> None:
        if message["type"] != "start":
            return
        paused_at.append(time.monotonic())
        worker.say(
            event_message(
                NodePaused(
                    run_id=message["run_id"],
                    seq=int(message.get("seq_after") or 0) + 1,
                    at=SkewedClock(first).now(),  # the worker reads its machine's clock
                    node_id="only",
                    step=1,
                    reason="breakpoint",
                    timeout=timeout,
                )
            )
        )

    async def scenario() -> None:
        url = postgres_migrated_url
        async with member(url, tmp_path / "a", "a", FakeLauncher(pause), first) as owner:
            run_id = owner.submit(owner.load(workflow(tmp_path)))
            await until(lambda: owner.paused(run_id) is not None, what="the pause on its owner")
            await until(
                lambda: owner.store.run_pause(run_id) is not None, what="the pause recorded"
            )
            async with member(url, tmp_path / "b", "b", FakeLauncher(), second) as viewer:
                assert not viewer.holds_run(run_id)
                state = await viewer.remote_debug_state(run_id)
                assert state.pause is not None and state.pause.seconds_left is not None
                expected = timeout - (time.monotonic() - paused_at[0])
                assert abs(state.pause.seconds_left - expected) <= SLACK, (
                    state.pause.seconds_left,
                    expected,
                )

    asyncio.run(scenario())


# -- a restart delay's countdown ---------------------------------------------------------------

#: The restart delay left when the run is shown.
DELAY = 120.0
SHIFTS = pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["ahead", "behind"])


def restarting(url: str) -> tuple[str, float]:
    """A run queued again with a restart delay ending DELAY s from now, on the database's clock.

    Returns its id and when the delay was set (monotonic): the seconds left are DELAY less the
    time since (starting a supervisor takes seconds on a loaded machine).
    """
    store = HistoryStore.open(url)
    try:
        version = store.save_workflow_version("tiny", None, TINY)
        run_id = uuid.uuid4().hex
        store.create_runs([QueuedRow(run_id, "tiny", version)])
        store.claim_queued("gone", run_ids=[run_id])
        store.set_run_status(run_id, "interrupted")
        ends = store.lease_time() + timedelta(seconds=DELAY)
        set_at = time.monotonic()
        store.set_run_status(run_id, "queued", not_before=ends)
        return run_id, set_at
    finally:
        store.close()


def shown_left(stdout: str) -> float:
    line = next(x for x in stdout.splitlines() if "waiting to restart" in x)
    return float(line.split("(in ")[1].split()[0])


@SHIFTS
def test_runs_show_counts_a_restart_delay_down_on_the_database_clock(
    postgres_migrated_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offset: timedelta,
) -> None:
    """``deskpilot runs show`` on a machine ten minutes off: the delay left is still ~120 s."""
    url = postgres_migrated_url
    run_id, set_at = restarting(url)
    monkeypatch.setenv("DESKPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DESKPILOT_DATABASE_URL", url)
    monkeypatch.delenv("DESKPILOT_REMOTE", raising=False)
    from supervisor.cli import history_cmd

    # This machine's history, read on this machine's clock, which is off.
    monkeypatch.setattr(
        history_cmd, "open_store", lambda: HistoryStore.open(url, clock=SkewedClock(offset))
    )
    shown = CliRunner().invoke(history_cmd.runs_group, ["show", run_id])
    assert shown.exit_code == 0, shown.output
    expected = DELAY - (time.monotonic() - set_at)
    assert abs(shown_left(shown.output) - expected) <= SLACK, (expected, shown.output)


@SHIFTS
def test_the_api_answers_a_restart_delay_left_on_the_database_clock(
    postgres_migrated_url: str, tmp_path: Path, offset: timedelta
) -> None:
    """``GET /runs/{id}`` of a supervisor on a machine ten minutes off: ``restart_in`` ~120 s.

    The CLI's ``runs show`` through another machine's API, and the window,
    show that figure rather than compute one on their own clock.
    """
    url = postgres_migrated_url
    run_id, set_at = restarting(url)

    async def scenario() -> None:
        async with member(url, tmp_path / "a", "a", FakeLauncher(), offset) as viewer:
            from supervisor.api.routes_runs import get_run

            parts: Any = type("Parts", (), {"store": viewer.store, "supervisor": viewer})()
            detail = await asyncio.to_thread(get_run, parts, run_id)
            assert detail.run.restart_in is not None
            expected = DELAY - (time.monotonic() - set_at)
            assert abs(detail.run.restart_in - expected) <= SLACK, (expected, detail.run)

    asyncio.run(scenario())


@SHIFTS
def test_the_api_answers_how_long_a_run_has_run_on_the_database_clock(
    postgres_migrated_url: str, tmp_path: Path, offset: timedelta
) -> None:
    """``running_for`` of a run claimed in a fleet (its start stamped by the database): the
    window counts on from it (``app.runs.live_view``) instead of its own clock less the stamp."""
    url = postgres_migrated_url
    store = HistoryStore.open(url)
    try:
        version = store.save_workflow_version("tiny", None, TINY)
        run_id = uuid.uuid4().hex
        store.create_runs([QueuedRow(run_id, "tiny", version)])
        store.register_supervisor("g" * 32, host="pc-gone")
        store.claim_queued("g" * 32, run_ids=[run_id], lease_seconds=600.0, fenced=True)
        claimed_at = time.monotonic()
    finally:
        store.close()

    async def scenario() -> None:
        async with member(url, tmp_path / "a", "a", FakeLauncher(), offset) as viewer:
            from supervisor.api.routes_runs import get_run

            parts: Any = type("Parts", (), {"store": viewer.store, "supervisor": viewer})()
            detail = await asyncio.to_thread(get_run, parts, run_id)
            assert detail.run.running_for is not None and detail.run.restart_in is None
            expected = time.monotonic() - claimed_at
            assert abs(detail.run.running_for - expected) <= SLACK, (expected, detail.run)

    asyncio.run(scenario())


class _AnsweringClient:
    """Another machine's API as ``runs show`` calls it: the answer its route gave."""

    def __init__(self, detail: Any) -> None:
        self.detail = detail

    def __enter__(self) -> _AnsweringClient:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def get_run(self, run_id: str) -> Any:
        assert run_id == self.detail.run.id
        return self.detail

    def run_events(self, run_id: str) -> list[Any]:
        return []


@SHIFTS
def test_runs_show_through_another_machines_api_prints_the_delay_it_answers(
    postgres_migrated_url: str, monkeypatch: pytest.MonkeyPatch, offset: timedelta
) -> None:
    """``runs show`` with another machine's API chosen prints the API's ``restart_in``.

    Before, it printed no restart line at all.
    """
    from supervisor.api.routes_runs import get_run
    from supervisor.cli import history_cmd

    url = postgres_migrated_url
    run_id, set_at = restarting(url)
    store = HistoryStore.open(url, clock=SkewedClock(offset))  # the answering machine's
    try:
        detail = get_run(type("Parts", (), {"store": store})(), run_id)
    finally:
        store.close()
    monkeypatch.setattr(history_cmd, "remote_chosen", lambda: "https://pc-a.example:8765")
    monkeypatch.setattr(history_cmd, "_client", lambda: _AnsweringClient(detail))
    shown = CliRunner().invoke(history_cmd.runs_group, ["show", run_id])
    assert shown.exit_code == 0, shown.output
    expected = DELAY - (time.monotonic() - set_at)
    assert abs(shown_left(shown.output) - expected) <= SLACK, (expected, shown.output)
