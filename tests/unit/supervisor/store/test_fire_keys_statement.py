"""The fire keys' INSERT on the path of every fleet schedules' pass: built once, still exact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automation.clock import FakeClock
from supervisor.store import HistoryStore, fires
from supervisor.store.store import QueuedRow
from supervisor.triggers.specs import schedule_label
from tests.helpers.storage import StoreFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def fire(store: HistoryStore, version: int, slots: list[datetime]) -> tuple[list[str], list[str]]:
    rows = [
        QueuedRow(uuid.uuid4().hex, "invoices", version, trigger=schedule_label("w:0", slot))
        for slot in slots
    ]
    return [row.run_id for row in rows], store.create_runs(rows)


def test_passes_reuse_one_statement_and_each_takes_only_the_slots_it_won(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fires, "_TAKE", {})
    built: list[Any] = []
    real = fires.conflict_insert

    def counted(dialect: str, table: Any) -> Any:
        built.append(table)
        return real(dialect, table)

    monkeypatch.setattr(fires, "conflict_insert", counted)
    clock = FakeClock(start=START)
    first, second = store_factory(clock=clock), store_factory(clock=clock)
    first.register_supervisor("a" * 32, host="pc-1")
    second.register_supervisor("b" * 32, host="pc-2")
    assert first.fire_keys and second.fire_keys
    version = first.save_workflow_version("invoices", None, "nodes: []\n")
    slots = [START + timedelta(minutes=5 * step) for step in range(1, 7)]

    ids_a, lost_a = fire(first, version, slots[:2])
    ids_b, lost_b = fire(second, version, slots[1:4])  # 09:10 is first's
    ids_c, lost_c = fire(first, version, slots[3:])  # 09:20 is second's

    assert lost_a == []
    assert lost_b == [ids_b[0]]
    assert lost_c == [ids_c[0]]
    assert len(built) == 1  # the keys' table: one statement for every pass
    assert {run.id for run in first.list_runs(limit=None)} == {
        *ids_a,
        *ids_b[1:],
        *ids_c[1:],
    }
    assert [first.fire_owner("invoices", "w:0", slot) for slot in slots] == [
        "a" * 32,
        "a" * 32,
        "b" * 32,
        "b" * 32,
        "a" * 32,
        "a" * 32,
    ]
