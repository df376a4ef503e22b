"""The document's round trip: byte-identical when unchanged, the edited model when changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.editor.document import (
    UNSET,
    LinkAdded,
    NodeChanged,
    WorkflowDocument,
    dump_yaml,
    leading_comments,
)
from automation.errors import WorkflowInvalid
from automation.loader import read_workflow_file
from automation.model import Link
from tests.unit.app.appkit import example_files


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_unchanged_example_saves_byte_identical(path: Path) -> None:
    document = WorkflowDocument.open(path)
    assert not document.is_modified
    assert document.to_text().encode("utf-8") == path.read_bytes()


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_rewritten_example_loads_to_the_same_model(path: Path, tmp_path: Path) -> None:
    original = read_workflow_file(path).workflow
    document = WorkflowDocument.open(path)
    text = dump_yaml(document.to_data())
    copy = tmp_path / path.name
    copy.write_text(text, encoding="utf-8")
    assert read_workflow_file(copy).workflow == original


def test_undone_edit_saves_byte_identical(examples: Path) -> None:
    path = examples / "http_to_file.yaml"
    document = WorkflowDocument.open(path)
    old = document.set_input("fetch", "method", "POST")
    document.move_node("save", (10, 20))
    assert document.is_modified
    document.set_input("fetch", "method", old)
    document.move_node("save", None)
    assert not document.is_modified
    assert document.to_text() == path.read_text(encoding="utf-8")


def test_edit_save_reload_gives_the_edited_model(examples: Path) -> None:
    path = examples / "http_to_file.yaml"
    document = WorkflowDocument.open(path)
    document.set_input("fetch", "method", "POST")
    document.set_node_key("fetch", "timeout", "5s")
    document.add_node(
        "shout", {"block": "notify.log", "with": {"message": "hi"}, "position": [5, 6]}
    )
    document.add_link(Link(source="saved", target="shout"))
    text = document.to_text()
    path.write_text(text, encoding="utf-8")
    document.mark_saved(text)
    reloaded = read_workflow_file(path).workflow
    assert reloaded.nodes["fetch"].with_["method"] == "POST"
    assert reloaded.nodes["fetch"].timeout == 5.0
    assert reloaded.nodes["shout"].position == (5.0, 6.0)
    assert Link(source="saved", target="shout") in reloaded.links
    assert text.startswith("# Fetch JSON from an HTTP API"), "the header comment is kept"
    assert "# file, and take the error branch when the API stays down.\n" in text
    assert not document.is_modified


def test_json_files_stay_json(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text(
        json.dumps({"name": "j", "nodes": {"a": {"block": "notify.log"}}}), encoding="utf-8"
    )
    document = WorkflowDocument.open(path)
    assert document.to_text() == path.read_text(encoding="utf-8")
    document.set_input("a", "message", "hello")
    assert json.loads(document.to_text())["nodes"]["a"]["with"] == {"message": "hello"}


def test_new_keys_go_in_canonical_order(tmp_path: Path) -> None:
    document = WorkflowDocument.from_text("name: x\nnodes:\n  a:\n    block: notify.log\n")
    document.move_node("a", (1.4, 2.6))
    document.set_node_key("a", "title", "Say it")
    document.set_input("a", "message", "hi")
    assert list(document.nodes["a"]) == ["block", "title", "with", "position"]
    assert document.nodes["a"]["position"] == [1, 3]
    document.set_input("a", "message", UNSET)
    assert "with" not in document.nodes["a"], "an empty 'with' is removed, not written as {}"


def test_events_describe_each_change() -> None:
    document = WorkflowDocument.from_text(
        "name: x\nnodes:\n  a: {block: notify.log}\n  b: {block: notify.log}\n"
    )
    seen: list[object] = []
    document.subscribe(seen.append)
    document.set_input("a", "message", "m")
    document.add_link(Link(source="a", target="b"))
    assert seen == [NodeChanged("a", "with"), LinkAdded(Link(source="a", target="b"))]


def test_rename_updates_links_and_templates() -> None:
    document = WorkflowDocument.open(
        next(p for p in example_files() if p.name == "http_to_file.yaml")
    )
    assert document.path is not None and document.path.name == "http_to_file.yaml"
    document.rename_node("fetch", "download")
    assert "download" in document.nodes and "fetch" not in document.nodes
    assert (
        Link(source="download", source_pin="json", target="to_text", target_pin="value")
        in document.links
    )
    assert document.node_inputs("failed")["message"] == (
        "could not fetch {{ inputs.url }}: {{ nodes.download.error.message }}"
    )
    assert "nodes.download.status" in document.to_data()["outputs"]["status"]


def test_not_a_workflow_is_refused_with_a_reason() -> None:
    with pytest.raises(WorkflowInvalid, match="node 'a' must be a mapping with a 'block'"):
        WorkflowDocument.from_text("name: x\nnodes:\n  a: 3\n")
    with pytest.raises(WorkflowInvalid, match="not valid YAML"):
        WorkflowDocument.from_text("name: [x\n")


def test_model_invalid_files_still_open() -> None:
    document = WorkflowDocument.from_text(
        "name: x\nnodes:\n  a:\n    block: notify.log\n    timeout: soon\n"
    )
    assert document.nodes["a"]["timeout"] == "soon"


def test_dump_style_matches_hand_written_files() -> None:
    text = dump_yaml(
        {
            "name": "x",
            "nodes": {
                "a": {
                    "block": "http.request",
                    "with": {"url": "{{ inputs.url }}", "headers": {"Accept": "text/plain"}},
                    "retry": {"max_attempts": 3, "delay": "1s"},
                    "position": [10, 20],
                }
            },
            "links": ["a -> b"],
        }
    )
    assert '      url: "{{ inputs.url }}"\n' in text
    assert "      headers: {Accept: text/plain}\n" in text
    assert "    retry: {max_attempts: 3, delay: 1s}\n" in text
    assert "    position: [10, 20]\n" in text
    assert "links:\n  - a -> b\n" in text
    assert yaml.safe_load(text)["nodes"]["a"]["with"]["url"] == "{{ inputs.url }}"


def test_multiline_text_is_written_as_a_block() -> None:
    text = dump_yaml(
        {"name": "x", "nodes": {"a": {"block": "b.c", "with": {"text": "one\ntwo\n"}}}}
    )
    assert "text: |\n" in text
    assert yaml.safe_load(text)["nodes"]["a"]["with"]["text"] == "one\ntwo\n"


def test_leading_comments() -> None:
    assert leading_comments("# a\n# b\n\nname: x\n# not this\n") == "# a\n# b\n"
    assert leading_comments("name: x\n") == ""


def test_unique_node_ids() -> None:
    document = WorkflowDocument.from_text("name: x\nnodes:\n  write: {block: file.write}\n")
    assert document.unique_node_id("write") == "write_2"
    assert document.unique_node_id("request") == "request"
    assert document.unique_node_id("9lives") == "n_9lives"


def test_duplicate_keys_are_refused_as_the_cli_does() -> None:
    text = "name: x\nnodes:\n  a: {block: notify.log}\n  a: {block: file.read}\n"
    with pytest.raises(WorkflowInvalid, match="duplicate node id 'a'"):
        WorkflowDocument.from_text(text)


def test_fast_and_reference_parsers_agree() -> None:
    from app.editor.document import parse_text
    from automation.loader import parse_document

    for path in example_files():
        text = path.read_text(encoding="utf-8")
        assert parse_text(text) == parse_document(text)[0]


def test_yes_and_on_stay_text_as_the_engine_reads_them() -> None:
    text = "name: w\nnodes:\n  a:\n    block: notify.log\n    with: {message: yes}\n"
    document = WorkflowDocument.from_text(text)
    assert document.node_inputs("a") == {"message": "yes"}
    document.set_node_key("a", "title", "Say yes")
    saved = document.to_text()
    assert "with: {message: yes}" in saved and "true" not in saved
