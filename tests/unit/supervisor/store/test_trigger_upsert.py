"""The triggers-row upsert on the path of every schedules' pass: built once, stamped right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from automation.clock import FakeClock
from supervisor.store import HistoryStore, trigger_upsert
from supervisor.store.schema import triggers
from supervisor.triggers.state import TriggerState, TriggerStateStore
from tests.helpers.storage import StoreFactory

SLOT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def state(checked: datetime) -> TriggerState:
    return TriggerState(
        workflow="ticks",
        key="ticks:0",
        spec={"type": "schedule", "interval": 1},
        spec_hash="h1",
        anchor=SLOT,
        checked_through=checked,
        last_fire_at=checked,
    )


def save(store: HistoryStore, saved: TriggerState, now: datetime) -> None:
    rows = TriggerStateStore(store, lambda: now).rows_of([saved])
    assert store.create_runs([], trigger_rows=rows) == []


def written_at(store: HistoryStore) -> Any:
    with store.engine.connect() as connection:
        return connection.execute(select(triggers.c.written_at)).scalar_one()


def test_passes_reuse_one_statement_and_each_saves_its_own_state(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trigger_upsert, "_BUILT", {})
    built: list[Any] = []
    real = trigger_upsert._statement

    def counted(connection: Any, stamp: Any) -> Any:
        built.append(stamp)
        return real(connection, stamp)

    monkeypatch.setattr(trigger_upsert, "_statement", counted)
    store = store_factory()
    states = TriggerStateStore(store, lambda: datetime.now(UTC))
    for second in range(3):
        checked = SLOT + timedelta(seconds=second)
        save(store, state(checked), datetime.now(UTC))
        assert states.load_all()["ticks:0"].checked_through == checked  # the update, each time
    assert len(built) == 1


def test_a_test_clock_stamps_each_save_with_its_own_time(store_factory: StoreFactory) -> None:
    clock = FakeClock(SLOT)
    store = store_factory(clock=clock)
    save(store, state(SLOT), clock.now())
    first = written_at(store)
    clock.advance(60)
    save(store, state(SLOT + timedelta(seconds=60)), clock.now())
    second = written_at(store)
    moved = second - first
    if isinstance(moved, timedelta):
        moved = moved.total_seconds() * 1_000_000
    assert moved == 60_000_000  # not the first save's time, built into a reused statement
