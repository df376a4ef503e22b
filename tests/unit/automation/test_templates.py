"""Templates: native types, the sandbox, undefined names, references, filters."""

from __future__ import annotations

import time
from typing import Any

import pytest

from automation.errors import TemplateError
from automation.templates import (
    check_syntax,
    contains_template,
    is_template,
    iter_templates,
    references,
    render,
    render_value,
    undeclared_roots,
)

SCOPE: dict[str, Any] = {
    "inputs": {"count": 3, "names": ["a", "b"], "opts": {"deep": True}, "flag": False},
    "vars": {"total": 10, "none": None},
    "nodes": {"fetch": {"status": 200, "body": '{"k": [1, 2]}'}},
    "env": {"HOME": "/home/user"},
    "run": {"id": "r1", "workflow": "w", "trigger": "manual"},
}


# -- native types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ inputs.count }}", 3),
        ("{{ inputs.count * 2 }}", 6),
        ("{{ inputs.names }}", ["a", "b"]),
        ("{{ inputs.opts }}", {"deep": True}),
        ("{{ inputs.flag }}", False),
        ("{{ vars.none }}", None),
        ("{{ nodes.fetch.status == 200 }}", True),
        ("{{ [inputs.count, vars.total] }}", [3, 10]),
        ("{{ inputs.count / 2 }}", 1.5),
    ],
)
def test_a_single_expression_keeps_its_native_type(source: str, expected: Any) -> None:
    result = render(source, SCOPE)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("count: {{ inputs.count }}", "count: 3"),
        ("{{ inputs.count }}{{ vars.total }}", "310"),
        ("{{ inputs.count }} and {{ vars.total }}", "3 and 10"),
        ("{% if inputs.flag %}yes{% else %}no{% endif %}", "no"),
        ("{% for n in inputs.names %}{{ n }},{% endfor %}", "a,b,"),
        ("line\n{{ inputs.count }}\n", "line\n3\n"),
        # an expression with text around it, even only white space, is text: a YAML block
        # scalar's newline used to vanish and the value became an integer
        ("{{ inputs.count }}\n", "3\n"),
        ("  {{ inputs.count }}  ", "  3  "),
    ],
)
def test_mixed_text_renders_to_a_string(source: str, expected: str) -> None:
    assert render(source, SCOPE) == expected


def test_render_value_walks_lists_and_dicts() -> None:
    value = {"a": ["{{ inputs.count }}", "plain", 4], "b": {"c": "n={{ vars.total }}"}}
    assert render_value(value, SCOPE) == {"a": [3, "plain", 4], "b": {"c": "n=10"}}


def test_text_without_braces_is_left_alone() -> None:
    assert render_value("no template here", {}) == "no template here"
    assert not is_template("a { b } c")
    assert is_template("{% raw %}x{% endraw %}")


def test_finding_templates_inside_values() -> None:
    value = {"a": ["x", "{{ inputs.a }}"], "b": {"c": "{% if x %}{% endif %}"}, "d": 3}
    assert contains_template(value)
    assert sorted(iter_templates(value)) == ["{% if x %}{% endif %}", "{{ inputs.a }}"]
    assert not contains_template({"a": [1, "b"]})


# -- undefined names -----------------------------------------------------------------


def test_undefined_attribute_in_text_names_the_variable() -> None:
    with pytest.raises(TemplateError) as caught:
        render("total: {{ vars.missing_total }}", SCOPE)
    assert "missing_total" in str(caught.value)


def test_undefined_root_in_text_names_the_variable() -> None:
    with pytest.raises(TemplateError, match="nowhere"):
        render("{{ nowhere }} text", SCOPE)


def test_undefined_name_in_a_condition_is_an_error() -> None:
    with pytest.raises(TemplateError, match="missing"):
        render("{{ vars.missing > 3 }}", SCOPE)


@pytest.mark.parametrize(
    "source",
    [
        "{{ vars.missing_total }}",
        "{{ nowhere }}",
        "{{ [vars.missing_total] }}",
        "{{ {'a': nowhere} }}",
    ],
)
def test_undefined_in_a_single_expression_names_the_variable(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, SCOPE)
    assert "missing_total" in str(caught.value) or "nowhere" in str(caught.value)


def test_errors_inside_expressions_become_template_errors() -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ inputs.count / 0 }}", SCOPE)
    with pytest.raises(TemplateError, match="JSONDecodeError"):
        render("{{ 'not json' | fromjson }}", SCOPE)


# -- the sandbox ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "x {{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__.__init__.__globals__ }}",
        "x {{ inputs.names.__len__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ (inputs.names | first).__class__.__base__ }}",
        "x {{ lipsum.__globals__ }}",
    ],
)
def test_sandbox_refuses_python_internals(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, SCOPE)


def test_sandbox_refuses_internals_in_a_single_expression() -> None:
    with pytest.raises(TemplateError, match="not allowed|unsafe"):
        render("{{ ''.__class__ }}", SCOPE)


@pytest.mark.parametrize(
    "source",
    [
        "{{ vars.update({'total': 0}) }}",
        "{{ inputs.names.append('c') }}",
        "{{ inputs.names.pop() }}",
        "{{ inputs.opts.clear() }}",
        "{{ inputs.opts.setdefault('x', 1) }}",
    ],
)
def test_sandbox_refuses_mutation(source: str) -> None:
    scope = {
        "inputs": {"names": ["a", "b"], "opts": {"deep": True}},
        "vars": {"total": 10},
    }
    with pytest.raises(TemplateError, match="not allowed"):
        render(source, scope)
    assert scope == {"inputs": {"names": ["a", "b"], "opts": {"deep": True}}, "vars": {"total": 10}}


def test_keys_named_like_dict_methods_read_the_value() -> None:
    """``inputs.keys`` is the input named keys, not dict.keys (Jinja tries attributes first)."""
    scope = {"inputs": {"keys": "k1,k2", "items": [1, 2], "values": 3, "get": "g"}}
    assert render("{{ inputs.keys }}", scope) == "k1,k2"
    assert render("{{ inputs.items }}", scope) == [1, 2]
    assert render("total {{ inputs.values }}", scope) == "total 3"
    assert render("{{ inputs.get }}", scope) == "g"
    assert render("{{ inputs['items'] | length }}", scope) == 2


def test_sandbox_still_allows_reading_methods() -> None:
    assert render("{{ inputs.opts.get('deep') }}", SCOPE) is True
    assert render("{{ inputs.names | join('-') | upper }}", SCOPE) == "A-B"
    assert render("{{ inputs.opts.items() | list }}", SCOPE) == [("deep", True)]


# -- filters -------------------------------------------------------------------------


def test_fromjson_parses_text() -> None:
    assert render("{{ nodes.fetch.body | fromjson }}", SCOPE) == {"k": [1, 2]}
    assert render("{{ (nodes.fetch.body | fromjson).k[1] }}", SCOPE) == 2


def test_tojson_dumps_without_html_escaping() -> None:
    assert render("{{ inputs.opts | tojson }}", SCOPE) == '{"deep": true}'
    assert render("{{ '<a & b>' | tojson }}", SCOPE) == '"<a & b>"'
    assert render("{{ inputs.names | tojson(2) }}", SCOPE) == '[\n  "a",\n  "b"\n]'


def test_tojson_then_fromjson_round_trips() -> None:
    assert render("{{ inputs.opts | tojson | fromjson }}", SCOPE) == {"deep": True}


# -- syntax and references -----------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["{{ inputs.count", "{% if x %}no end", "{{ x | no_such_filter }}", "{{ 1 + }}"]
)
def test_syntax_errors_are_reported_not_raised(source: str) -> None:
    message = check_syntax(source)
    assert message is not None and message.startswith("template syntax error:")
    assert repr(source) in message
    with pytest.raises(TemplateError, match="syntax error"):
        render(source, SCOPE)


def test_good_syntax_has_no_error() -> None:
    assert check_syntax("{{ inputs.a }} and {% if x %}y{% endif %}") is None


def test_references_find_every_root_and_first_attribute() -> None:
    source = "{{ secrets['api_key'] ~ secrets.token ~ nodes.fetch.body ~ inputs.url ~ vars.x }}"
    assert references(source) == {
        ("secrets", "api_key"),
        ("secrets", "token"),
        ("nodes", "fetch"),
        ("inputs", "url"),
        ("vars", "x"),
    }


def test_references_in_mixed_text_and_statements() -> None:
    source = "Dear {{ inputs.who }}, {% for n in nodes['list_files'].paths %}{{ n }}{% endfor %}"
    assert references(source) == {("inputs", "who"), ("nodes", "list_files")}


def test_dynamic_index_has_no_attribute() -> None:
    assert references("{{ secrets[inputs.which] }}") == {("secrets", None), ("inputs", "which")}


def test_references_ignore_names_that_are_not_roots() -> None:
    assert references("{% for item in inputs.names %}{{ item.name }}{% endfor %}") == {
        ("inputs", "names")
    }
    assert references("{{ broken") == set()


def test_undeclared_roots() -> None:
    assert undeclared_roots("{{ inputs.a ~ fetch.body }}") == {"fetch"}
    assert undeclared_roots("{% for x in inputs.a %}{{ x }}{% endfor %}") == set()
    assert undeclared_roots("{% set y = 1 %}{{ y }}") == set()
    assert undeclared_roots("{{ range(3) | list }}") == set()  # globals are fine


# -- budgets: what a template may compute ------------------------------------------------

HOSTILE_TEMPLATES = [
    "{{ 7 ** 99999999 }}",
    "x{{ 7 ** 99999999 }}",
    "{{ 'x' * 10**9 }}",
    "{{ [1, 2] * 999999999 }}",
    "{{ 999999999 * 'x' }}",
    "{{ 'x' | center(999999999) }}",
    "{{ 'x' | indent(999999999) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '%0999999999d' | format(1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:{w}}'.format(1, w=999999999) }}",
    "{{ 'x'.ljust(999999999) }}",
    "{{ 'x'.zfill(999999999) }}",
    "{{ range(10**9) | list }}",
    "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}",
]


@pytest.mark.parametrize("source", HOSTILE_TEMPLATES)
def test_hostile_arithmetic_compiles_at_once_and_is_refused_when_rendered(source: str) -> None:
    """Jinja folds constants while compiling: these would hang validation, not only the run."""
    started = time.monotonic()
    assert check_syntax(source) is None
    with pytest.raises(TemplateError, match="over the template limit|MAX_RANGE"):
        render(source, SCOPE)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 2 ** 64 }}", 2**64),
        ("{{ 10 ** 300 > 0 }}", True),
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ [0] * 3 }}", [0, 0, 0]),
        ("{{ '%05d' % 42 }}", "00042"),
        ("{{ '%s-%s' % ('a', 'b') }}", "a-b"),
        ("{{ '%.2f' | format(3.14159) }}", "3.14"),
        ("{{ '{:>4}'.format(7) }}", "   7"),
        ("{{ 'x' | center(5) }}", "  x  "),
        ("{{ 'ab'.ljust(4, '.') }}", "ab.."),
        ("{{ inputs.count * 2 }}", 6),
        ("{{ 7 % 3 }}", 1),
    ],
)
def test_ordinary_arithmetic_and_formatting_still_work(source: str, expected: Any) -> None:
    assert render(source, SCOPE) == expected


def test_a_number_too_long_to_print_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="digits"):
        render("n={{ 10 ** 5000 }}", SCOPE)


def test_filters_are_not_folded_while_compiling() -> None:
    """A constant filter call runs when the template renders, where its limits apply."""
    started = time.monotonic()
    assert check_syntax("{{ 'x' | center(999999999) | length }}") is None
    assert time.monotonic() - started < 0.5


def test_brackets_nested_by_the_thousand_are_a_template_error() -> None:
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    message = check_syntax(source)
    assert message is not None and "nests too deeply" in message
