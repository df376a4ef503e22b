"""Saving edited data back into a person's file changes only the lines of what changed."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation.loader import parse_workflow
from automation.model import Link
from automation.roundtrip import (
    RoundTripError,
    _update_changed_nodes,
    _update_yaml,
    apply_difference,
    update_text,
)

COMMENTED = """\
# Numbers, checked, with comments everywhere.
deskpilot: 1
name: 'numbers'   # single-quoted on purpose
inputs:
  n: {type: integer, default: 3}   # how many
nodes:
  # makes the numbers
  numbers:
    block: kit.emit
    with: { value: "{{ inputs.n }}" }
    position: [10, 20]

  # checks them
  check:
    block: control.if
    with:
      condition: "{{ nodes.numbers.value > 1 }}"   # the test
    position: [200, 20]

  # says done
  done:
    block: notify.log
    with: {message: 'all done'}
    position: [400, 20]

links:
  # numbers first
  - numbers.done -> check
  - check.yes -> done   # when true
outputs:
  total: "{{ vars.total }}"
"""


def data_of(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(lines removed, lines added) between two texts."""
    removed: list[str] = []
    added: list[str] = []
    lines_before, lines_after = before.splitlines(True), after.splitlines(True)
    matcher = difflib.SequenceMatcher(None, lines_before, lines_after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed.extend(lines_before[i1:i2])
            added.extend(lines_after[j1:j2])
    return removed, added


def test_unchanged_data_leaves_the_text_alone() -> None:
    assert update_text(COMMENTED, data_of(COMMENTED)) == COMMENTED


def test_moving_a_node_and_editing_a_field_changes_only_those_lines() -> None:
    data = data_of(COMMENTED)
    data["nodes"]["check"]["position"] = [250, 40]
    data["nodes"]["check"]["with"]["condition"] = "{{ nodes.numbers.value > 2 }}"
    data["links"] = [str(Link.model_validate(item)) for item in data["links"]]  # as editors hold
    text = update_text(COMMENTED, data)
    assert changed_lines(COMMENTED, text) == (
        [
            '      condition: "{{ nodes.numbers.value > 1 }}"   # the test\n',
            "    position: [200, 20]\n",
        ],
        [
            '      condition: "{{ nodes.numbers.value > 2 }}"   # the test\n',
            "    position: [250, 40]\n",
        ],
    )
    assert "  - numbers.done -> check\n" in text, "an untouched link keeps its spelling"
    assert text.count("#") == COMMENTED.count("#")


def test_a_deleted_node_goes_with_its_own_comments_and_one_blank_line() -> None:
    data = data_of(COMMENTED)
    del data["nodes"]["done"]
    data["links"] = ["numbers.done -> check"]
    text = update_text(COMMENTED, data)
    removed, added = changed_lines(COMMENTED, text)
    assert added == []
    assert sorted(removed) == sorted(
        [
            "\n",
            "  # says done\n",
            "  done:\n",
            "    block: notify.log\n",
            "    with: {message: 'all done'}\n",
            "    position: [400, 20]\n",
            "  - check.yes -> done   # when true\n",
        ]
    )
    assert "    position: [200, 20]\n\nlinks:\n" in text, "one blank line still separates them"


def test_a_deleted_middle_node_keeps_its_neighbours_comments() -> None:
    data = data_of(COMMENTED)
    del data["nodes"]["check"]
    data["links"] = []
    text = update_text(COMMENTED, data)
    assert "  # says done\n  done:\n" in text
    assert "# checks them" not in text and "# the test" not in text
    assert "  # numbers first\n" not in text, "a removed link's own comment goes with it"
    assert data_of(text) == data


def test_new_nodes_and_links_follow_the_file_style() -> None:
    data = data_of(COMMENTED)
    data["nodes"]["later"] = {
        "block": "notify.log",
        "with": {"message": "n is {{ inputs.n }}"},
        "position": [600, 20],
    }
    data["links"].append("done -> later")
    text = update_text(COMMENTED, data)
    removed, added = changed_lines(COMMENTED, text)
    assert removed == []
    assert sorted(added) == sorted(
        [
            "\n",
            "  later:\n",
            "    block: notify.log\n",
            "    with: {message: 'n is {{ inputs.n }}'}\n",  # quoted as the node above
            "    position: [600, 20]\n",
            "  - done -> later\n",
        ]
    )
    assert "    position: [400, 20]\n\n  later:\n" in text, "nodes stay a blank line apart"
    assert "    position: [600, 20]\n\nlinks:\n" in text, "and the section still ends with one"
    assert data_of(text) == data


def test_new_nodes_stay_close_in_a_file_without_blank_lines() -> None:
    original = "name: w\nnodes:\n  a:\n    block: x\n  b:\n    block: y\n\nlinks: []\n"
    data = data_of(original)
    data["nodes"]["c"] = {"block": "z"}
    text = update_text(original, data)
    assert (
        text
        == "name: w\nnodes:\n  a:\n    block: x\n  b:\n    block: y\n  c:\n    block: z\n\nlinks: []\n"
    )


def test_quoting_styles_survive_a_changed_value() -> None:
    data = data_of(COMMENTED)
    data["nodes"]["done"]["with"]["message"] = "finished"
    data["name"] = "numbers2"
    text = update_text(COMMENTED, data)
    assert "    with: {message: 'finished'}\n" in text
    assert "name: 'numbers2'  # single-quoted on purpose\n" in text, "the comment column holds"


def test_flow_style_nodes_and_odd_spacing_are_kept() -> None:
    original = (
        "name: flows\n"
        "nodes: {a: {block: notify.log, with: {message: hi}}, b: {block: control.pass}}\n"
        "links: [a -> b]\n"
        "vars:   {  total:   0  }   # odd spacing\n"
    )
    data = data_of(original)
    data["nodes"]["b"]["title"] = "Pass"
    text = update_text(original, data)
    assert text.splitlines()[3] == "vars:   {  total:   0  }   # odd spacing"
    assert data_of(text) == data
    assert len(text.splitlines()) == 4


def test_other_indents_and_block_lists_keep_their_shape() -> None:
    original = (
        "name: wide\n"
        "nodes:\n"
        "    a:\n"
        "        block: notify.log\n"
        "        with:\n"
        "            message: hi\n"
        "links:\n"
        "- a -> b\n"
        "nodes_note: x\n"
    )
    data = data_of(original)
    data["nodes"]["a"]["with"]["level"] = "error"
    text = update_text(original, data)
    removed, added = changed_lines(original, text)
    assert (removed, added) == ([], ["            level: error\n"])


def test_anchored_values_stay_shared_where_untouched() -> None:
    original = (
        "name: anchors\n"
        "nodes:\n"
        "  a:\n"
        "    block: notify.log\n"
        "    with: &greeting {message: hello}  # shared\n"
        "  b:\n"
        "    block: notify.log\n"
        "    with: *greeting\n"
        "  c:\n"
        "    block: notify.log\n"
        "    with: *greeting\n"
    )
    parse_workflow(original)  # the loader accepts anchors
    data = data_of(original)
    data["nodes"] = copy.deepcopy(data["nodes"])
    data["nodes"]["c"]["with"] = {"message": "bye"}
    text = update_text(original, data)
    assert data_of(text) == data
    assert "    with: *greeting\n" in text, "b still reads the anchor"
    data["nodes"]["a"]["with"] = {"message": "changed"}
    text = update_text(original, data)
    assert data_of(text) == data, "changing the anchored value does not change its aliases"


def test_crlf_line_endings_are_kept() -> None:
    original = COMMENTED.replace("\n", "\r\n")
    data = data_of(COMMENTED)
    data["nodes"]["numbers"]["position"] = [11, 21]
    text = update_text(original, data)
    assert "\n" not in text.replace("\r\n", "")
    removed, added = changed_lines(original, text)
    assert (removed, added) == (["    position: [10, 20]\r\n"], ["    position: [11, 21]\r\n"])


def test_multiline_text_is_written_as_a_block() -> None:
    data = data_of(COMMENTED)
    data["nodes"]["done"]["notes"] = "line one\nline two\n"
    text = update_text(COMMENTED, data)
    assert "    notes: |\n      line one\n      line two\n" in text
    assert data_of(text) == data


def test_json_keeps_key_order_and_indent() -> None:
    original = (
        json.dumps(
            {"nodes": {"b": {"block": "notify.log"}, "a": {"block": "control.pass"}}, "name": "j"},
            indent=4,
        )
        + "\n"
    )
    data = json.loads(original)
    data["nodes"]["a"]["position"] = [1, 2]
    text = update_text(original, data)
    assert list(json.loads(text)) == ["nodes", "name"]
    assert list(json.loads(text)["nodes"]) == ["b", "a"]
    assert '\n        "b": {\n' in text, "four spaces, as the file had"
    removed, added = changed_lines(original, text)
    assert removed == ['            "block": "control.pass"\n']
    assert added[0] == '            "block": "control.pass",\n'


def test_json_links_keep_their_spelling() -> None:
    original = json.dumps(
        {"name": "j", "nodes": {"a": {"block": "notify.log"}}, "links": ["a.done -> b"]}, indent=2
    )
    data = json.loads(original)
    data["links"] = ["a -> b", "b -> c"]
    text = update_text(original, data)
    assert json.loads(text)["links"] == ["a.done -> b", "b -> c"]


def test_one_line_json_stays_on_one_line() -> None:
    original = '{"name": "j", "nodes": {"a": {"block": "notify.log"}}}'
    data = json.loads(original)
    data["nodes"]["a"]["title"] = "A"
    assert update_text(original, data) == json.dumps(data)


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(RoundTripError):
        update_text("- a\n- b\n", {"name": "x"})


def test_apply_difference_keeps_lines_the_normalised_writing_respelled() -> None:
    original = "a:   1\nb: 2\nc:    3\n"
    before = "a: 1\nb: 2\nc: 3\n"
    after = "a: 1\nb: 5\nc: 3\n"
    assert apply_difference(original, before, after) == "a:   1\nb: 5\nc:    3\n"


EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "resources" / "examples").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_editing_one_node_alone_matches_the_whole_file_round_trip(path: Path) -> None:
    """The fast path (one node's lines through the round trip) writes what the whole-file
    path writes, and only the edited node's lines change."""
    text = path.read_text(encoding="utf-8")
    for node_id in data_of(text)["nodes"]:
        data = data_of(text)
        data["nodes"][node_id]["position"] = [123, 456]
        data["nodes"][node_id]["title"] = "Moved"
        fast = _update_changed_nodes(text, data)
        assert fast is not None, node_id
        assert fast == _update_yaml(text, data), node_id
        removed, added = changed_lines(text, fast)
        assert removed == []
        assert sorted(added) == sorted(["    title: Moved\n", "    position: [123, 456]\n"])


def test_files_with_aliases_take_the_whole_file_path() -> None:
    text = "name: a\nnodes:\n  a: {block: x, with: &w {m: 1}}\n  b: {block: x, with: *w}\n"
    data = data_of(text)
    data["nodes"]["a"]["title"] = "A"
    assert _update_changed_nodes(text, data) is None


def test_placing_unplaced_nodes_adds_one_line_each() -> None:
    original = (
        "name: w\n"
        "nodes:\n"
        "  a:\n"
        "    block: notify.log\n"
        "    notes: |\n"
        "      two\n"
        "      lines\n"
        "\n"
        "  # b's own comment\n"
        "  b:\n"
        "    block: notify.log   # trailing\n"
        "    with:\n"
        "      message: hi\n"
        "  c: {block: notify.log}\n"
        "links: []\n"
    )
    data = data_of(original)
    for index, name in enumerate(data["nodes"]):
        data["nodes"][name]["position"] = [index * 100, 0]
    text = update_text(original, data)
    assert data_of(text) == data
    removed, added = changed_lines(original, text)
    assert removed == ["  c: {block: notify.log}\n"]
    assert added == [
        "    position: [0, 0]\n",
        "    position: [100, 0]\n",
        "  c: {block: notify.log, position: [200, 0]}\n",
    ]
    assert "      lines\n    position: [0, 0]\n\n  # b's own comment\n" in text


def test_a_breakpoint_is_one_line_added_and_one_removed() -> None:
    """``break: true`` set from the editor touches its node's line alone, and is read back."""
    data = data_of(COMMENTED)
    data["nodes"]["check"] = dict(
        list(data["nodes"]["check"].items())[:2]
        + [("break", True)]
        + list(data["nodes"]["check"].items())[2:]
    )
    text = update_text(COMMENTED, data)
    removed, added = changed_lines(COMMENTED, text)
    assert (removed, added) == ([], ["    break: true\n"])
    assert parse_workflow(text).workflow.breakpoints() == ["check"]
    del data["nodes"]["check"]["break"]
    assert update_text(text, data) == COMMENTED
