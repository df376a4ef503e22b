"""Writing ``triggers`` rows in a caller's transaction.

Its own module because both the store (a fire's runs and its triggers' state
in one transaction) and ``trigger_rows`` (a save on its own) write them, and
``trigger_rows`` needs the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, case

from supervisor.store.claims import upsert
from supervisor.store.schema import triggers

#: ``triggers`` rows as ``upsert_trigger_rows`` takes them (``TriggerStateStore.rows_of``).
Rows = Sequence[Mapping[str, Any]]


def _keep_anchor(proposed: Any) -> dict[str, Any]:
    """A save keeps the stored anchor while the timing is the same: the first saver's wins."""
    return {
        "anchor": case(
            (
                and_(
                    triggers.c.spec_hash == proposed.spec_hash,
                    triggers.c.anchor.is_not(None),
                ),
                triggers.c.anchor,
            ),
            else_=proposed.anchor,
        )
    }


def upsert_trigger_rows(connection: Connection, rows: Rows) -> None:
    """Upsert these ``triggers`` rows in ``connection``'s transaction, in one statement.

    An upsert on the unique (workflow, key): two processes saving the same
    trigger cannot both insert it, where a read-then-insert could.  Rows go
    in (workflow, key) order, so two writers saving the same triggers lock
    their rows in the same order on PostgreSQL and cannot deadlock.
    """
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: (str(row["workflow_name"]), str(row["trigger_key"])))
    connection.execute(
        upsert(
            connection,
            triggers,
            ["workflow_name", "trigger_key"],
            [
                "spec",
                "enabled",
                "paused",
                "state",
                "updated_at",
                "spec_hash",
                "chains_from",
                "clock",
            ],
            _keep_anchor,
        ),
        [dict(row) for row in ordered],
    )
