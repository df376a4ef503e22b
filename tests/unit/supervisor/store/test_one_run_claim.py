"""The claim of the one run a dispatch chose (``claims._one_run_claim``, SQLite).

A lone supervisor claims every run it starts this way, so it must refuse
exactly what the general claim refuses (another machine's run, a run
waiting out its restart delay, a second desktop run, a run no longer
queued, a forgotten claimant) and find the run by its key, not by walking
the queue.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from automation.clock import FakeClock
from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.storage import migrated_sqlite_copy

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def open_store(migrated_sqlite: Path, tmp_path: Path, clock: FakeClock) -> HistoryStore:
    path = migrated_sqlite_copy(migrated_sqlite, tmp_path / "history.sqlite3")
    return HistoryStore.open(f"sqlite:///{path}", clock=clock, lease_clock=clock)


def queue(
    store: HistoryStore, count: int = 1, *, host: str | None = None, desktop: bool = False
) -> list[str]:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(count)]
    store.create_runs(
        [
            QueuedRow(run_id, "invoices", version, target_host=host, needs_desktop=desktop)
            for run_id in ids
        ]
    )
    return ids


def claimed(store: HistoryStore, claimant: str, run_id: str, **kwargs: object) -> list[str]:
    return [run.id for run in store.claim_queued(claimant, run_ids=[run_id], **kwargs)]  # type: ignore[arg-type]


def test_one_chosen_run_is_claimed_under_the_same_conditions(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    clock = FakeClock(start=START)
    store = open_store(migrated_sqlite, tmp_path, clock)
    (elsewhere,) = queue(store, host="pc-2")
    first_desktop, second_desktop = queue(store, 2, host="pc-1", desktop=True)
    (plain,) = queue(store)

    assert claimed(store, "sup-1", elsewhere, host="pc-1") == []
    assert claimed(store, "sup-1", first_desktop, host="pc-1", desktop=False) == []
    assert claimed(store, "sup-1", first_desktop, host="pc-1") == [first_desktop]
    # The machine's desktop is taken now: a second desktop run waits, a plain one does not.
    assert claimed(store, "sup-1", second_desktop, host="pc-1") == []
    assert claimed(store, "sup-1", plain, host="pc-1") == [plain]
    assert claimed(store, "sup-2", plain, host="pc-1") == []  # claimed already

    record = store.get_run(first_desktop)
    assert record is not None and record.status is RunStatus.RUNNING
    assert record.claimed_by == "sup-1" and record.started_at == START
    # The machine's mark, which the unique index over running desktop runs holds to one.
    with sqlite3.connect(tmp_path / "history.sqlite3") as connection:
        marks = connection.execute(
            "SELECT id, desktop_claim FROM runs WHERE desktop_claim IS NOT NULL"
        )
        assert marks.fetchall() == [(first_desktop, "pc-1")]

    store.set_run_status(first_desktop, RunStatus.SUCCEEDED, owner="sup-1")
    assert claimed(store, "sup-1", second_desktop, host="pc-1") == [second_desktop]


def test_one_chosen_run_waits_out_its_restart_delay(migrated_sqlite: Path, tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    store = open_store(migrated_sqlite, tmp_path, clock)
    (run_id,) = queue(store)
    assert claimed(store, "sup-a", run_id) == [run_id]
    store.set_run_status(run_id, RunStatus.INTERRUPTED, owner="sup-a")
    store.set_run_status(
        run_id, RunStatus.QUEUED, owner="sup-a", not_before=clock.now() + timedelta(seconds=5)
    )

    clock.advance(4.9)
    assert claimed(store, "sup-a", run_id) == []
    clock.advance(0.1)
    assert claimed(store, "sup-a", run_id) == [run_id]


def test_a_fenced_claim_of_one_run_needs_a_registered_claimant(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    clock = FakeClock(start=START)
    store = open_store(migrated_sqlite, tmp_path, clock)
    (run_id,) = queue(store)
    me = "a" * 32

    assert claimed(store, me, run_id, fenced=True, lease_seconds=10) == []
    store.register_supervisor(me, host="pc-1")
    store.supervisor_stopped(me)
    assert claimed(store, me, run_id, fenced=True, lease_seconds=10) == []
    store.register_supervisor(me, host="pc-1")
    assert claimed(store, me, run_id, fenced=True, lease_seconds=10) == [run_id]
    record = store.get_run(run_id)
    assert record is not None and record.lease_expires_at == START + timedelta(seconds=10)


def plan(database: Path, sql: str) -> str:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?")).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


def test_one_chosen_run_is_found_by_its_key_not_by_walking_the_queue(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    store = open_store(migrated_sqlite, tmp_path, FakeClock(start=START))
    run_id, other = queue(store, 2)
    sent: list[str] = []

    def claims(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE runs SET status"):
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", claims)
    try:
        assert claimed(store, "sup-a", run_id) == [run_id]
        assert [run.id for run in store.claim_queued("sup-a", run_ids=[other, run_id])] == [other]
    finally:
        event.remove(Engine, "before_cursor_execute", claims)

    one, general = (plan(tmp_path / "history.sqlite3", sql) for sql in sent)
    assert one.splitlines()[0] == "SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)"
    assert "TEMP B-TREE" not in one
    # The claim of several chosen runs picks through the status index and sorts its picks.
    assert "TEMP B-TREE" in general
