"""Who retires a shared trigger row: the last supervisor that loaded it (``TriggerRows.release``).

On SQLite and PostgreSQL.  Supervisors here are ids saving and releasing
rows, as their trigger managers do when they load and unload workflows.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from supervisor.store import HistoryStore
from supervisor.store.chain_fires import chained_in_store
from supervisor.store.trigger_rows import TriggerRows
from tests.helpers.storage import StoreFactory

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
A, B = "a" * 32, "b" * 32
KEY = "second:0"


def row(**values: Any) -> dict[str, Any]:
    return {
        "workflow_name": "second",
        "trigger_key": KEY,
        "spec": {"type": "after", "workflow": "first"},
        "enabled": True,
        "paused": False,
        "state": {"removed_at": None},
        "updated_at": AT,
        "spec_hash": "h",
        "anchor": None,
        "chains_from": "first",
        **values,
    }


def stored(rows: TriggerRows) -> tuple[str | None, str | None]:
    (found,) = rows.load_all()
    return found.chains_from, found.state.get("removed_at")


def chained(store: HistoryStore) -> bool:
    with store.engine.connect() as connection:
        return chained_in_store(connection, "first")


def test_only_the_last_supervisor_to_unload_a_trigger_retires_it(store: HistoryStore) -> None:
    rows = TriggerRows(store)
    rows.save_many([row()], holder=A)
    rows.save_many([row()], holder=B)
    assert rows.holders("second", KEY) == {A, B}

    assert not rows.release(A, "second", KEY, AT)  # B still loads it: left as B keeps it
    assert stored(rows) == ("first", None) and chained(store)
    assert rows.release(B, "second", KEY, AT)
    assert stored(rows) == (None, AT.isoformat()) and not chained(store)
    assert rows.holders("second", KEY) == set()


def test_a_supervisor_starting_without_the_workflow_leaves_the_others_trigger_alone(
    store: HistoryStore,
) -> None:
    rows = TriggerRows(store)
    rows.save_many([row()], holder=B)
    assert rows.release_unloaded(A, [], AT) == []
    assert stored(rows) == ("first", None) and rows.holders("second", KEY) == {B}


def test_a_trigger_deleted_while_its_only_supervisor_was_stopped_is_retired_at_its_start(
    store: HistoryStore,
) -> None:
    rows = TriggerRows(store)
    rows.save_many([row()], holder=A)
    assert rows.release_unloaded(A, [("second", KEY)], AT) == []  # still loaded: kept
    assert rows.release_unloaded(A, [], AT) == [("second", KEY)]
    assert stored(rows) == (None, AT.isoformat()) and not chained(store)
    assert rows.release_unloaded(A, [], AT) == []  # retired once


def test_a_trigger_nobody_holds_is_retired_by_whoever_finds_it_unloaded(
    store: HistoryStore,
) -> None:
    """A row saved before holders were recorded, or by a supervisor since gone."""
    rows = TriggerRows(store)
    rows.save_many([row()])
    assert rows.release_unloaded(B, [], AT) == [("second", KEY)]
    assert not chained(store)


def test_two_supervisors_unloading_at_once_retire_it_once(store_factory: StoreFactory) -> None:
    """Each release locks the row first: the second to commit sees itself as the last."""
    stores = [store_factory(), store_factory()]
    TriggerRows(stores[0]).save_many([row()], holder=A)
    TriggerRows(stores[1]).save_many([row()], holder=B)
    results: dict[str, bool] = {}
    gate = threading.Barrier(2)

    def release(store: HistoryStore, holder: str) -> None:
        gate.wait(10)
        results[holder] = TriggerRows(store).release(holder, "second", KEY, AT)

    threads = [
        threading.Thread(target=release, args=(store, holder))
        for store, holder in zip(stores, (A, B), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results.values()) == [False, True]
    assert stored(TriggerRows(stores[0])) == (None, AT.isoformat())
