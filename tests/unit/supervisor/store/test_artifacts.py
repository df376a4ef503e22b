"""Artifacts keep a copy of their bytes in the history: any machine can serve them.

Part of the store contract: every test runs against every store backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from automation.clock import FakeClock
from supervisor.store import HistoryStore
from supervisor.store import artifacts as artifact_store
from supervisor.store.schema import artifact_contents
from tests.helpers.storage import RunEvents

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def test_evidence_the_supervisor_attaches_is_kept_with_its_bytes(
    store: HistoryStore, tmp_path: Path
) -> None:
    run = RunEvents()
    store.record([run.run_started()])
    path = tmp_path / "worker-1-hung.json"
    path.write_text('{"stacks": "..."}', encoding="utf-8")

    added = store.add_artifact(run.run_id, path, kind="evidence", description="worker hung")
    path.unlink()  # the machine's copy is gone: the history's is not

    assert added.stored and added.size == 17
    assert store.artifacts(run.run_id) == [added]
    content = store.artifact_content(run.run_id, added.id)
    assert content is not None
    assert (content.media_type, content.content) == ("application/json", b'{"stacks": "..."}')


def test_a_workers_screenshot_is_kept_when_its_event_is_recorded(
    store: HistoryStore, tmp_path: Path
) -> None:
    run = RunEvents()
    shot = tmp_path / "failure.png"
    shot.write_bytes(PNG)
    store.record([*run.whole_run(2), run.artifact(2, str(shot))])

    [record] = store.artifacts(run.run_id)
    assert record.size == len(PNG)
    content = store.artifact_content(run.run_id, record.id)
    assert content is not None and content.content == PNG
    assert content.media_type == "image/png"
    # the id belongs to one run: another run's id does not reach it
    other = RunEvents()
    store.record([other.run_started()])
    assert store.artifact_content(other.run_id, record.id) is None


def test_the_same_path_twice_in_one_batch_gives_the_newest_row_the_copy(
    store: HistoryStore, tmp_path: Path
) -> None:
    run = RunEvents()
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    store.record([run.run_started(), run.artifact(1, str(shot)), run.artifact(1, str(shot))])

    first, second = store.artifacts(run.run_id)
    assert (first.stored, second.stored) == (False, True)


def test_missing_and_oversized_files_are_recorded_without_a_copy(
    store: HistoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifact_store, "MAX_STORED_BYTES", 1000)
    run = RunEvents()
    big = tmp_path / "big.png"
    big.write_bytes(PNG)
    store.record([run.run_started(), run.artifact(1, str(tmp_path / "gone.png"))])
    added = store.add_artifact(run.run_id, big, kind="screenshot")

    assert [a.stored for a in store.artifacts(run.run_id)] == [False, False]
    assert store.artifact_content(run.run_id, added.id) is None


def test_pruning_a_run_deletes_the_copies_of_its_artifacts(store_factory, tmp_path: Path) -> None:
    clock = FakeClock(start=datetime(2026, 6, 1, tzinfo=UTC))
    store = store_factory(clock=clock)
    run = RunEvents(start=datetime(2026, 1, 1, tzinfo=UTC))
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    store.record([*run.whole_run(1), run.artifact(1, str(shot))])
    [record] = store.artifacts(run.run_id)

    assert store.prune(max_age=timedelta(days=30)) == 1

    assert store.artifact_content(run.run_id, record.id) is None
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(artifact_contents)).scalar() == 0


def test_a_recovery_file_brings_the_copies_along(tmp_path: Path) -> None:
    """A screenshot recorded while the history file was gone comes back with its bytes."""
    database = tmp_path / "history.sqlite3"
    store = HistoryStore.open(f"sqlite:///{database}")
    run = RunEvents()
    store.create_run(run.run_id, run.workflow)
    store.record([run.run_started()])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    store.divert()
    store.record([run.artifact(1, str(shot)), *run.step(1), run.run_finished(steps=1)])
    store.close()
    shot.unlink()

    again = HistoryStore.open(f"sqlite:///{database}")
    try:
        [(_, copied)] = again.import_recoveries()
        assert copied == 1
        [record] = again.artifacts(run.run_id)
        content = again.artifact_content(run.run_id, record.id)
        assert content is not None and content.content == PNG
    finally:
        again.close()
