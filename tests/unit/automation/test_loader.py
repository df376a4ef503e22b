"""Reading workflow files: syntax errors, duplicate keys, JSON, error locations, dumping."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from automation.budgets import BudgetExceeded, time_budget
from automation.errors import ValidationIssue, WorkflowError, WorkflowInvalid
from automation.loader import (
    LineMap,
    content_hash,
    dump_workflow,
    parse_document,
    parse_workflow,
    read_workflow_file,
)
from automation.model import (
    InputSpec,
    Link,
    Node,
    RetryPolicy,
    ScheduleTrigger,
    WebhookTrigger,
    Workflow,
)

WORKFLOWS = Path(__file__).parent / "workflows"


def issues_of(text: str, path: Path | None = None) -> list[ValidationIssue]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, path=path)
    assert caught.value.issues, "WorkflowInvalid must carry at least one issue"
    return caught.value.issues


def only_issue(text: str, path: Path | None = None) -> ValidationIssue:
    issues = issues_of(text, path)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


# -- syntax ----------------------------------------------------------------------------


def test_yaml_syntax_error_names_the_line() -> None:
    text = "name: w\nnodes:\n  a:\n    block: kit.emit\n   with: {value: 1}\n"
    issue = only_issue(text, Path("flow.yaml"))
    assert issue.message.startswith("not valid YAML/JSON:")
    assert issue.line == 5
    assert issue.file == "flow.yaml"
    assert issue.hint and "indentation" in issue.hint
    assert str(issue).startswith("flow.yaml:5:4: not valid YAML/JSON")


def test_unclosed_quote_names_a_line() -> None:
    issue = only_issue('name: w\nnodes:\n  a: {block: "kit.emit}\n')
    assert issue.line is not None and issue.line >= 3


def test_two_documents_in_one_file_are_refused() -> None:
    issue = only_issue("name: w\n---\nname: x\n")
    assert "another document" in issue.message
    assert issue.line == 2


# -- duplicate keys --------------------------------------------------------------------


def test_duplicate_node_id_is_reported_on_its_line() -> None:
    text = (
        "name: w\n"
        "nodes:\n"
        "  fetch:\n"
        "    block: kit.emit\n"
        "  save:\n"
        "    block: kit.emit\n"
        "  fetch:\n"
        "    block: kit.text\n"
    )
    issue = only_issue(text, Path("dup.yaml"))
    assert issue.message == "duplicate node id 'fetch'"
    assert (issue.node, issue.line, issue.file) == ("fetch", 7, "dup.yaml")
    assert issue.hint and "rename" in issue.hint


def test_duplicate_key_elsewhere_names_its_path() -> None:
    text = "name: w\nnodes:\n  a:\n    block: kit.emit\n    with:\n      value: 1\n      value: 2\n"
    issue = only_issue(text)
    assert issue.message == "key 'value' appears twice"
    assert issue.field == "nodes.a.with.value"
    assert issue.line == 7


def test_every_duplicate_is_reported() -> None:
    text = "name: w\nname: v\nnodes:\n  a: {block: kit.emit}\n  a: {block: kit.emit}\n"
    issues = issues_of(text)
    assert [(i.line, i.message) for i in issues] == [
        (2, "key 'name' appears twice"),
        (5, "duplicate node id 'a'"),
    ]


def test_duplicate_keys_in_json_are_reported_too() -> None:
    text = '{\n  "name": "w",\n  "nodes": {"a": {"block": "kit.emit"}},\n  "name": "v"\n}\n'
    issue = only_issue(text)
    assert issue.message == "key 'name' appears twice"
    assert issue.line == 4


# -- JSON ------------------------------------------------------------------------------


def test_json_is_accepted() -> None:
    loaded = read_workflow_file(WORKFLOWS / "minimal.json")
    assert loaded.workflow.name == "minimal_json"
    # JSON numbers follow JSON, not YAML 1.1 (where 1e3 would be a string)
    assert loaded.workflow.nodes["only"].with_ == {"value": 1000.0}
    assert loaded.lines.line_of(("nodes", "only")) == 5


def test_json_syntax_error_names_the_line() -> None:
    text = '{\n  "name": "w",\n  "nodes": {}\n  "links": []\n}\n'
    issue = only_issue(text)
    assert issue.line == 4
    assert "YAML/JSON" in issue.message or "JSON" in issue.message


def test_json_indented_with_tabs_is_accepted() -> None:
    text = '{\n\t"name": "w",\n\t"nodes": {"a": {"block": "kit.emit"}}\n}\n'
    assert parse_workflow(text).workflow.name == "w"


def test_yaml_flow_mapping_is_accepted() -> None:
    assert parse_workflow("{name: w, nodes: {a: {block: kit.emit}}}").workflow.name == "w"


# -- not a mapping -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "42\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_is_explained(text: str) -> None:
    issue = only_issue(text)
    assert "must be a mapping" in issue.message
    assert issue.line == 1
    assert issue.hint == "start the file with 'name: my-workflow'"


# -- model errors, located ---------------------------------------------------------------


def test_bad_timeout_names_node_field_and_line() -> None:
    text = (
        "name: w\n"  # 1
        "nodes:\n"  # 2
        "  start:\n"  # 3
        "    block: kit.emit\n"  # 4
        "  fetch:\n"  # 5
        "    block: kit.emit\n"  # 6
        "    timeout: 5 parsecs\n"  # 7
    )
    issue = only_issue(text, Path("report.yaml"))
    assert (issue.node, issue.field, issue.line) == ("fetch", "timeout", 7)
    assert "'5 parsecs' is not a duration" in issue.message
    assert not issue.message.startswith("Value error")
    assert str(issue).startswith("report.yaml:7:5: fetch.timeout: '5 parsecs' is not a duration")


def test_retry_multiplier_error_is_located_in_its_node() -> None:
    text = "name: w\nnodes:\n  fetch:\n    block: kit.emit\n    retry:\n      multiplier: 0.5\n"
    issue = only_issue(text)
    assert (issue.node, issue.field, issue.line) == ("fetch", "retry.multiplier", 6)
    assert issue.message == "backoff multiplier must be at least 1, got 0.5"


def test_unknown_field_gets_its_name_and_a_hint() -> None:
    text = "name: w\nnodes:\n  a:\n    block: kit.emit\n    colour: red\n"
    issue = only_issue(text)
    assert issue.message == "unknown field 'colour'"
    assert (issue.node, issue.field, issue.line) == ("a", "colour", 5)
    assert issue.hint == "remove it, or check its spelling"


def test_missing_block_is_located() -> None:
    issue = only_issue("name: w\nnodes:\n  a:\n    title: no block\n")
    assert (issue.node, issue.field, issue.line) == ("a", "block", 3)
    assert issue.hint == "add this field"


def test_bad_trigger_is_located_at_its_item() -> None:
    text = (
        "name: w\n"
        "nodes: {a: {block: kit.emit}}\n"
        "triggers:\n"
        "  - type: schedule\n"
        "    interval: 5m\n"
        "  - type: schedule\n"  # 6
        "    cron: '61 * * * *'\n"
    )
    issue = only_issue(text)
    assert issue.field == "triggers.1"
    assert issue.line == 6
    assert "cron '61 * * * *' is invalid" in issue.message


def test_trigger_without_type_gets_a_hint() -> None:
    text = "name: w\nnodes: {a: {block: kit.emit}}\ntriggers:\n  - cron: '0 9 * * *'\n"
    issue = only_issue(text)
    assert issue.hint == "add 'type: schedule' (or file, webhook, after, hotkey)"
    assert issue.line == 4


def test_trigger_field_errors_drop_the_union_tag_from_the_field() -> None:
    text = "name: w\nnodes: {a: {block: kit.emit}}\ntriggers:\n  - type: file\n    path: 3\n"
    issue = only_issue(text)
    assert issue.field == "triggers.0.path"
    assert issue.line == 5


def test_every_model_error_is_reported_at_once() -> None:
    text = (
        "name: w\n"
        "colour: red\n"  # 2
        "inputs:\n"
        "  n: {type: integer, default: x}\n"  # 4
        "nodes:\n"
        "  a:\n"
        "    block: kit.emit\n"
        "    timeout: soon\n"  # 8
        "links:\n"
        "  - a => b\n"  # 10
        "triggers:\n"
        "  - {type: schedule}\n"  # 12
    )
    issues = issues_of(text)
    assert len(issues) == 5, [str(i) for i in issues]
    assert sorted(i.line for i in issues if i.line is not None) == [2, 4, 8, 10, 12]
    assert all(issue.message for issue in issues)


def test_bad_node_name_is_reported_with_other_node_errors() -> None:
    text = "name: w\nnodes:\n  a: {block: kit.emit, timeout: soon}\n  bad-name: {block: kit.emit}\n"
    messages = [issue.message for issue in issues_of(text)]
    assert any("'bad-name' is not a valid name" in m for m in messages), messages


def test_a_node_named_like_a_yaml_1_1_boolean_keeps_its_name() -> None:
    # YAML 1.2 booleans only: 'on', 'off', 'yes', 'no' are plain words
    loaded = parse_workflow(
        "name: w\nnodes:\n  on:\n    block: kit.emit\n  no:\n    block: kit.emit\n"
    )
    assert list(loaded.workflow.nodes) == ["on", "no"]
    assert parse_workflow("name: w\nvars: {flag: true, word: yes}\n").workflow.vars == {
        "flag": True,
        "word": "yes",
    }


# -- YAML features that must not crash the loader ----------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        "vars: {x: !!python/name:os.system ''}\n",
        "vars: {x: !custom tag}\n",
        "? [x, y]\n: 1\n",
        "vars: {x: =}\n",
        "vars: {<<: 1}\n",
        "vars: {d: 2024-02-30}\n",
    ],
)
def test_unconstructible_yaml_is_a_workflow_error(extra: str) -> None:
    with pytest.raises(WorkflowInvalid):
        parse_workflow("name: w\nnodes: {a: {block: kit.emit}}\n" + extra)


@pytest.mark.parametrize("value", ["&a [*a]", "&a {k: *a}", "&a [1, {k: [*a]}]"])
def test_recursive_alias_is_a_workflow_error(value: str) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(f"name: w\nnodes: {{a: {{block: kit.emit}}}}\nvars:\n  x: {value}\n")
    (issue,) = caught.value.issues
    assert "refers to itself" in issue.message
    assert issue.line == 4


def _alias_tower(levels: int) -> str:
    """Lists of 8 aliases of the level below: 8**(levels+1) leaves once expanded."""
    lines = [
        "name: w",
        "nodes: {a: {block: kit.emit}}",
        "vars:",
        "  l0: &l0 [x, x, x, x, x, x, x, x]",
    ]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * 8)
        lines.append(f"  l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_reused_anchors_do_not_multiply_the_work() -> None:
    _, line_map = parse_document(_alias_tower(4))  # 8**5 (32,768) leaves once expanded
    assert len(line_map.lines) < 200
    assert line_map.line_of(("vars", "l4")) == 8


def test_billion_laughs_is_refused_quickly_with_the_reason() -> None:
    """8**10 leaves from a 1 KB file: counted, not expanded, and refused at once."""
    started = time.monotonic()
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(_alias_tower(9), path=Path("laughs.yaml"))
    assert time.monotonic() - started < 1.0
    (issue,) = caught.value.issues
    assert "more than 200,000 values once its YAML aliases are expanded" in issue.message
    assert issue.file == "laughs.yaml" and issue.line is not None
    assert "alias" in (issue.hint or "")


def test_a_file_over_the_size_budget_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: w\nnodes: {a: {block: kit.emit}}\n# " + "x" * (3 * 1024 * 1024) + "\n")
    with pytest.raises(WorkflowInvalid, match="larger than 2 MiB"):
        read_workflow_file(path)
    with pytest.raises(WorkflowInvalid, match="larger than 2 MiB"):
        parse_workflow(path.read_text())


@pytest.mark.parametrize(
    "text",
    [
        "name: w\nnodes: {a: {block: kit.emit}}\nvars: {x: " + "[" * 100 + "]" * 100 + "}\n",
        '{"name": "w", "nodes": {}, "vars": {"x": ' + "[" * 100 + "]" * 100 + "}}",
    ],
    ids=["yaml", "json"],
)
def test_nesting_past_the_depth_budget_names_the_limit(text: str) -> None:
    with pytest.raises(WorkflowInvalid, match="nests more than 64 levels deep"):
        parse_workflow(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "w", "nodes": {}, "vars": {"x": ' + "9" * 5000 + "}}",
        "name: w\nnodes: {}\nvars: {x: " + "9" * 5000 + "}\n",
    ],
    ids=["json", "yaml"],
)
def test_an_integer_past_the_digit_limit_is_an_issue_not_a_traceback(text: str) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text)
    (issue,) = caught.value.issues
    assert "too long to read (5000 digits)" in issue.message
    assert "at most 4300 digits" in issue.message


def test_a_time_budget_stops_loading_with_a_workflow_error() -> None:
    with time_budget(0.0), pytest.raises(BudgetExceeded, match="budget of 0 s"):
        parse_workflow(_alias_tower(2))


@pytest.mark.parametrize(
    "text",
    [
        "name: w\nnodes: {a: {block: kit.emit}}\nvars: {x: " + "[" * 1200 + "]" * 1200 + "}\n",
        '{"name": "w", "nodes": {}, "vars": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}",
    ],
    ids=["yaml", "json"],
)
def test_deeply_nested_document_is_a_workflow_error(text: str) -> None:
    with pytest.raises(WorkflowInvalid):
        parse_workflow(text)


def test_anchors_and_aliases_work() -> None:
    text = (
        "name: w\n"
        "nodes:\n"
        "  a: {block: kit.emit, retry: &policy {max_attempts: 4, delay: 1s}}\n"
        "  b: {block: kit.emit, retry: *policy}\n"
    )
    workflow = parse_workflow(text).workflow
    assert workflow.nodes["a"].retry == workflow.nodes["b"].retry
    assert workflow.node_retry("b").max_attempts == 4


# -- files -----------------------------------------------------------------------------


def test_read_file_records_path_text_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    text = "name: w\nnodes: {a: {block: kit.emit}}\n"
    path.write_text(text)
    loaded = read_workflow_file(path)
    assert loaded.path == path
    assert loaded.directory == tmp_path
    assert loaded.text == text
    assert loaded.content_hash == hashlib.sha256(text.encode()).hexdigest() == content_hash(text)


def test_issues_carry_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: w\nnodes:\n  a: {block: kit.emit, timeout: never}\n")
    with pytest.raises(WorkflowInvalid) as caught:
        read_workflow_file(path)
    assert caught.value.issues[0].file == str(path)
    assert str(path) + ":3" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:3:24: a.timeout: 'never' is not a duration")


def test_unreadable_files_get_plain_messages(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="no such workflow file"):
        read_workflow_file(tmp_path / "missing.yaml")
    with pytest.raises(WorkflowError, match="is a folder"):
        read_workflow_file(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(WorkflowError, match="not UTF-8"):
        read_workflow_file(latin)


def test_line_map_falls_back_to_the_longest_known_prefix() -> None:
    _, lines = parse_document("name: w\nnodes:\n  a:\n    block: kit.emit\n")
    assert lines.line_of(("nodes", "a", "block")) == 4
    assert lines.line_of(("nodes", "a", "with", "missing")) == 3
    assert lines.line_of(("nowhere",)) == 1
    assert LineMap().line_of(("x",)) is None


# -- dumping ---------------------------------------------------------------------------


ROUND_TRIP = """\
deskpilot: 1
name: round_trip
description: dumped and read back
inputs:
  url: {type: string, default: "http://127.0.0.1/x", description: where}
  count: 3
  flag: {type: boolean, required: true}
vars: {total: 0, names: [a, b]}
defaults: {retry: {max_attempts: 2, delay: 250ms}, timeout: 1m}
limits: {max_duration: 2h, max_steps: 100}
nodes:
  start: {block: kit.emit, with: {value: "{{ inputs.url }}"}, position: [1, 2]}
  loop: {block: control.for_each, with: {items: [1, 2]}, retry: 3, timeout: 1m30s}
  body: {block: kit.set_var, with: {name: total, value: 1}, title: Body, notes: "multi\\nline"}
  check: {block: control.if, with: {condition: true}, disabled: true}
links:
  - start -> loop
  - loop.item -> body
  - loop.done -> check.value
  - check.yes -> body.value
  - body.error -> check
outputs: {total: "{{ vars.total }}", fixed: [1, {a: 2}]}
"""


def test_dump_then_parse_gives_an_equal_model() -> None:
    original = parse_workflow(ROUND_TRIP).workflow
    text = dump_workflow(original)
    again = parse_workflow(text).workflow
    assert again == original
    assert dump_workflow(again) == text  # canonical: dumping is stable


def test_dump_is_canonical_yaml() -> None:
    text = dump_workflow(parse_workflow(ROUND_TRIP).workflow)
    lines = text.splitlines()
    assert lines[:2] == ["deskpilot: 1", "name: round_trip"]
    assert "- loop.item -> body" in lines
    assert "- check.yes -> body.value" in lines
    assert "  loop:" in lines and "    timeout: 90s" in lines
    assert "with_" not in text and "    with:" in lines


def test_dump_of_a_json_workflow_is_yaml() -> None:
    original = read_workflow_file(WORKFLOWS / "minimal.json").workflow
    text = dump_workflow(original)
    assert not text.lstrip().startswith("{")
    assert parse_workflow(text).workflow == original
    assert json.loads(json.dumps(original.model_dump(mode="json")))["name"] == "minimal_json"


def test_dump_keeps_trigger_types() -> None:
    workflow = parse_workflow(
        "name: w\nnodes: {a: {block: kit.emit}}\ntriggers:\n  - {type: schedule, cron: '0 9 * * *'}\n"
    ).workflow
    assert parse_workflow(dump_workflow(workflow)).workflow == workflow


def test_dump_keeps_untyped_inputs() -> None:
    workflow = parse_workflow(
        "name: w\ninputs:\n  x: {type: any, description: anything}\n  y: {type: any}\n"
        "nodes: {a: {block: kit.emit}}\n"
    ).workflow
    again = parse_workflow(dump_workflow(workflow)).workflow
    assert again.inputs == workflow.inputs


def test_dump_keeps_the_type_of_triggers_built_in_code() -> None:
    workflow = Workflow(
        name="w",
        nodes={"a": Node(block="kit.emit")},
        triggers=[ScheduleTrigger(cron="0 9 * * *"), WebhookTrigger(name="hook", secret="s")],
    )
    assert parse_workflow(dump_workflow(workflow)).workflow == workflow


def test_dump_of_a_workflow_built_in_code_reloads() -> None:
    workflow = Workflow(
        name="w",
        inputs={"n": InputSpec(type="integer", default=2)},
        nodes={
            "a": Node(block="kit.emit", retry=RetryPolicy(max_attempts=3), timeout=5.0),
            "b": Node(block="kit.emit", with_={"value": "{{ inputs.n }}"}),
        },
        links=[Link(source="a", target="b", target_pin="value")],
    )
    again = parse_workflow(dump_workflow(workflow)).workflow
    assert again == workflow


def test_full_fixture_model_round_trips_apart_from_triggers() -> None:
    original = read_workflow_file(WORKFLOWS / "full.yaml").workflow
    without_triggers = original.model_copy(update={"triggers": []})
    again = parse_workflow(dump_workflow(without_triggers)).workflow
    assert again == without_triggers
    assert isinstance(again, Workflow)


def test_json_with_an_escaped_character_beyond_the_bmp_loads() -> None:
    """json.dumps writes U+10000 as a surrogate pair escape, which YAML cannot read."""
    text = json.dumps({"name": "astral \U00010000", "nodes": {"a": {"block": "kit.emit"}}})
    assert "\\ud800" in text
    assert parse_workflow(text).workflow.name == "astral \U00010000"
    deep = json.dumps({"name": "\U00010000", "nodes": {}, "vars": {"x": [[[[[[[[1]]]]]]]]}})
    assert parse_workflow(deep).workflow.vars
    nested: Any = 1
    for _ in range(80):
        nested = [nested]
    with pytest.raises(WorkflowInvalid, match="nests more than 64"):
        parse_workflow(json.dumps({"name": "\U00010000", "nodes": {}, "vars": {"x": nested}}))
