"""One supervisor per SQLite history file: the lock beside it, and what a second one is told.

Real ``flock`` on a real file: two open file descriptions conflict within
one process as they do between two.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor.errors import SupervisorError
from supervisor.instance_lock import HistoryLock, history_lock
from supervisor.paths import DeskpilotPaths


def lock(database: Path, name: str) -> HistoryLock:
    return HistoryLock(
        database, data_dir=Path(f"/homes/{name}/data"), host=f"pc-{name}", supervisor_id=name * 4
    )


def test_a_second_supervisor_is_told_who_holds_the_file(tmp_path: Path) -> None:
    database = tmp_path / "history.sqlite3"
    first = lock(database, "a")
    first.acquire()
    try:
        for attempt in (lock(database, "b").acquire, lock(database, "b").check_free):
            with pytest.raises(SupervisorError) as refused:
                attempt()
            message = str(refused.value)
            assert str(database) in message
            assert f"pid {os.getpid()} on pc-a, data folder /homes/a/data" in message
            assert "supervisor id aaaa" in message and "PostgreSQL" in message
    finally:
        first.release()

    second = lock(database, "b")
    second.check_free()
    second.acquire()  # freed: the next supervisor, from any home, takes it
    second.release()


def test_only_a_sqlite_file_has_one(tmp_path: Path) -> None:
    on_file = DeskpilotPaths.under(tmp_path / "home")
    found = history_lock(on_file)
    assert found is not None
    assert found.path == (tmp_path / "home" / "data" / "history.sqlite3.supervisor-lock")
    shared = DeskpilotPaths.under(
        tmp_path / "home", database_url="postgresql+psycopg://u@127.0.0.1:5432/deskpilot"
    )
    assert history_lock(shared) is None
    assert history_lock(DeskpilotPaths.under(tmp_path, database_url="sqlite://")) is None
