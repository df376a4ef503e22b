"""The watched workflows folder: live edits, invalid edits, conflicts and deletions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automation.blocks.registry import BlockRegistry
from supervisor.store.records import RunRecord
from tests.helpers.common import eventually
from tests.integration.triggers.harness import PASS_NODES, DaemonThread, write_workflow


def entry(daemon: DaemonThread, file_name: str) -> dict[str, Any]:
    for item in daemon.call(daemon.triggers.catalog.list):
        if Path(item["path"]).name == file_name:
            return item
    raise AssertionError(f"{file_name} is not in the catalog")


def source(daemon: DaemonThread, name: str) -> Path | None:
    loaded = daemon.call(daemon.triggers.catalog.get, name)
    return loaded.path if loaded is not None else None


def from_file(runs: list[RunRecord], name: str) -> list[RunRecord]:
    return [r for r in runs if r.trigger.endswith(f":{name}")]


def file_trigger(inbox: Path, glob: str) -> str:
    return f"triggers:\n  - {{type: file, path: {inbox}, glob: '{glob}', debounce: 0.1s}}\n"


def test_edits_apply_live_and_an_invalid_edit_keeps_the_last_valid_triggers(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    workflows = tmp_path / "workflows"
    path = write_workflow(workflows, "watched", PASS_NODES + file_trigger(inbox, "*.csv"))
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        first = entry(daemon, "watched.yaml")
        assert (first["name"], first["valid"], first["triggers"]) == ("watched", True, 1)
        assert first["last_run_status"] is None

        path.write_text(
            "name: watched\nnodes:\n  step: {block: no.such_block}\n" + file_trigger(inbox, "*.txt")
        )
        eventually(lambda: not entry(daemon, "watched.yaml")["valid"])
        broken = entry(daemon, "watched.yaml")
        assert any("no.such_block" in issue for issue in broken["issues"])
        assert broken["using_last_valid"] is True
        # the last valid version's trigger (*.csv) still fires
        (inbox / "a.csv").write_text("1")
        eventually(lambda: from_file(daemon.runs("watched"), "a.csv"))
        assert "*.csv" in daemon.trigger_info("watched:0")["spec"]

        write_workflow(workflows, "watched", PASS_NODES + file_trigger(inbox, "*.txt"))
        eventually(lambda: "*.txt" in daemon.trigger_info("watched:0")["spec"])
        assert entry(daemon, "watched.yaml")["valid"] is True
        (inbox / "b.csv").write_text("2")
        (inbox / "c.txt").write_text("3")
        eventually(lambda: from_file(daemon.runs("watched"), "c.txt"))
        assert from_file(daemon.runs("watched"), "b.csv") == []
        assert eventually(lambda: entry(daemon, "watched.yaml")["last_run_status"])
    finally:
        daemon.stop()


def test_a_second_file_with_the_same_name_is_a_conflict_and_deletion_removes_triggers(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    workflows = tmp_path / "workflows"
    original = write_workflow(
        workflows, "report", PASS_NODES + "triggers:\n  - {type: schedule, cron: '0 9 * * *'}\n"
    )
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        assert [t["key"] for t in daemon.call(daemon.triggers.list)] == ["report:0"]
        (workflows / "copy.yaml").write_text("name: report\n" + PASS_NODES)
        eventually(lambda: entry(daemon, "copy.yaml")["conflict"])
        copy = entry(daemon, "copy.yaml")
        assert copy["valid"] is False and copy["active"] is False
        assert "already used by report.yaml" in copy["issues"][0]
        assert entry(daemon, "report.yaml")["active"] is True
        assert source(daemon, "report") == original

        original.unlink()
        # the file that lost the conflict takes the name over; it declares no triggers
        eventually(lambda: daemon.call(daemon.triggers.list) == [])
        assert entry(daemon, "copy.yaml")["active"] is True
        assert source(daemon, "report") == workflows / "copy.yaml"
    finally:
        daemon.stop()
