"""The data blocks, run one at a time through the harness."""

from __future__ import annotations

from typing import Any

import pytest

from automation.blocks import data, files
from automation.blocks.data import (
    Compare,
    FromCsv,
    FromJson,
    JsonPath,
    Math,
    RegexMatch,
    RegexReplace,
    SetVar,
    Template,
    ToCsv,
    ToJson,
)
from automation.blocks.registry import BlockRegistry
from automation.errors import BlockError, BlockInputError
from automation.testing import run_block


def fails(block: Any, inputs: dict[str, Any]) -> BlockError:
    with pytest.raises(BlockError) as caught:
        run_block(block, inputs)
    assert not caught.value.retryable, "data blocks are pure: retrying cannot help"
    return caught.value


def test_both_modules_register_and_validate() -> None:
    registry = BlockRegistry()
    registry.register_module(data)
    registry.register_module(files)
    assert len(registry) == len(data.BLOCKS) + len(files.BLOCKS) == 22
    assert {b.category for b in registry} == {"data", "files"}
    assert "data.compare" in registry
    assert "file.unzip" in registry
    assert all(block.summary() for block in registry)


# -- variables and text ----------------------------------------------------------------


def test_set_var_records_the_variable_and_outputs_it() -> None:
    result = run_block(SetVar, {"name": "total", "value": {"n": 3}}, run_vars={"other": 1})
    assert result.vars_set == {"total": {"n": 3}}
    assert result.last == {"value": {"n": 3}}


def test_set_var_rejects_names_templates_cannot_reach() -> None:
    with pytest.raises(BlockInputError, match="name"):
        run_block(SetVar, {"name": "not valid", "value": 1})


def test_template_passes_the_rendered_text_on() -> None:
    assert run_block(Template, {"text": "report-2026.pdf"}).last == {"text": "report-2026.pdf"}


# -- JSON path --------------------------------------------------------------------------

ORDER = {
    "items": [
        {"name": "pen", "price": 2},
        {"name": "lamp", "price": 40},
        {"name": "desk", "price": 300},
    ]
}


def test_json_path_filters_with_the_extended_parser() -> None:
    out = run_block(JsonPath, {"expression": "$.items[?(@.price > 10)].name", "data": ORDER}).last
    assert out == {"values": ["lamp", "desk"], "first": "lamp", "count": 2}


def test_json_path_extensions_work() -> None:
    out = run_block(JsonPath, {"expression": "$.items.`len`", "data": ORDER}).last
    assert out["first"] == 3


def test_json_path_without_a_match_gives_null_first() -> None:
    out = run_block(JsonPath, {"expression": "$.missing", "data": ORDER}).last
    assert out == {"values": [], "first": None, "count": 0}


def test_json_path_bad_expression_names_it() -> None:
    error = fails(JsonPath, {"expression": "$.items[?(@.price >]", "data": ORDER})
    assert "invalid JSONPath expression '$.items[?(@.price >]'" in str(error)


# -- regex ------------------------------------------------------------------------------


def test_regex_match_outputs_groups_named_groups_and_all_matches() -> None:
    text = "Invoice 12 due, invoice 34 paid"
    out = run_block(
        RegexMatch,
        {"pattern": r"invoice (?P<number>\d+) (\w+)", "text": text, "ignorecase": True},
    ).last
    assert out == {
        "matched": True,
        "match": "Invoice 12 due",
        "groups": ["12", "due"],
        "named": {"number": "12"},
        "all": ["Invoice 12 due", "invoice 34 paid"],
    }


def test_regex_match_without_a_match() -> None:
    out = run_block(RegexMatch, {"pattern": r"\d+", "text": "none here"}).last
    assert out == {"matched": False, "match": None, "groups": [], "named": {}, "all": []}


def test_regex_flags_multiline_and_dotall() -> None:
    text = "first\nsecond"
    lines = run_block(RegexMatch, {"pattern": r"^\w+$", "text": text, "multiline": True}).last
    single = run_block(RegexMatch, {"pattern": r"^\w+$", "text": text}).last
    across = run_block(RegexMatch, {"pattern": "first.second", "text": text, "dotall": True}).last
    assert lines["all"] == ["first", "second"]
    assert single["matched"] is False
    assert across["matched"] is True


def test_invalid_regex_is_not_retried() -> None:
    error = fails(RegexMatch, {"pattern": "(unclosed", "text": "x"})
    assert "invalid regular expression '(unclosed'" in str(error)


def test_regex_replace_with_groups_and_a_count() -> None:
    inputs = {"pattern": r"(\d+)-(\d+)", "replacement": r"\2/\1", "text": "1-2 3-4 5-6"}
    every = run_block(RegexReplace, inputs).last
    first_two = run_block(RegexReplace, {**inputs, "count": 2}).last
    assert every == {"text": "2/1 4/3 6/5", "replacements": 3}
    assert first_two == {"text": "2/1 4/3 5-6", "replacements": 2}


def test_regex_replace_bad_group_reference() -> None:
    error = fails(RegexReplace, {"pattern": "a", "replacement": r"\3", "text": "a"})
    assert "invalid replacement" in str(error)
    fails(RegexReplace, {"pattern": "[", "replacement": "", "text": "a"})


# -- compare -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        (3, "==", 3.0, True),
        ("42", "==", 42, True),
        ("1.10", "==", "1.1", False),
        ("abc", "!=", "abd", True),
        ("10", ">", 9, True),
        (2, "<=", 2, True),
        ("apple", "<", "banana", True),
        ("hello world", "contains", "world", True),
        (["a", "b"], "contains", "c", False),
        ({"key": 1}, "contains", "key", True),
        ("b", "in", ["a", "b"], True),
        ("report.pdf", "endswith", ".pdf", True),
        ("report.pdf", "startswith", "rep", True),
        ("order #123", "matches", r"#\d+", True),
        (None, "==", None, True),
        (True, "==", 1, True),
    ],
)
def test_compare_operators(left: Any, op: str, right: Any, expected: bool) -> None:
    out = run_block(Compare, {"left": left, "op": op, "right": right}).last
    assert out["result"] is expected


def test_compare_emits_left_on_yes_or_no_with_result() -> None:
    yes = run_block(Compare, {"left": 5, "op": ">", "right": 3})
    no = run_block(Compare, {"left": 1, "op": ">", "right": 3})
    assert yes.emissions == [{"yes": 5, "result": True}]
    assert no.emissions == [{"no": 1, "result": False}]


def test_compare_ignoring_case() -> None:
    inputs = {"left": "Hello", "op": "==", "right": "hello"}
    assert run_block(Compare, inputs).last["result"] is False
    assert run_block(Compare, {**inputs, "ignorecase": True}).last["result"] is True
    found = {"left": ["PDF"], "op": "contains", "right": "pdf", "ignorecase": True}
    assert run_block(Compare, found).last["result"] is True


def test_compare_errors_are_clear() -> None:
    mixed = fails(Compare, {"left": "abc", "op": "<", "right": 3})
    assert "cannot compare str 'abc' with int 3 using '<'" in str(mixed)
    not_container = fails(Compare, {"left": 5, "op": "contains", "right": 1})
    assert "'contains' and 'in'" in str(not_container)
    assert "invalid regular expression" in str(
        fails(Compare, {"left": "x", "op": "matches", "right": "("})
    )
    with pytest.raises(BlockInputError):
        run_block(Compare, {"left": 1, "op": "~=", "right": 1})


# -- math -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"operation": "add", "a": 2, "b": 3}, 5),
        ({"operation": "sub", "a": 2, "b": 3.5}, -1.5),
        ({"operation": "mul", "a": "4", "b": 2}, 8),
        ({"operation": "div", "a": 7, "b": 2}, 3.5),
        ({"operation": "floordiv", "a": 7, "b": 2}, 3),
        ({"operation": "mod", "a": 7, "b": 4}, 3),
        ({"operation": "pow", "a": 2, "b": 10}, 1024),
        ({"operation": "min", "values": [4, 1, 3]}, 1),
        ({"operation": "max", "a": 4, "b": 9}, 9),
        ({"operation": "sum", "values": [1, 2, 3.5]}, 6.5),
        ({"operation": "avg", "values": [1, 2, 3, 4]}, 2.5),
        ({"operation": "round", "a": 2.567, "digits": 2}, 2.57),
        ({"operation": "round", "a": 2.5}, 2),
        ({"operation": "abs", "a": -7}, 7),
    ],
)
def test_math_operations(inputs: dict[str, Any], expected: float) -> None:
    assert run_block(Math, inputs).last["result"] == expected


def test_math_keeps_integers_integral() -> None:
    assert isinstance(run_block(Math, {"operation": "add", "a": 2, "b": 3}).last["result"], int)


@pytest.mark.parametrize("operation", ["div", "floordiv", "mod"])
def test_division_by_zero_is_not_retried(operation: str) -> None:
    error = fails(Math, {"operation": operation, "a": 1, "b": 0})
    assert "division by zero" in str(error)


def test_math_missing_operands_and_impossible_results() -> None:
    assert "needs 'b'" in str(fails(Math, {"operation": "add", "a": 1}))
    assert "needs numbers" in str(fails(Math, {"operation": "avg"}))
    assert "no real result" in str(fails(Math, {"operation": "pow", "a": -8, "b": 0.5}))
    assert "too large" in str(fails(Math, {"operation": "pow", "a": 10.0, "b": 400}))


# -- JSON --------------------------------------------------------------------------------


def test_to_json_with_indent_and_sorted_keys() -> None:
    out = run_block(ToJson, {"value": {"b": 1, "a": "é"}, "indent": 2, "sort_keys": True}).last
    assert out["text"] == '{\n  "a": "é",\n  "b": 1\n}'
    assert run_block(ToJson, {"value": [1, None]}).last["text"] == "[1, null]"


def test_to_json_refuses_values_json_cannot_hold() -> None:
    error = fails(ToJson, {"value": {1, 2}})
    assert "cannot be written as JSON" in str(error)


def test_from_json_parses_and_round_trips() -> None:
    value = {"a": [1, 2.5, None, True], "b": "x"}
    text = run_block(ToJson, {"value": value}).last["text"]
    assert run_block(FromJson, {"text": text}).last == {"value": value}


def test_from_json_reports_line_and_column() -> None:
    error = fails(FromJson, {"text": '{\n  "a": 1,\n  "b": oops\n}'})
    assert "line 3, column 8" in str(error)
    assert "oops" in str(error)
    assert "line 1, column 1" in str(fails(FromJson, {"text": ""}))


# -- CSV ---------------------------------------------------------------------------------


def test_to_csv_from_objects_with_missing_keys_and_quoting() -> None:
    rows = [{"name": "Ann", "city": "Paris, FR"}, {"name": "Bob", "age": 30, "tags": ["x"]}]
    out = run_block(ToCsv, {"rows": rows}).last
    assert out["text"] == 'name,city,age,tags\nAnn,"Paris, FR",,\nBob,,30,"[""x""]"\n'


def test_to_csv_with_columns_delimiter_and_lists() -> None:
    rows = [{"a": 1, "b": 2, "c": 3}]
    picked = run_block(ToCsv, {"rows": rows, "columns": ["c", "a"], "delimiter": ";"}).last
    assert picked["text"] == "c;a\n3;1\n"
    lists = run_block(ToCsv, {"rows": [[1, None], [2, "x"]], "columns": ["n", "v"]}).last
    assert lists["text"] == "n,v\n1,\n2,x\n"
    no_header = run_block(ToCsv, {"rows": rows, "header": False}).last
    assert no_header["text"] == "1,2,3\n"


def test_to_csv_refuses_mixed_rows() -> None:
    error = fails(ToCsv, {"rows": [{"a": 1}, [1]]})
    assert "all objects or all lists" in str(error)


def test_from_csv_with_header() -> None:
    text = '\ufeffname;note\nAnn;"two\nlines"\n\nBob\n'
    out = run_block(FromCsv, {"text": text, "delimiter": ";"}).last
    assert out == {
        "rows": [{"name": "Ann", "note": "two\nlines"}, {"name": "Bob", "note": ""}],
        "columns": ["name", "note"],
        "count": 2,
    }


def test_from_csv_without_header_gives_lists() -> None:
    out = run_block(FromCsv, {"text": "1,2\n3,4\n", "header": False}).last
    assert out == {"rows": [["1", "2"], ["3", "4"]], "columns": [], "count": 2}
    assert run_block(FromCsv, {"text": ""}).last == {"rows": [], "columns": [], "count": 0}


def test_csv_round_trip() -> None:
    rows = [{"id": "1", "text": 'say "hi", then go'}, {"id": "2", "text": ""}]
    text = run_block(ToCsv, {"rows": rows}).last["text"]
    assert run_block(FromCsv, {"text": text}).last["rows"] == rows


def test_from_csv_errors_name_the_line() -> None:
    long_row = fails(FromCsv, {"text": "a,b\n1,2\n1,2,3\n"})
    assert "line 3 has 3 fields but the header has 2" in str(long_row)
    duplicate = fails(FromCsv, {"text": "a,a\n1,2\n"})
    assert "repeats column(s) ['a']" in str(duplicate)
    with pytest.raises(BlockInputError):
        run_block(FromCsv, {"text": "a", "delimiter": ";;"})
