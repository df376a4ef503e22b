"""A forgotten or stopped supervisor fires no schedule (``supervisor.store.fires``), on both stores.

A supervisor forgotten by force while it ran hears of it at its next
renewal; until then its schedule passes go on.  Its fires are fenced on its
``supervisors`` row, as its claims are: gone or marked stopped, a fire
inserts no run and takes no fire key, so a machine that still holds the
trigger fires the slot.  Time is a ``FakeClock``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automation.clock import FakeClock
from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.errors import SupervisorNotRegistered
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from supervisor.triggers.state import STORE_CLOCK, TriggerState, TriggerStateStore
from tests.helpers.storage import StoreFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GONE, LIVE = "g" * 32, "l" * 32


def fire_row(store: HistoryStore, slot: datetime, key: str = "every-5m") -> QueuedRow:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    return QueuedRow(
        uuid.uuid4().hex, "invoices", version, trigger=f"schedule:{key}@{slot.isoformat()}"
    )


def not_run(slot: datetime) -> dict[str, object]:
    """A fire that did not run (a missed slot), as ``TriggerStateStore`` records it."""
    return {
        "id": uuid.uuid4().hex,
        "workflow_id": None,
        "version_id": None,
        "workflow_name": "invoices",
        "status": RunStatus.CANCELLED.value,
        "trigger": f"schedule:every-5m@{slot.isoformat()}",
        "priority": 0,
        "inputs": {},
        "error": "missed",
        "queued_at": slot,
        "finished_at": slot,
    }


def test_a_forgotten_supervisor_fires_nothing(store_factory: StoreFactory) -> None:
    clock = FakeClock(start=START)
    store = store_factory(clock=clock)
    store.register_supervisor(GONE, host="old-pc")
    slot = START + timedelta(minutes=5)
    assert store.create_runs([fire_row(store, START)]) == []  # registered: it fires
    store.forget_supervisor(GONE, silent_for=None)

    fire = fire_row(store, slot)
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    manual = QueuedRow(uuid.uuid4().hex, "invoices", version)
    # A forgotten machine takes no new work at all: a fire, nor a run a trigger submits.
    assert store.create_runs([fire, manual]) == [fire.run_id, manual.run_id]
    assert store.get_run(fire.run_id) is None
    assert store.get_run(manual.run_id) is None
    missed = not_run(slot + timedelta(minutes=5))
    assert TriggerRows(store).insert_runs([missed], GONE, START) == {missed["id"]}
    assert store.get_run(str(missed["id"])) is None
    assert not store.claim_fire("invoices", "every-5m", slot, fired_by=GONE, fenced=True)
    assert store.fire_owner("invoices", "every-5m", slot) is None
    # The slot is still free: a supervisor that holds the trigger fires it.
    assert store.claim_fire("invoices", "every-5m", slot, fired_by=LIVE)


def test_a_supervisor_marked_stopped_fires_nothing_until_it_renews(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(clock=FakeClock(start=START))
    store.register_supervisor(LIVE, host="pc-1")
    store.supervisor_stopped(LIVE)
    fire = fire_row(store, START)
    assert store.create_runs([fire]) == [fire.run_id]
    assert store.get_run(fire.run_id) is None
    store.supervisor_heartbeat(LIVE, lease_seconds=10)  # renewing again: live
    again = fire_row(store, START)
    assert store.create_runs([again]) == []
    assert store.fire_owner("invoices", "every-5m", START) == LIVE


def test_a_forgotten_supervisor_takes_no_submit(store_factory: StoreFactory) -> None:
    """A manual submit (``create_run``) through a forgotten or stopped supervisor is refused.

    Its API answers in the moment before its renewal tells it it was
    forgotten: the submit must not leave a queued run behind, and the caller
    hears why.  A stopped one refuses too, until it renews.
    """
    store = store_factory(clock=FakeClock(start=START))
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    store.register_supervisor(GONE, host="old-pc")
    store.register_supervisor(LIVE, host="pc-1")
    store.fired_by = GONE  # registering made it LIVE's: it speaks for GONE first
    assert store.create_run("before", "invoices", version=version).id == "before"
    store.forget_supervisor(GONE, silent_for=None)
    with pytest.raises(SupervisorNotRegistered, match="no longer registered") as refused:
        store.create_run("after", "invoices", version=version)
    assert GONE in str(refused.value) and "was not queued" in str(refused.value)
    assert store.get_run("after") is None

    store.fired_by = LIVE
    store.supervisor_stopped(LIVE)
    with pytest.raises(SupervisorNotRegistered):
        store.create_run("stopped", "invoices", version=version)
    store.supervisor_heartbeat(LIVE, lease_seconds=10)
    assert store.create_run("renewed", "invoices", version=version).id == "renewed"
    # Alone (no fire keys) it is never fenced, as its fires are not.
    store.fire_keys = False
    store.supervisor_stopped(LIVE)
    assert store.create_run("alone", "invoices", version=version).id == "alone"


def test_a_fenced_out_batch_is_logged_as_such_not_as_run_elsewhere(
    store_factory: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The log says the runs were fenced out, not that another supervisor ran them."""
    store = store_factory(clock=FakeClock(start=START))
    store.register_supervisor(GONE, host="old-pc")
    taken = fire_row(store, START)
    assert store.claim_fire("invoices", "every-5m", START, fired_by=LIVE)
    with caplog.at_level(logging.INFO, logger="supervisor.store"):
        assert store.create_runs([taken]) == [taken.run_id]
    (elsewhere,) = [record.getMessage() for record in caplog.records]
    assert "already run by another supervisor" in elsewhere, elsewhere
    caplog.clear()

    store.forget_supervisor(GONE, silent_for=None)
    fire = fire_row(store, START + timedelta(minutes=5))
    with caplog.at_level(logging.INFO, logger="supervisor.store"):
        assert store.create_runs([fire]) == [fire.run_id]
    (fenced,) = caplog.records
    said = fenced.getMessage()
    assert fenced.levelno == logging.WARNING, said
    assert "fenced out" in said and f"this supervisor ({GONE}) is no longer registered" in said
    assert "another supervisor" not in said and fire.run_id in said


def test_a_lone_supervisor_is_not_fenced(store_factory: StoreFactory) -> None:
    """One that never registered has no row to be fenced on: its fires are inserted."""
    store = store_factory(clock=FakeClock(start=START))
    fire = fire_row(store, START)
    assert store.create_runs([fire]) == []
    assert store.get_run(fire.run_id) is not None
    # Alone with a SQLite history it registers but takes no fire keys: nor is it fenced.
    store.register_supervisor(LIVE, host="pc-1")
    store.fire_keys = False
    store.supervisor_stopped(LIVE)
    alone = fire_row(store, START + timedelta(minutes=5))
    assert store.create_runs([alone]) == []
    assert store.get_run(alone.run_id) is not None


def test_fires_racing_a_forget_queue_nothing_after_it(store_factory: StoreFactory) -> None:
    """One store fires slot after slot for a supervisor while another forgets it.

    Whatever the interleaving, no fire that began after the forget returned
    inserted a run, and every run in the history is one whose fire reported
    it inserted.
    """
    clock = FakeClock(start=START)
    firer, forgetter = store_factory(clock=clock), store_factory(clock=clock)
    firer.register_supervisor(GONE, host="old-pc")
    rows = [fire_row(firer, START + timedelta(minutes=5 * index)) for index in range(80)]
    before: list[str] = []
    after: list[str] = []
    forgotten = threading.Event()

    def fire_all() -> None:
        for row in rows:
            done = forgotten.is_set()
            if not firer.create_runs([row]):
                (after if done else before).append(row.run_id)

    thread = threading.Thread(target=fire_all)
    thread.start()
    deadline = time.monotonic() + 60
    while len(before) < 5:
        assert time.monotonic() < deadline and thread.is_alive(), "no fire made"
        time.sleep(0.001)
    forgetter.forget_supervisor(GONE, silent_for=None)
    forgotten.set()
    thread.join(120)
    assert not thread.is_alive()
    assert after == []
    inserted = [row.run_id for row in rows if forgetter.get_run(row.run_id) is not None]
    assert inserted == before


def ticker_state(store: HistoryStore, checked_through: datetime) -> dict[str, Any]:
    """The ``triggers`` row of schedule every-5m with this mark, as a fire's batch saves it."""
    state = TriggerState(
        workflow="invoices",
        key="every-5m",
        spec={"type": "schedule", "interval": 300.0},
        spec_hash="h1",
        anchor=START,
        checked_through=checked_through,
    )
    (row,) = TriggerStateStore(store, lambda: checked_through, STORE_CLOCK).rows_of([state])
    return row


def saved_mark(store: HistoryStore) -> datetime | None:
    (row,) = TriggerRows(store).load_all()
    return TriggerState.from_row(row).checked_through


def test_a_forgotten_supervisor_saves_no_trigger_state(store_factory: StoreFactory) -> None:
    """Fenced out, a batch writes nothing: not its runs, nor the state of its triggers.

    The mark a forgotten supervisor moved past its slots would tell the
    machine that holds the trigger now that they were accounted for, though
    none of them ran; and a holder row added would keep the trigger from
    being retired by the last machine that really loads it.
    """
    store = store_factory(clock=FakeClock(start=START))
    store.register_supervisor(GONE, host="old-pc")
    first = fire_row(store, START)
    assert store.create_runs([first], trigger_rows=[ticker_state(store, START)]) == []
    assert saved_mark(store) == START
    store.forget_supervisor(GONE, silent_for=None)

    slot = START + timedelta(minutes=5)
    fire = fire_row(store, slot)
    assert store.create_runs([fire], trigger_rows=[ticker_state(store, slot)]) == [fire.run_id]
    assert store.get_run(fire.run_id) is None
    assert saved_mark(store) == START
    # A pass that only moved its mark (no run due) is fenced alike.
    assert store.create_runs([], trigger_rows=[ticker_state(store, slot)]) == []
    assert saved_mark(store) == START
    # And so is a save on its own, with its holder row.
    with pytest.raises(SupervisorNotRegistered, match="the state of its triggers was not saved"):
        TriggerRows(store).save_many([ticker_state(store, slot)], holder=GONE)
    assert saved_mark(store) == START
    assert TriggerRows(store).holders("invoices", "every-5m") == set()
