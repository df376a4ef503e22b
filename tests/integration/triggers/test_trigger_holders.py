"""Two real supervisors on one PostgreSQL: a trigger row is retired only by the last that loads it.

pc-a loads ``second`` (``after: first``); pc-b has only ``first``.  pc-b's
start must leave pc-a's trigger alone (it once marked it removed).  Then
``second`` is deleted while pc-a is stopped: at pc-a's next start the row
is retired, its ``chains_from`` cleared, and a run of ``first`` ending on
pc-b writes no chain outbox row for it any more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.store.schema import chain_fires
from supervisor.store.trigger_rows import TriggerRows
from tests.helpers.common import eventually
from tests.helpers.postgres import PostgresServer
from tests.integration.triggers.harness import PASS_NODES, DaemonThread, write_workflow

KEY_WORKFLOW = "second"
AFTER_FIRST = PASS_NODES + "triggers:\n  - {type: after, workflow: first}\n"


def the_row(rows: TriggerRows) -> Any:
    (found,) = [row for row in rows.load_all() if row.workflow_name == KEY_WORKFLOW]
    return found


def test_only_the_last_supervisor_loading_a_trigger_retires_it(
    tmp_path: Path, registry: BlockRegistry, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_migrated_database()
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    write_workflow(home_a / "workflows", "second", AFTER_FIRST)
    write_workflow(home_b / "workflows", "first", PASS_NODES)

    a = DaemonThread(home_a, registry, database_url=url).start()
    b: DaemonThread | None = None
    try:
        rows = TriggerRows(a.parts.store)
        a_id = a.parts.supervisor.membership.id
        eventually(lambda: the_row(rows).chains_from == "first")
        b = DaemonThread(home_b, registry, database_url=url).start()  # its start is written
        row = the_row(rows)
        assert (row.chains_from, row.state.get("removed_at")) == ("first", None)
        assert rows.holders(KEY_WORKFLOW, row.trigger_key) == {a_id}
        a.stop()

        (home_a / "workflows" / "second.yaml").unlink()
        a = DaemonThread(home_a, registry, database_url=url).start()
        row = the_row(rows := TriggerRows(a.parts.store))
        assert row.chains_from is None and row.state.get("removed_at") is not None
        assert rows.holders(KEY_WORKFLOW, row.trigger_key) == set()

        def submit() -> str:
            assert b is not None
            loaded = b.triggers.catalog.get("first")
            assert loaded is not None
            return b.parts.supervisor.submit(loaded, {})

        run_id = b.call(submit)
        store = b.parts.store
        eventually(lambda: getattr(store.get_run(run_id), "status", None) is RunStatus.SUCCEEDED)
        with store.engine.connect() as connection:
            written = connection.execute(
                select(func.count()).select_from(chain_fires).where(chain_fires.c.run_id == run_id)
            ).scalar_one()
        assert written == 0
    finally:
        a.stop()
        if b is not None:
            b.stop()
