"""How PostgreSQL runs the general claim when the table's statistics predate its queue.

A burst of queued runs (here a fresh table, never analysed) leaves the
planner believing the queue is nearly empty.  The claim must still go to the
runs it picked, not walk the queue once more to find them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from supervisor.store import HistoryStore, claims
from supervisor.store.store import QueuedRow
from supervisor.store.types import to_micros

#: As ``tests/benchmarks/bench_fleet.py`` queues them.  With far fewer, reading the
#: whole table is as cheap as going to each pick, and PostgreSQL may choose to.
QUEUED = 3000


def test_the_claim_updates_its_picks_by_their_place_in_the_table(
    postgres_migrated_url: str,
) -> None:
    store = HistoryStore.open(postgres_migrated_url)
    try:
        version = store.save_workflow_version("invoices", None, "nodes: []\n")
        for _ in range(QUEUED // 500):
            store.create_runs(
                [QueuedRow(uuid.uuid4().hex, "invoices", version) for _ in range(500)]
            )
        store.claim_queued("sup-a", limit=10)  # runs too: the table has running rows
        statement = claims._claim_statement(True, False, True, False, False)
        with store.engine.connect() as connection:
            compiled = statement.compile(dialect=connection.dialect)
            params = compiled.construct_params(
                {
                    "claimant": "sup-a",
                    "claimed_at": to_micros(datetime.now(UTC)),
                    "lease_length": None,
                    "lease_start": None,
                    "desktop_key": "sup-a",
                    "limit": 10,
                }
            )
            explained = connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", params
            ).scalar_one()
            connection.rollback()
    finally:
        store.close()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    assert plan["Node Type"] == "ModifyTable"
    assert plan["Actual Rows"] == 10  # claimed
    (target,) = [node for node in plan["Plans"] if node.get("Parent Relationship") == "Outer"]
    # Joined by id with the status written in, the planner walked the index over queued
    # runs to find 10 picks (2,990 rows read and dropped).
    assert target["Node Type"] == "Tid Scan", json.dumps(plan, indent=1)[:3000]
    assert target["Actual Rows"] == 10
    assert target.get("Rows Removed by Filter", 0) == 0
