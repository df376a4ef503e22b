"""Graph validation: every check, located by file, line, node and field, all at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from automation.errors import ValidationIssue, WorkflowInvalid
from automation.loader import LoadedWorkflow, parse_workflow
from automation.validation import load_valid, referenced_secrets, types_compatible, validate
from tests.unit.automation.blockkit import Harness

WORKFLOWS = Path(__file__).parent / "workflows"
EXAMPLES = Path(__file__).resolve().parents[3] / "resources" / "examples"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def check(h: Harness, text: str, **options: object) -> list[ValidationIssue]:
    loaded = h.load(text)
    return validate(loaded, h.registry, **options)  # type: ignore[arg-type]


def one(h: Harness, text: str, **options: object) -> ValidationIssue:
    issues = check(h, text, **options)
    assert len(issues) == 1, [str(i) for i in issues]
    issue = issues[0]
    assert issue.file == str(h.tmp_path / "flow.yaml")
    assert issue.message
    return issue


# -- blocks and inputs -----------------------------------------------------------------


def test_unknown_block_suggests_the_closest(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  a:\n    block: kit.emitt\n")
    assert issue.message == "unknown block 'kit.emitt'"
    assert (issue.node, issue.field, issue.line) == ("a", "block", 4)
    assert issue.hint is not None
    assert "did you mean 'kit.emit'" in issue.hint
    assert "deskpilot blocks list" in issue.hint


def test_unknown_block_without_a_close_match_still_helps(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  a: {block: zzz.qqq}\n")
    assert issue.hint is not None and "did you mean" not in issue.hint
    assert "deskpilot blocks list" in issue.hint


def test_unknown_block_is_not_also_reported_on_its_links(h: Harness) -> None:
    issues = check(
        h, "name: w\nnodes:\n  a: {block: kit.nope}\n  b: {block: kit.emit}\nlinks: [a.x -> b.y]\n"
    )
    # the link's pins are not checked at all while one end's block is unknown
    assert [i.message for i in issues] == ["unknown block 'kit.nope'"]


def test_unknown_input_suggests_the_closest(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  a:\n    block: kit.emit\n    with:\n      valeu: 1\n")
    assert issue.message == "block kit.emit has no input 'valeu'"
    assert (issue.node, issue.field, issue.line) == ("a", "valeu", 6)
    assert issue.hint is not None and "did you mean 'value'?" in issue.hint


def test_missing_required_input(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  say:\n    block: kit.text\n")
    assert issue.message == "required input 'text' of kit.text has no value"
    assert (issue.node, issue.field, issue.line) == ("say", "text", 3)
    assert issue.hint is not None and "say.text" in issue.hint


def test_required_input_may_come_from_a_link(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit, with: {value: hi}}\n  say: {block: kit.text}\n"
        "links: [a.value -> say.text]\n"
    )
    assert check(h, text) == []


@pytest.mark.parametrize(
    ("block", "field", "value", "expected"),
    [
        ("kit.int_source", "value", "'abc'", "must be a whole number, not 'abc'"),
        ("kit.int_source", "value", "[1]", "must be a whole number, not a list"),
        ("kit.text", "text", "{a: 1}", "must be text, not a mapping"),
        ("kit.number", "amount", "'lots'", "must be a number, not 'lots'"),
    ],
)
def test_wrong_literal_type(h: Harness, block: str, field: str, value: str, expected: str) -> None:
    issue = one(
        h, f"name: w\nnodes:\n  a:\n    block: {block}\n    with:\n      {field}: {value}\n"
    )
    assert issue.message == f"wrong type for input '{field}': {expected}"
    assert (issue.node, issue.field, issue.line, issue.column) == ("a", field, 6, 7)
    assert issue.hint and issue.hint.startswith("write ")
    assert "Input should" not in str(issue)


def test_templated_values_are_not_type_checked_before_the_run(h: Harness) -> None:
    text = (
        "name: w\ninputs: {n: 3}\nnodes:\n"
        "  a: {block: kit.int_source, with: {value: '{{ inputs.n }}'}}\n"
    )
    assert check(h, text) == []


# -- links ---------------------------------------------------------------------------


TYPED = """\
name: w
nodes:
  src: {block: kit.int_source}
  text: {block: kit.text}
  num: {block: kit.number}
links:
  - {link}
"""


def test_type_mismatch_across_a_link(h: Harness) -> None:
    text = TYPED.replace("{link}", "src.number -> text.text") + "  - src.number -> num.amount\n"
    issue = one(h, text)
    assert issue.message == "link 'src.number -> text.text' joins integer output to string input"
    assert (issue.node, issue.field, issue.line) == ("text", "text", 7)
    assert issue.hint is not None and "convert" in issue.hint


def test_integer_output_fits_a_number_input(h: Harness) -> None:
    text = TYPED.replace("{link}", "src.number -> num.amount") + "  - src -> text\n"
    issues = check(h, text)
    assert [i.message for i in issues] == ["required input 'text' of kit.text has no value"]


def test_done_pin_carries_a_boolean(h: Harness) -> None:
    issues = check(
        h, TYPED.replace("{link}", "src -> text.text") + "  - src.number -> num.amount\n"
    )
    assert [i.message for i in issues] == [
        "link 'src -> text.text' joins boolean output to string input"
    ]


def test_untyped_pins_fit_anything(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  t: {block: kit.text}\n  n: {block: kit.number}\n"
        "links: [a.value -> t.text, a.value -> n.amount, a.error -> t.text]\n"
    )
    issues = check(h, text)
    assert [i.message for i in issues] == [
        "link 'a.error -> t.text' joins object output to string input"
    ]


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        (frozenset({"integer"}), frozenset({"number"}), True),
        (frozenset({"number"}), frozenset({"integer"}), False),
        (frozenset({"string"}), frozenset({"string", "null"}), True),
        (None, frozenset({"string"}), True),
        (frozenset({"array"}), None, True),
        (frozenset({"boolean"}), frozenset({"string"}), False),
    ],
)
def test_types_compatible(
    source: frozenset[str] | None, target: frozenset[str] | None, ok: bool
) -> None:
    assert types_compatible(source, target) is ok


def test_dangling_links_name_the_unknown_nodes(h: Harness) -> None:
    text = "name: w\nnodes:\n  a: {block: kit.emit}\nlinks:\n  - a -> ghost\n  - phantom.value -> a.value\n"
    issues = check(h, text)
    assert [(i.message, i.node, i.line) for i in issues] == [
        ("link 'a -> ghost' has unknown target node 'ghost'", "ghost", 5),
        ("link 'phantom.value -> a.value' has unknown source node 'phantom'", "phantom", 6),
    ]
    assert all(i.hint == "nodes: a" for i in issues)


def test_unknown_pins_on_both_ends(h: Harness) -> None:
    text = "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit}\nlinks:\n  - a.nope -> b.nada\n"
    issues = check(h, text)
    assert [(i.message, i.node, i.field, i.line) for i in issues] == [
        ("block kit.emit has no output 'nope'", "a", "links[0]", 6),
        ("block kit.emit has no input 'nada'", "b", "links[0]", 6),
    ]
    assert issues[0].hint == "outputs of kit.emit: done, error, value"
    assert issues[1].hint == "inputs of kit.emit: trigger, value"


def test_implicit_pins_are_always_there(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit}\n  c: {block: kit.emit}\n"
        "links: [a.done -> b.trigger, a.error -> c.value, b -> c]\n"
    )
    assert check(h, text) == []


def test_input_both_linked_and_set(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit, with: {value: 1}}\n"
        "links:\n  - a.value -> b.value\n"
    )
    issue = one(h, text)
    assert issue.message == "input 'value' of node 'b' is both linked and set in 'with'"
    assert (issue.node, issue.field, issue.line) == ("b", "value", 6)


# -- cycles --------------------------------------------------------------------------


def test_cycle_without_a_loop_block(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit}\n  c: {block: kit.emit}\n"
        "links:\n  - a -> b\n  - b -> c\n  - c -> a\n"
    )
    issue = one(h, text)
    assert issue.message == "nodes a -> b -> c form a cycle"
    assert issue.node == "a" and issue.line == 6
    assert issue.hint is not None and "control.while" in issue.hint


def test_a_node_linked_to_itself_is_a_cycle(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  a: {block: kit.emit}\nlinks: [a.value -> a]\n")
    assert issue.message == "nodes a form a cycle"


def test_two_separate_cycles_are_both_reported(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit}\n"
        "  c: {block: kit.emit}\n  d: {block: kit.emit}\n"
        "links: [a -> b, b -> a, c -> d, d -> c]\n"
    )
    assert sorted(i.message for i in check(h, text)) == [
        "nodes a -> b form a cycle",
        "nodes c -> d form a cycle",
    ]


@pytest.mark.parametrize(
    "loop",
    [
        "{block: control.while, with: {condition: '{{ vars.i < 3 }}', limit: 5}}",
        "{block: control.for_each, with: {items: [1, 2]}}",
    ],
)
def test_a_cycle_through_a_loop_block_is_accepted(h: Harness, loop: str) -> None:
    text = (
        f"name: w\nvars: {{i: 0}}\nnodes:\n  start: {{block: kit.emit}}\n  loop: {loop}\n"
        "  body: {block: kit.emit}\n"
        "links: [start -> loop, loop -> body, body -> loop]\n"
    )
    assert check(h, text) == []


def test_disabled_nodes_leave_the_graph(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit, disabled: true}\n"
        "links: [a -> b, b -> a]\n"
    )
    assert check(h, text) == []


# -- templates -----------------------------------------------------------------------


def test_template_syntax_error(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  a:\n    block: kit.emit\n    with: {value: '{{ oops'}\n")
    assert issue.message.startswith("template syntax error:")
    assert (issue.node, issue.field, issue.line) == ("a", "value", 5)
    assert issue.hint is not None


def test_template_unknown_root_name(h: Harness) -> None:
    issue = one(h, "name: w\nnodes:\n  a: {block: kit.emit, with: {value: '{{ fetch.body }}'}}\n")
    assert issue.message == "template uses unknown name 'fetch'"
    assert issue.hint is not None and "nodes.fetch" in issue.hint


def test_template_reads_an_undeclared_input(h: Harness) -> None:
    text = "name: w\ninputs: {url: x}\nnodes:\n  a: {block: kit.emit, with: {value: '{{ inputs.uri }}'}}\n"
    issue = one(h, text)
    assert issue.message == "template reads undeclared input 'uri'"
    assert issue.hint is not None and "declared: url" in issue.hint


def test_template_inside_nested_values_is_checked(h: Harness) -> None:
    text = "name: w\nnodes:\n  a:\n    block: kit.emit\n    with:\n      value: {list: [1, '{{ inputs.nope }}']}\n"
    issue = one(h, text)
    assert issue.message == "template reads undeclared input 'nope'"
    assert issue.line == 6


def test_template_reading_a_node_that_is_not_upstream(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n"
        "  first: {block: kit.emit, with: {value: '{{ nodes.second.value }}'}}\n"
        "  second: {block: kit.emit}\n"
        "  third: {block: kit.emit, with: {value: '{{ nodes.first.value }}'}}\n"
        "links: [first -> third]\n"
    )
    issue = one(h, text)
    assert issue.message == "template reads node 'second', which is not upstream of 'first'"
    assert issue.hint == "add a link such as 'second -> first' so it runs first"


def test_template_reading_an_unknown_node(h: Harness) -> None:
    issue = one(
        h, "name: w\nnodes:\n  a: {block: kit.emit, with: {value: \"{{ nodes['zz'].x }}\"}}\n"
    )
    assert issue.message == "template reads unknown node 'zz'"


def test_upstream_means_any_ancestor(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a: {block: kit.emit}\n  b: {block: kit.emit}\n"
        "  c: {block: kit.emit, with: {value: '{{ nodes.a.value }}'}}\n"
        "links: [a -> b, b.error -> c]\n"
    )
    assert check(h, text) == []


def test_unknown_secret(h: Harness) -> None:
    text = (
        "name: w\nnodes:\n  a:\n    block: kit.emit\n"
        "    with: {value: \"{{ secrets.token }}/{{ secrets['api_key'] }}\"}\n"
    )
    issue = one(h, text, secret_names={"token"})
    assert issue.message == "unknown secret 'api_key'"
    assert issue.hint == "add it with: deskpilot secrets set api_key"
    assert check(h, text, secret_names={"token", "api_key"}) == []
    assert check(h, text) == []  # no keyring given: not checked


def test_referenced_secrets(h: Harness) -> None:
    text = (
        "name: w\ninputs: {x: 1}\nnodes:\n  a: {block: kit.emit, with: {value: '{{ secrets.one }}'}}\n"
        "outputs: {o: \"{{ secrets['two'] }}\"}\n"
        "triggers: [{type: schedule, interval: 1h, inputs: {x: '{{ secrets.three }}'}}]\n"
    )
    assert referenced_secrets(h.load(text).workflow) == {"one", "two", "three"}


def test_output_templates_are_checked(h: Harness) -> None:
    issue = one(h, "name: w\nnodes: {a: {block: kit.emit}}\noutputs:\n  x: '{{ inputs.nope }}'\n")
    assert issue.field == "outputs.x" and issue.node is None and issue.line == 4


def test_while_condition_is_checked_as_a_template(h: Harness) -> None:
    text = "name: w\nnodes:\n  loop: {block: control.while, with: {condition: '{{ inputs.nope }}', limit: 3}}\n"
    assert one(h, text).message == "template reads undeclared input 'nope'"


def test_while_condition_without_braces_is_checked_too(h: Harness) -> None:
    text = "name: w\nnodes:\n  loop: {block: control.while, with: {condition: 'inputs.nope < 3', limit: 3}}\n"
    assert one(h, text).message == "template reads undeclared input 'nope'"


# -- subflows and triggers -----------------------------------------------------------


def test_missing_subflow_file(h: Harness) -> None:
    text = "name: w\nnodes:\n  sub:\n    block: control.subflow\n    with: {path: child.yaml}\n"
    issue = one(h, text)
    assert issue.message.startswith("subflow file 'child.yaml' does not exist")
    assert (issue.node, issue.field, issue.line) == ("sub", "path", 5)
    h.write("name: child\nnodes: {a: {block: kit.emit}}\n", "child.yaml")
    assert check(h, text) == []


def test_templated_subflow_path_is_checked_at_run_time(h: Harness) -> None:
    text = (
        "name: w\ninputs: {which: x.yaml}\nnodes:\n"
        "  sub: {block: control.subflow, with: {path: '{{ inputs.which }}'}}\n"
    )
    assert check(h, text) == []


def test_trigger_inputs_must_be_declared(h: Harness) -> None:
    text = (
        "name: w\ninputs: {count: 1}\nnodes: {a: {block: kit.emit}}\ntriggers:\n"
        "  - type: schedule\n    interval: 1h\n    inputs:\n      count: 2\n      colour: red\n"
    )
    issue = one(h, text)
    assert issue.message == "trigger sets unknown input 'colour'"
    assert issue.field == "triggers[0].inputs.colour"
    assert issue.line == 9
    assert issue.hint is not None and "inputs: count" in issue.hint


def test_a_workflow_without_nodes(h: Harness) -> None:
    issue = one(h, "name: w\nnodes: {}\n")
    assert issue.message == "the workflow has no nodes"


# -- all at once ---------------------------------------------------------------------


FIVE_PROBLEMS = """\
name: five
inputs:
  url: http://x
nodes:
  fetch:
    block: kit.emitt
  say:
    block: kit.text
  show:
    block: kit.emit
    with:
      value: "{{ inputs.uri }}"
  loop_a: {block: kit.emit}
  loop_b: {block: kit.emit}
links:
  - show -> ghost
  - loop_a -> loop_b
  - loop_b -> loop_a
"""


def test_every_problem_is_reported_at_once(h: Harness) -> None:
    issues = check(h, FIVE_PROBLEMS)
    found = {i.message: i for i in issues}
    assert set(found) == {
        "unknown block 'kit.emitt'",
        "required input 'text' of kit.text has no value",
        "template reads undeclared input 'uri'",
        "link 'show -> ghost' has unknown target node 'ghost'",
        "nodes loop_a -> loop_b form a cycle",
    }
    assert len(issues) == 5
    for issue in issues:
        assert issue.file == str(h.tmp_path / "flow.yaml")
        assert issue.line is not None
        assert issue.node is not None
        assert issue.hint
    assert found["unknown block 'kit.emitt'"].line == 6
    assert found["template reads undeclared input 'uri'"].line == 12
    assert found["link 'show -> ghost' has unknown target node 'ghost'"].line == 16


def test_load_valid_raises_every_issue(h: Harness) -> None:
    path = h.write(FIVE_PROBLEMS)
    with pytest.raises(WorkflowInvalid) as caught:
        load_valid(path, h.registry)
    assert len(caught.value.issues) == 5
    assert str(caught.value).startswith("5 problems found:")
    assert f"\n{path}:6:5: fetch.block: unknown block 'kit.emitt'" in str(caught.value)


def test_load_valid_returns_a_good_workflow(h: Harness) -> None:
    path = h.write("name: good\nnodes: {a: {block: kit.emit}}\n")
    assert load_valid(path, h.registry).workflow.name == "good"


def test_without_a_file_issues_have_no_file(h: Harness) -> None:
    loaded = parse_workflow("name: w\nnodes:\n  a: {block: kit.nope}\n")
    issues = validate(loaded, h.registry)
    assert [(i.file, i.line) for i in issues] == [(None, 3)]
    assert str(issues[0]).startswith("<workflow>:3:7: a.block: unknown block 'kit.nope'")


def test_the_full_fixture_is_valid(h: Harness) -> None:
    loaded: LoadedWorkflow = load_valid(WORKFLOWS / "full.yaml", h.registry)
    assert loaded.workflow.name == "full_example"


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_shipped_examples_are_valid_with_the_builtin_blocks(path: Path) -> None:
    registry = BlockRegistry.with_builtins(plugins=False)
    assert validate(load_valid(path, registry), registry) == []


# -- templates that change a type (warnings) ------------------------------------------------

TYPES = """\
name: w
inputs:
  n: {type: integer, default: 3}
  word: {type: string, default: hi}
  loose: 7
  anything: {type: any}
nodes:
  src: {block: kit.int_source}
  a:
    block: {block}
    with:
      {field}: {value}
links:
  - src -> a
"""


def warnings_for(h: Harness, block: str, field: str, value: str) -> list[ValidationIssue]:
    text = TYPES.replace("{block}", block).replace("{field}", field).replace("{value}", value)
    issues = check(h, text, warnings=True)
    assert all(issue.severity == "warning" for issue in issues), [str(i) for i in issues]
    assert check(h, text) == [], "without warnings=True, warnings are left out"
    return issues


def test_a_lone_integer_given_to_a_text_field_warns(h: Harness) -> None:
    (issue,) = warnings_for(h, "kit.text", "text", "'{{ inputs.n }}'")
    assert issue.message == (
        "'{{ inputs.n }}' gives a whole number, but kit.text takes text for 'text'; "
        "it is passed on as text"
    )
    assert issue.hint == "if that is meant, say so: '{{ inputs.n | string }}'"
    assert (issue.node, issue.field, issue.line, issue.column) == ("a", "text", 12, 7)
    assert str(issue).startswith(f"{h.tmp_path / 'flow.yaml'}:12:7: warning: a.text: ")


def test_text_around_a_template_given_to_a_number_field_warns(h: Harness) -> None:
    (issue,) = warnings_for(h, "kit.int_source", "value", "'{{ inputs.n }} '")
    assert issue.message == (
        "this template renders to text, but kit.int_source takes a whole number for 'value'"
    )
    assert issue.hint is not None and "even a space" in issue.hint
    (block_scalar,) = warnings_for(h, "kit.int_source", "value", "|\n        {{ inputs.n }}")
    assert "renders to text" in block_scalar.message, "a block scalar ends with a newline"


def test_an_output_pin_type_is_known_too(h: Harness) -> None:
    (issue,) = warnings_for(h, "kit.text", "text", "'{{ nodes.src.number }}'")
    assert issue.message.startswith("'{{ nodes.src.number }}' gives a whole number")


@pytest.mark.parametrize(
    ("block", "field", "value"),
    [
        ("kit.int_source", "value", "'{{ inputs.n }}'"),
        ("kit.number", "amount", "'{{ inputs.n }}'"),
        ("kit.text", "text", "'{{ inputs.word }}'"),
        ("kit.text", "text", "'n is {{ inputs.n }}'"),
        ("kit.text", "text", "'{{ inputs.n | string }}'"),
        ("kit.text", "text", "'{{ inputs.anything }}'"),
        ("kit.text", "text", "'{{ nodes.src.number ~ \"\" }}'"),
        ("kit.int_source", "value", "'{{ inputs.word | length }}'"),
        ("kit.int_source", "value", "'{{ inputs.loose }}'"),
    ],
)
def test_templates_that_keep_the_type_do_not_warn(
    h: Harness, block: str, field: str, value: str
) -> None:
    assert warnings_for(h, block, field, value) == []


def test_warnings_never_make_a_workflow_invalid(h: Harness) -> None:
    text = TYPES.replace("{block}", "kit.text").replace("{field}", "text")
    path = h.write(text.replace("{value}", "'{{ inputs.n }}'"))
    assert load_valid(path, h.registry).workflow.name == "w"
