"""File triggers on a real folder with a real daemon: glob, inputs, debounce, a folder that comes back.

Negative checks ("no run for that file") are ordered, not timed: a later
event on a matching file is waited for, and watchdog delivers events in
order, so by the time its run exists the earlier event has been handled.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from supervisor.store.records import RunRecord
from tests.helpers.common import eventually
from tests.integration.triggers.harness import PASS_NODES, DaemonThread, write_workflow


def with_path(runs: list[RunRecord], name: str) -> list[RunRecord]:
    return [r for r in runs if (r.inputs or {}).get("path", "").endswith(f"/{name}")]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def daemon(tmp_path: Path, inbox: Path, registry: BlockRegistry) -> Iterator[DaemonThread]:
    workflows = tmp_path / "workflows"
    write_workflow(
        workflows,
        "csvs",
        "inputs:\n  path: {type: string}\n  event: {type: string}\n"
        + PASS_NODES
        + "triggers:\n"
        + f"  - {{type: file, path: {inbox}, glob: '*.csv', debounce: 0.3s}}\n",
    )
    # a relative folder is resolved against the workflow file's folder
    write_workflow(
        workflows,
        "texts",
        PASS_NODES
        + "triggers:\n"
        + "  - {type: file, path: ../inbox, glob: '*.txt', debounce: 0.1s, inputs: {}}\n",
    )
    running = DaemonThread(tmp_path, registry).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_matching_file_starts_a_run_with_its_path_and_event(
    daemon: DaemonThread, inbox: Path
) -> None:
    (inbox / "notes.txt").write_text("not a csv")
    (inbox / "data.csv").write_text("a,b\n1,2\n")
    [run] = eventually(lambda: daemon.runs("csvs"))
    assert run.inputs == {"path": str(inbox / "data.csv"), "event": "created"}
    assert run.trigger == "file:csvs:0:created:data.csv"
    # the .txt file matched only the other workflow, which declares no inputs
    [text_run] = eventually(lambda: daemon.runs("texts"))
    assert text_run.inputs == {}
    assert text_run.trigger == "file:texts:0:created:notes.txt"
    assert daemon.runs("csvs") == [run]


def test_a_burst_of_writes_is_one_run(daemon: DaemonThread, inbox: Path) -> None:
    target = inbox / "burst.csv"
    for line in range(5):
        with target.open("a") as handle:
            handle.write(f"{line}\n")
    eventually(lambda: with_path(daemon.runs("csvs"), "burst.csv"))
    (inbox / "sentinel.csv").write_text("later")
    eventually(lambda: with_path(daemon.runs("csvs"), "sentinel.csv"))
    assert len(with_path(daemon.runs("csvs"), "burst.csv")) == 1


def test_the_watch_survives_the_folder_being_deleted_and_created_again(
    daemon: DaemonThread, inbox: Path
) -> None:
    shutil.rmtree(inbox)
    eventually(lambda: "does not exist" in (daemon.trigger_info("csvs:0")["last_error"] or ""))
    inbox.mkdir()
    (inbox / "again.csv").write_text("back")
    eventually(lambda: with_path(daemon.runs("csvs"), "again.csv"))
    assert daemon.trigger_info("csvs:0")["last_error"] is None
    (inbox / "and-again.csv").write_text("still watched")
    eventually(lambda: with_path(daemon.runs("csvs"), "and-again.csv"))


def test_moves_and_deletes_in_subfolders_fire_only_where_recursive(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    """``events`` picks the kinds; ``recursive`` decides whether subfolders count."""
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    workflows = tmp_path / "workflows"
    inputs = "inputs:\n  path: {type: string}\n  event: {type: string}\n"
    write_workflow(
        workflows,
        "deep",
        inputs
        + PASS_NODES
        + "triggers:\n"
        + f"  - {{type: file, path: {logs}, glob: '*.log', events: [moved, deleted],"
        " recursive: true, debounce: 0.1s}\n",
    )
    write_workflow(
        workflows,
        "shallow",
        inputs
        + PASS_NODES
        + "triggers:\n"
        + f"  - {{type: file, path: {logs}, glob: '*.log', debounce: 0.1s}}\n",
    )
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        first = logs / "sub" / "first.log"
        first.write_text("one")
        renamed = logs / "sub" / "renamed.log"
        eventually(lambda: daemon.trigger_info("deep:0") is not None)
        first.rename(renamed)
        [moved] = eventually(lambda: daemon.runs("deep"))
        assert moved.inputs == {"path": str(renamed), "event": "moved"}
        renamed.unlink()
        runs = eventually(lambda: r if len(r := daemon.runs("deep")) == 2 else None)
        assert {(r.inputs or {}).get("event") for r in runs} == {"moved", "deleted"}
        assert all((r.inputs or {}).get("path") == str(renamed) for r in runs)
        # The shallow trigger does not look into sub/: a later top-level file is its first run.
        (logs / "top.log").write_text("top")
        [top] = eventually(lambda: daemon.runs("shallow"))
        assert top.inputs == {"path": str(logs / "top.log"), "event": "created"}
        # and the deep one takes no 'created' events at all
        assert len(daemon.runs("deep")) == 2
    finally:
        daemon.stop()
