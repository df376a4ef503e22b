"""The chain outbox: a run's end and its outbox row commit together; each chain fires once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from automation.clock import FakeClock
from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.chain_fires import chained_run_id
from supervisor.store.store import QueuedRow
from tests.helpers.storage import RunEvents, StoreFactory


def queue(
    store: HistoryStore, workflow: str, *, run_id: str | None = None, trigger: str = "manual"
) -> str:
    version = store.save_workflow_version(workflow, None, "nodes: []\n")
    run_id = run_id or uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, workflow, version, trigger=trigger)])
    return run_id


def test_a_recorded_end_of_a_chain_source_has_its_outbox_row(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.chain_sources = frozenset({"first"})
    chained, plain = RunEvents(workflow="first"), RunEvents(workflow="other")
    store.record(chained.whole_run(1, RunStatus.FAILED))
    store.record(plain.whole_run(1))
    assert store.outstanding_chain_fires() == [chained.run_id]
    # recording the end again (a retried batch) adds nothing
    store.record([chained.run_finished(RunStatus.FAILED)])
    assert store.outstanding_chain_fires() == [chained.run_id]
    [fire] = store.claim_chain_fires("sup-a", seconds=30)
    assert (fire.run_id, fire.workflow, fire.status) == (chained.run_id, "first", RunStatus.FAILED)


def test_an_end_the_supervisor_records_has_its_outbox_row_too(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.chain_sources = frozenset({"first"})
    run_id = queue(store, "first")
    store.set_run_status(run_id, RunStatus.CANCELLED)
    assert store.outstanding_chain_fires() == [run_id]


def test_a_claim_holds_until_it_runs_out_and_done_is_the_holders(
    store_factory: StoreFactory,
) -> None:
    clock = FakeClock(start=datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    store = store_factory(clock=clock)
    store.chain_sources = frozenset({"first"})
    run_id = queue(store, "first")
    store.set_run_status(run_id, RunStatus.CANCELLED)

    assert store.claim_chain_fires("sup-b", seconds=30, workflows={"elsewhere"}) == []
    assert [f.run_id for f in store.claim_chain_fires("sup-a", seconds=30)] == [run_id]
    assert store.claim_chain_fires("sup-b", seconds=30) == []  # held by a
    clock.advance(31)  # a died holding it
    assert [f.run_id for f in store.claim_chain_fires("sup-b", seconds=30, run_id=run_id)] == [
        run_id
    ]
    assert not store.chain_fire_done(run_id, "sup-a")  # not a's any more
    assert store.chain_fire_done(run_id, "sup-b")
    clock.advance(60)
    assert store.claim_chain_fires("sup-c", seconds=30) == []
    assert store.outstanding_chain_fires() == []


def test_a_chained_run_is_written_once_whoever_fires_it(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    upstream = uuid.uuid4().hex
    run_id = chained_run_id(upstream, "second:0")
    assert run_id == chained_run_id(upstream, "second:0") and len(run_id) == 32
    label = f"after:first:{upstream}"
    version = first.save_workflow_version("second", None, "nodes: []\n")
    assert first.create_runs([QueuedRow(run_id, "second", version, trigger=label)]) == []
    assert second.create_runs([QueuedRow(run_id, "second", version, trigger=label)]) == [run_id]
    assert [r.id for r in first.list_runs(workflow="second")] == [run_id]
