"""Validation messages in Deskpilot's words, in the FILE:LINE:COL form editors link."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field, ValidationError

from automation.errors import ValidationIssue, WorkflowInvalid
from automation.loader import parse_workflow
from automation.messages import describe, describe_all

PYDANTIC_WORDING = re.compile(r"Input should|Value error|Field required|valid (integer|string)")


class Sample(BaseModel):
    count: int = 0
    ratio: float = 0.0
    name: str = Field("x", min_length=1)
    flag: bool = False
    items: list[int] = []
    limit: int = Field(1, ge=1, le=10)
    mode: str = Field("a", pattern="^[ab]$")


def errors_for(**values: object) -> list[dict[str, object]]:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(values)
    return [dict(error) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": "many"}, "must be a whole number, not 'many'"),
        ({"count": 1.5}, "must be a whole number, not 1.5"),
        ({"ratio": "lots"}, "must be a number, not 'lots'"),
        ({"name": ""}, "must not be empty"),
        ({"name": 3.5j}, "must be text, not complex"),
        ({"flag": "perhaps"}, "must be true or false, not 'perhaps'"),
        ({"items": {"a": 1}}, "must be a list, not a mapping"),
        ({"limit": 0}, "must be at least 1, not 0"),
        ({"limit": 11}, "must be at most 10, not 11"),
        ({"mode": "c"}, "'c' is not allowed here"),
    ],
)
def test_pydantic_errors_read_in_our_words(values: dict[str, object], message: str) -> None:
    (error,) = errors_for(**values)
    said, _hint = describe(error)
    assert said == message
    assert not PYDANTIC_WORDING.search(said)


def test_describe_all_names_each_field_with_its_hint() -> None:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate({"count": "x", "flag": 2})
    text = describe_all(caught.value)
    assert text.startswith("count: must be a whole number, not 'x' (write a whole number")
    assert "; flag: must be true or false, not 2 (write true or false)" in text


BAD_FILES = [
    "name: w\nnodes:\n  a:\n    block: kit.emit\n    timeout: soon\n",
    "name: w\nnodes:\n  a:\n    title: no block\n",
    "name: w\nnodes:\n  a: {block: kit.emit, retry: {max_attempts: many}}\n",
    "name: w\nnodes:\n  a: {block: kit.emit, disabled: perhaps}\n",
    "name: w\nnodes: [a, b]\n",
    "name: w\nnodes: {a: {block: kit.emit}}\ntriggers:\n  - {type: schedule}\n",
    "name: w\nnodes: {a: {block: kit.emit}}\ntriggers:\n  - {type: never}\n",
    "name: w\nnodes: {a: {block: kit.emit}}\ninputs:\n  n: {type: integer, default: x}\n",
    "name: w\nnodes: {a: {block: kit.emit}}\nlimits: {max_steps: -1}\n",
    "name: w\nnodes: {'bad id!': {block: kit.emit}}\n",
]


@pytest.mark.parametrize("text", BAD_FILES)
def test_no_model_error_leaks_pydantic_wording(text: str) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text)
    for issue in caught.value.issues:
        assert not PYDANTIC_WORDING.search(str(issue)), str(issue)
        assert issue.line is not None and issue.column is not None, str(issue)


def test_issue_prints_file_line_column_node_field_message_hint() -> None:
    issue = ValidationIssue(
        message="'soon' is not a duration",
        file="flows/report.yaml",
        line=7,
        column=5,
        node="fetch",
        field="timeout",
        hint="write 30s or 5m",
    )
    assert (
        str(issue)
        == "flows/report.yaml:7:5: fetch.timeout: 'soon' is not a duration (write 30s or 5m)"
    )
    warning = ValidationIssue(message="m", file="f.yaml", line=1, severity="warning")
    assert str(warning) == "f.yaml:1: warning: m"
    assert str(ValidationIssue(message="m", field="outputs.x")) == "<workflow>: outputs.x: m"


def test_a_model_error_is_located_to_the_column() -> None:
    text = "name: w\nnodes:\n  a:\n    block: kit.emit\n    retry: {max_attempts: many}\n"
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, path=None)
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (5, 13)
    assert str(issue).startswith("<workflow>:5:13: a.retry.max_attempts: must be a whole number")
    assert str(caught.value) == str(issue), "one problem is one line"
