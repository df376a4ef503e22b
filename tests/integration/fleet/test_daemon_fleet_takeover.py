"""What a run taken over by another supervisor keeps of its first supervisor's state.

Real ``deskpilot supervisor start --foreground`` processes, each with its own
home and ``DESKPILOT_HOST``, on one PostgreSQL (``tests.helpers.fleet_daemons``).
One is SIGKILLed while its run waits; the other takes the run over when the
dead one's lease expires (8 s) and must carry on where it was, not afresh.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.records import EventRecord, StepRecord
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for
from tests.helpers.fleet_daemons import FleetDaemons
from tests.helpers.storage import store_on

#: The first retry's backoff: longer than a takeover (the 8 s lease and a renewal) takes.
BACKOFF = 12.0


def flaky(marker: Path) -> str:
    """A workflow whose one step fails the first time (it leaves ``marker``), then succeeds."""
    command = f"test -e {marker} || {{ touch {marker}; exit 1; }}"
    return f"""\
deskpilot: 1
name: flaky
nodes:
  call:
    block: process.run
    with: {{shell: true, command: "{command}"}}
    retry: {{max_attempts: 2, delay: {BACKOFF:g}s, jitter: 0}}
"""


@pytest.fixture
def fleet(postgres_migrated_url: str) -> Iterator[FleetDaemons]:
    daemons = FleetDaemons(postgres_migrated_url)
    try:
        yield daemons
    finally:
        daemons.close()


store = store_on("postgres_migrated_url")


def queue(store: HistoryStore, name: str, text: str) -> str:
    version = store.save_workflow_version(name, None, text)
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, name, version)])
    return run_id


def retries(store: HistoryStore, run_id: str) -> list[EventRecord]:
    return [event for event in store.events(run_id) if event.kind == "node_retrying"]


def attempt(store: HistoryStore, run_id: str, number: int) -> StepRecord | None:
    return next((s for s in store.steps(run_id) if s.attempt == number), None)


@pytest.mark.timeout(90)
def test_a_run_taken_over_during_a_retry_backoff_waits_out_the_rest_of_it(
    fleet: FleetDaemons, store: HistoryStore, tmp_path: Path
) -> None:
    for host in ("pc-a", "pc-b"):
        fleet.prepare(host)
    fleet.start_all()
    run_id = queue(store, "flaky", flaky(tmp_path / "failed-once"))

    waited_for(lambda: bool(retries(store, run_id)), 30, "the first attempt failed and waits")
    waiting = retries(store, run_id)[0]
    assert waiting.data is not None and waiting.data["delay"] == BACKOFF
    not_before = waiting.at + timedelta(seconds=BACKOFF)
    first = store.get_run(run_id)
    assert first is not None
    owner = fleet.host_of(first.claimed_by)
    assert owner is not None
    fleet.signal(owner, signal.SIGKILL)

    def second_started() -> bool:
        found = attempt(store, run_id, 2)
        return found is not None and found.started_at is not None

    waited_for(second_started, 60, "the second attempt started on the other supervisor")
    run = store.get_run(run_id)
    assert run is not None and fleet.host_of(run.claimed_by) not in (None, owner)
    second = attempt(store, run_id, 2)
    assert second is not None and second.started_at is not None
    taken = [e for e in retries(store, run_id) if e.seq > waiting.seq]
    if taken:  # taken over before the backoff ended (as a quiet machine always is)
        # the new worker said how much was left, and waited for it, not from scratch
        assert taken[0].data is not None
        left = float(taken[0].data["delay"])
        assert 0 < left < BACKOFF
        assert abs((taken[0].at + timedelta(seconds=left)) - not_before) < timedelta(seconds=1)
    # the clocks are one machine's: the retry went no earlier than its backoff allowed
    assert second.started_at >= not_before - timedelta(seconds=0.25), (
        f"retried {(not_before - second.started_at).total_seconds():.1f} s early"
    )
    assert second.started_at < not_before + timedelta(seconds=15)
    waited_for(
        lambda: (found := store.get_run(run_id)) is not None and found.status.terminal,
        15,
        "the run ended",
    )
    ended = store.get_run(run_id)
    assert ended is not None and ended.status is RunStatus.SUCCEEDED
