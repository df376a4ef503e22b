"""History retention: the policy, its config file, pruning with artifacts, and the schedule."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from automation.clock import FakeClock
from supervisor.retention import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_RUNS,
    MAX_AGE_VARIABLE,
    MAX_RUNS_VARIABLE,
    RetentionConfigError,
    RetentionPolicy,
    prunable,
    prune,
    remove_artifacts,
    schedule_retention,
    stop_retention,
)
from supervisor.store import HistoryStore
from tests.helpers.storage import RunEvents, migrated_sqlite_copy

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, migrated_sqlite: Path) -> Iterator[HistoryStore]:
    database = migrated_sqlite_copy(migrated_sqlite, tmp_path / "history.sqlite3")
    store = HistoryStore.open(f"sqlite:///{database}", clock=FakeClock(NOW))
    yield store
    store.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    return folder


def finished_run(store: HistoryStore, artifacts: Path, days_ago: float) -> str:
    """A finished run that ended ``days_ago`` days before NOW, with a screenshot on disk."""
    run = RunEvents(start=NOW - timedelta(days=days_ago, seconds=30))
    store.record(run.whole_run(2))
    (artifacts / run.run_id).mkdir()
    (artifacts / run.run_id / "shot.png").write_bytes(b"png")
    return run.run_id


def running_run(store: HistoryStore, artifacts: Path, days_ago: float) -> str:
    run = RunEvents(start=NOW - timedelta(days=days_ago))
    store.record([run.run_started(), *run.step(1)])
    (artifacts / run.run_id).mkdir()
    return run.run_id


def run_ids(store: HistoryStore) -> set[str]:
    return {run.id for run in store.list_runs(limit=None)}


# -- the policy -------------------------------------------------------------------------


def test_the_default_policy_keeps_90_days_and_100000_runs() -> None:
    policy = RetentionPolicy()

    assert policy.max_age == DEFAULT_MAX_AGE == timedelta(days=90)
    assert policy.max_runs == DEFAULT_MAX_RUNS == 100_000
    assert policy.describe() == "older than 90 days or beyond the newest 100000 runs"
    assert RetentionPolicy(None, None).enabled is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_age": timedelta(0)}, "maximum age of runs must be positive"),
        ({"max_age": timedelta(days=-1)}, "maximum age of runs must be positive"),
        ({"max_age": 30}, "maximum age of runs must be positive"),
        ({"max_runs": 0}, "maximum number of runs must be a whole number of at least 1"),
        ({"max_runs": True}, "maximum number of runs must be a whole number"),
        ({"max_runs": 2.5}, "maximum number of runs must be a whole number"),
    ],
)
def test_policy_values_are_checked_where_they_are_made(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(**values)  # type: ignore[arg-type]


def test_the_policy_is_frozen() -> None:
    policy = RetentionPolicy()
    with pytest.raises(AttributeError):
        policy.max_runs = 5  # type: ignore[misc]


# -- config.toml and the environment ----------------------------------------------------------


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.toml").write_text(text, encoding="utf-8")
    return folder


def test_no_config_file_means_the_defaults(tmp_path: Path) -> None:
    assert RetentionPolicy.from_config(tmp_path / "nowhere", environ={}) == RetentionPolicy()


def test_the_retention_section_sets_both_limits(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        "[api]\nother = 1\n\n[retention]\nmax_age_days = 30\nmax_runs = 500\n",
    )

    policy = RetentionPolicy.from_config(config, environ={})

    assert policy == RetentionPolicy(max_age=timedelta(days=30), max_runs=500)


def test_false_lifts_a_limit_and_a_missing_key_keeps_its_default(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[retention]\nmax_age_days = false\n")

    policy = RetentionPolicy.from_config(config, environ={})

    assert policy == RetentionPolicy(max_age=None, max_runs=DEFAULT_MAX_RUNS)


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[retention]\nmax_age_days = 30\nmax_runs = 500\n")

    policy = RetentionPolicy.from_config(
        config, environ={MAX_AGE_VARIABLE: "7.5", MAX_RUNS_VARIABLE: "off"}
    )

    assert policy == RetentionPolicy(max_age=timedelta(days=7.5), max_runs=None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[retention]\nmax_age_days = -3\n", "max_age_days in .*config.toml must be more than 0"),
        ("[retention]\nmax_age_days = '90'\n", "max_age_days .* must be a number of days"),
        ("[retention]\nmax_runs = 0\n", "max_runs in .*config.toml must be a whole number"),
        ("[retention]\nmax_runs = 10.5\n", "max_runs .* must be a whole number"),
        ("[retention]\nmax_age = 90\n", "unknown setting max_age in \\[retention\\] of .*"),
        ("retention = 5\n", "\\[retention\\] in .* must be a table"),
        ("[retention\n", "config.toml is not valid TOML"),
    ],
)
def test_bad_settings_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = write_config(tmp_path, text)

    with pytest.raises(RetentionConfigError, match=message):
        RetentionPolicy.from_config(config, environ={})


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(RetentionConfigError, match=f"{MAX_RUNS_VARIABLE} must be a number"):
        RetentionPolicy.from_config(tmp_path, environ={MAX_RUNS_VARIABLE: "lots"})
    with pytest.raises(RetentionConfigError, match=f"{MAX_AGE_VARIABLE} must be more than 0"):
        RetentionPolicy.from_config(tmp_path, environ={MAX_AGE_VARIABLE: "0"})


# -- pruning ------------------------------------------------------------------------------


def test_prune_by_age_deletes_old_runs_and_their_artifacts(
    store: HistoryStore, artifacts: Path
) -> None:
    old = [finished_run(store, artifacts, days) for days in (100, 45)]
    recent = finished_run(store, artifacts, 5)
    unfinished = running_run(store, artifacts, 200)
    policy = RetentionPolicy(max_age=timedelta(days=30), max_runs=None)

    assert sorted(prunable(store, policy)) == sorted(old)
    assert prune(store, policy, artifacts_dir=artifacts) == 2

    assert run_ids(store) == {recent, unfinished}
    assert sorted(p.name for p in artifacts.iterdir()) == sorted([recent, unfinished])
    assert (artifacts / recent / "shot.png").read_bytes() == b"png"


def test_prune_by_count_keeps_the_newest_runs_and_their_artifacts(
    store: HistoryStore, artifacts: Path
) -> None:
    ids = [finished_run(store, artifacts, days) for days in (5, 4, 3, 2, 1)]
    policy = RetentionPolicy(max_age=None, max_runs=2)

    assert prune(store, policy, artifacts_dir=artifacts) == 3

    assert run_ids(store) == set(ids[3:])
    assert {p.name for p in artifacts.iterdir()} == set(ids[3:])
    assert prune(store, policy, artifacts_dir=artifacts) == 0


@pytest.mark.parametrize(
    "policy",
    [
        RetentionPolicy(max_age=timedelta(days=30), max_runs=None),
        RetentionPolicy(max_age=None, max_runs=1),
    ],
    ids=["by age", "by count"],
)
def test_a_large_prune_goes_in_small_transactions_oldest_first(
    store: HistoryStore,
    artifacts: Path,
    policy: RetentionPolicy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = [finished_run(store, artifacts, 100 - days) for days in range(9)]
    newest = finished_run(store, artifacts, 1)

    with caplog.at_level(logging.INFO, logger="supervisor.store.store"):
        assert prune(store, policy, artifacts_dir=artifacts, batch=3) == 9

    per_transaction = [
        int(found.group(1))
        for record in caplog.records
        if (found := re.fullmatch(r"pruned (\d+) runs from the history", record.getMessage()))
    ]
    assert len(per_transaction) >= 3
    assert max(per_transaction) <= 3
    assert run_ids(store) == {newest}
    assert [p.name for p in artifacts.iterdir()] == [newest]
    assert ids[0] not in run_ids(store)


def test_prune_without_an_artifacts_folder_leaves_files_alone(
    store: HistoryStore, artifacts: Path
) -> None:
    old = finished_run(store, artifacts, 100)

    assert prune(store, RetentionPolicy(max_age=timedelta(days=1), max_runs=None)) == 1

    assert store.get_run(old) is None
    assert (artifacts / old).is_dir()


def test_a_history_within_its_limits_is_not_written(
    store: HistoryStore, artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = [finished_run(store, artifacts, days) for days in (1, 2)]
    writes: list[dict[str, object]] = []
    monkeypatch.setattr(store, "prune", lambda **limit: writes.append(limit) or 0)

    assert prune(store, RetentionPolicy(max_age=timedelta(days=30), max_runs=5)) == 0

    assert writes == []
    assert run_ids(store) == set(kept)


def test_remove_artifacts_refuses_ids_that_would_leave_the_folder(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    (artifacts / "ok").mkdir(parents=True)
    outside = tmp_path / "precious"
    outside.mkdir()

    removed = remove_artifacts(artifacts, ["ok", "..", "../precious", "missing"])

    assert removed == 1
    assert not (artifacts / "ok").exists()
    assert outside.is_dir()


# -- on a schedule ------------------------------------------------------------------------


@dataclass
class SupervisorParts:
    """What ``schedule_retention`` uses of a supervisor: its store and artifacts folder."""

    store: HistoryStore
    artifacts_dir: Path


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_the_schedule_prunes_soon_after_start_and_then_every_interval(
    store: HistoryStore, artifacts: Path
) -> None:
    first = finished_run(store, artifacts, 100)
    keep = finished_run(store, artifacts, 1)
    policy = RetentionPolicy(max_age=timedelta(days=30), max_runs=None)

    async def scenario() -> str:
        task = schedule_retention(
            SupervisorParts(store, artifacts), policy, interval=0.05, first_delay=0
        )
        try:
            # the row goes first, its artifacts folder right after
            await until(lambda: store.get_run(first) is None and not (artifacts / first).exists())
            second = finished_run(store, artifacts, 60)
            await until(lambda: store.get_run(second) is None and not (artifacts / second).exists())
            return second
        finally:
            await stop_retention(task)
            assert task.done()

    asyncio.run(scenario())

    assert run_ids(store) == {keep}


def test_a_failed_round_is_logged_and_the_next_round_still_runs(
    store: HistoryStore, artifacts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = finished_run(store, artifacts, 100)
    rounds: list[int] = []

    def policy() -> RetentionPolicy | None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RetentionConfigError("max_runs in config.toml must be a whole number")
        if len(rounds) == 2:
            return None  # skip this round
        return RetentionPolicy(max_age=timedelta(days=30), max_runs=None)

    async def scenario() -> None:
        task = schedule_retention(store, policy, interval=0.02, first_delay=0)
        try:
            await until(lambda: store.get_run(old) is None)
        finally:
            await stop_retention(task)

    with caplog.at_level(logging.ERROR, logger="supervisor.retention"):
        asyncio.run(scenario())

    assert len(rounds) >= 3
    assert "history retention failed" in caplog.text
    assert "must be a whole number" in caplog.text
    assert (artifacts / old).is_dir(), "a bare store has no artifacts folder to clean"


def test_the_schedule_sleeps_until_its_first_round(store: HistoryStore, artifacts: Path) -> None:
    old = finished_run(store, artifacts, 100)
    policy = RetentionPolicy(max_age=timedelta(days=30), max_runs=None)

    async def scenario() -> None:
        task = schedule_retention(store, policy, interval=3600, first_delay=3600)
        await asyncio.sleep(0)  # let the task start and park on its timer
        assert not task.done()
        await stop_retention(task)
        assert task.cancelled()

    asyncio.run(scenario())

    assert store.get_run(old) is not None


def test_the_schedule_needs_a_positive_interval(store: HistoryStore) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="interval must be positive"):
            schedule_retention(store, RetentionPolicy(), interval=0)
        with pytest.raises(ValueError, match="interval must be positive"):
            schedule_retention(store, RetentionPolicy(), interval=timedelta(0))

    asyncio.run(scenario())
