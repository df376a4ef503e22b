"""A schedule fire's run and its trigger's state commit in one transaction, on every store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from supervisor.store import ConstraintViolated, HistoryStore
from supervisor.store.store import QueuedRow
from supervisor.triggers.state import TriggerState, TriggerStateStore
from tests.helpers.storage import StoreFactory

SLOT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
LABEL = f"schedule:nightly:0@{SLOT.isoformat()}"
ANCHOR = datetime(2026, 12, 1, tzinfo=UTC)


def states(store: HistoryStore) -> TriggerStateStore:
    return TriggerStateStore(store, lambda: datetime.now(UTC))


def fired(anchor: datetime = ANCHOR) -> TriggerState:
    return TriggerState(
        workflow="nightly",
        key="nightly:0",
        spec={"type": "schedule", "every": "1h"},
        spec_hash="h1",
        anchor=anchor,
        checked_through=SLOT,
        last_fire_at=SLOT,
    )


def fire(store: HistoryStore, state: TriggerState, run_id: str) -> list[str]:
    version = store.save_workflow_version("nightly", None, "nodes: []\n")
    return store.create_runs(
        [QueuedRow(run_id, "nightly", version, trigger=LABEL)],
        trigger_rows=states(store).rows_of([state]),
    )


def test_the_run_and_the_trigger_state_are_saved_together(store_factory: StoreFactory) -> None:
    store = store_factory()
    run_id = uuid.uuid4().hex
    assert fire(store, fired(), run_id) == []
    assert store.get_run(run_id) is not None
    saved = states(store).load_all()["nightly:0"]
    assert saved.last_fire_at == SLOT and saved.checked_through == SLOT
    assert states(store).stored_anchor("nightly", "nightly:0", "h1") == ANCHOR


def test_a_state_the_history_refuses_leaves_no_run(store_factory: StoreFactory) -> None:
    store = store_factory()
    run_id = uuid.uuid4().hex
    version = store.save_workflow_version("nightly", None, "nodes: []\n")
    bad = {**states(store).rows_of([fired()])[0], "updated_at": None}  # NOT NULL
    with pytest.raises(ConstraintViolated, match="not null"):
        store.create_runs(
            [QueuedRow(run_id, "nightly", version, trigger=LABEL)], trigger_rows=[bad]
        )
    # neither is written: the pass puts the trigger's mark back and fires the slot again
    assert store.get_run(run_id) is None
    assert states(store).load_all() == {}


def test_a_slot_another_supervisor_fired_keeps_the_first_anchor(
    store_factory: StoreFactory,
) -> None:
    first, second = store_factory(), store_factory()
    mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
    assert fire(first, fired(), mine) == []
    later = datetime(2026, 12, 5, tzinfo=UTC)
    assert fire(second, fired(anchor=later), theirs) == [theirs]  # the slot was taken
    assert [run.id for run in second.list_runs(workflow="nightly")] == [mine]
    # the state is saved in the same transaction, and the stored anchor stays the first one
    assert states(second).stored_anchor("nightly", "nightly:0", "h1") == ANCHOR


def test_states_are_saved_even_when_no_run_was_started(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.create_runs([], trigger_rows=states(store).rows_of([fired()])) == []
    assert states(store).load_all()["nightly:0"].checked_through == SLOT
