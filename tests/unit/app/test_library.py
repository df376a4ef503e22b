"""File operations on the workflows folder (no Qt involved)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app import library
from automation.blocks.registry import BlockRegistry
from automation.loader import read_workflow_file
from tests.unit.app.appkit import EXAMPLES


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    for name in ("hello.yaml", "http_to_file.yaml"):
        shutil.copy(EXAMPLES / name, folder)
    (folder / "broken.yaml").write_text(
        "name: broken\nnodes:\n  a: {block: http.requets}\n", encoding="utf-8"
    )
    (folder / ".hidden.yaml").write_text("name: hidden\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not a workflow", encoding="utf-8")
    return folder


def test_scan_lists_workflows_with_their_state(folder: Path, registry: BlockRegistry) -> None:
    entries = {e.path.name: e for e in library.scan(folder, registry)}
    assert sorted(entries) == ["broken.yaml", "hello.yaml", "http_to_file.yaml"]
    assert entries["hello.yaml"].valid and entries["hello.yaml"].name == "hello"
    broken = entries["broken.yaml"]
    assert not broken.valid
    assert "unknown block 'http.requets'" in broken.issues[0]
    assert "did you mean 'http.request'" in broken.issues[0]


def test_triggers_are_described(tmp_path: Path, registry: BlockRegistry) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "name: t\nnodes:\n  a: {block: notify.log, with: {message: hi}}\n"
        "triggers:\n  - {type: schedule, cron: '0 9 * * *'}\n  - {type: file, path: in, glob: '*.csv', enabled: false}\n",
        encoding="utf-8",
    )
    entry = library.inspect_file(path, registry)
    assert entry.triggers == ("schedule 0 9 * * *", "file in/*.csv (paused)")


def test_new_workflow(folder: Path) -> None:
    path = library.new_workflow(folder, "Daily Report")
    assert path.name == "daily-report.yaml"
    assert read_workflow_file(path).workflow.name == "Daily Report"
    with pytest.raises(library.LibraryError, match="already exists"):
        library.new_workflow(folder, "Daily Report")


def test_duplicate_changes_only_the_name(folder: Path) -> None:
    source = folder / "http_to_file.yaml"
    copy = library.duplicate(source)
    assert copy.name == "http-to-file-copy.yaml"
    original_lines = source.read_text(encoding="utf-8").splitlines()
    copy_lines = copy.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(original_lines, copy_lines, strict=True) if a != b]
    assert changed == [("name: http-to-file", "name: http-to-file-copy")], (
        "comments and layout stay"
    )
    second = library.duplicate(source)
    assert read_workflow_file(second).workflow.name == "http-to-file-copy-2"


def test_rename_moves_the_file_and_the_name(folder: Path) -> None:
    target = library.rename(folder / "hello.yaml", "greeter")
    assert target == folder / "greeter.yaml"
    assert not (folder / "hello.yaml").exists()
    assert read_workflow_file(target).workflow.name == "greeter"
    with pytest.raises(library.LibraryError, match="'http-to-file' already exists"):
        library.rename(target, "http-to-file")


def test_set_name_in_json_and_in_files_without_a_name() -> None:
    assert library.set_name_in_text('{"name": "a", "nodes": {}}', "b", is_json=True).startswith(
        '{\n  "name": "b"'
    )
    assert (
        library.set_name_in_text("deskpilot: 1\nnodes: {}\n", "x: y")
        == "deskpilot: 1\nname: 'x: y'\nnodes: {}\n"
    )


def test_trash_keeps_the_file_out_of_the_folder(folder: Path, registry: BlockRegistry) -> None:
    moved = library.trash(folder / "hello.yaml")
    assert moved.parent == folder / library.TRASH
    assert moved.read_text(encoding="utf-8") == (EXAMPLES / "hello.yaml").read_text(
        encoding="utf-8"
    )
    assert "hello.yaml" not in [e.path.name for e in library.scan(folder, registry)]


def test_import_checks_and_refuses_overwrite(folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "tidy_folder.yaml"
    shutil.copy(EXAMPLES / "tidy_folder.yaml", source)
    imported = library.import_file(source, folder)
    assert imported.read_bytes() == source.read_bytes()
    with pytest.raises(library.LibraryError, match="already exists"):
        library.import_file(source, folder)
    assert library.import_file(source, folder, overwrite=True) == imported
    junk = tmp_path / "junk.yaml"
    junk.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(library.LibraryError, match="not a workflow file"):
        library.import_file(junk, folder)
    with pytest.raises(library.LibraryError, match=r"\.yaml, \.yml or \.json"):
        library.import_file(folder / "notes.txt", folder)


def test_export_writes_the_file_as_is_and_holds_no_secret_values(
    folder: Path, tmp_path: Path
) -> None:
    path = folder / "mail.yaml"
    path.write_text(
        "name: mail\nnodes:\n  send:\n    block: notify.email\n    with:\n"
        "      host: 127.0.0.1\n      sender: a@example.com\n      subject: hi\n"
        '      password: "{{ secrets.smtp_password }}"\n',
        encoding="utf-8",
    )
    target = tmp_path / "out" / "mail.yaml"
    target.parent.mkdir()
    library.export_file(path, target)
    assert target.read_bytes() == path.read_bytes()
    assert library.literal_secret_warnings(path) == []


def test_a_literal_password_is_flagged_before_export(folder: Path) -> None:
    path = folder / "leaky.yaml"
    path.write_text(
        "name: leaky\nnodes:\n  call:\n    block: http.request\n    with:\n      url: http://127.0.0.1\n"
        "      headers: {Authorization: Bearer abc123, Accept: text/plain}\n",
        encoding="utf-8",
    )
    warnings = library.literal_secret_warnings(path)
    assert len(warnings) == 1
    assert "node 'call': 'Authorization' holds a literal value" in warnings[0]
