"""The look for queued work reads ids first (``supervisor.store.queued``), on both stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from automation.engine.events import RunStatus
from supervisor.store.store import QueuedRow
from tests.helpers.storage import StoreFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_next_queued_ids_come_in_claim_order_startable_first(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    version = store.save_workflow_version("w", None, "nodes: []\n")
    old, urgent, mine, elsewhere, delayed, new = (uuid.uuid4().hex for _ in range(6))
    rows = [
        QueuedRow(old, "w", version),
        QueuedRow(urgent, "w", version, priority=5),
        QueuedRow(mine, "w", version, target_host="pc-a"),
        QueuedRow(elsewhere, "w", version, target_host="pc-b"),
        QueuedRow(delayed, "w", version),
        QueuedRow(new, "w", version),
    ]
    for index, row in enumerate(rows):
        store.create_runs([row], at=START + timedelta(seconds=index))
    # A restart delay that ends an hour from now, by the database's clock: after the others.
    store.set_run_status(delayed, RunStatus.RUNNING)
    store.set_run_status(delayed, RunStatus.INTERRUPTED)
    store.set_run_status(
        delayed, RunStatus.QUEUED, not_before=datetime.now(UTC) + timedelta(hours=1)
    )
    assert store.next_queued_ids("pc-a", 10) == [urgent, old, mine, new, delayed]
    assert store.next_queued_ids("pc-a", 2) == [urgent, old]
    assert store.next_queued_ids(None, 10) == [urgent, old, mine, elsewhere, new, delayed]
    assert store.next_queued_ids("pc-a", 0) == []

    store.set_run_status(old, RunStatus.RUNNING)  # claimed by someone
    assert store.still_queued([old, mine, new, "0" * 32]) == {mine, new}
    assert store.still_queued([]) == set()
    records = store.runs_by_id([new, "0" * 32, mine])
    assert [record.id for record in records] == [new, mine]
    assert records[1].target_host == "pc-a"
