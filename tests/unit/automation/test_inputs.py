"""One reading of text inputs for run, submit, the API and the GUI: the declared type decides."""

from __future__ import annotations

from typing import Any

import pytest

from automation.errors import WorkflowError
from automation.inputs import coerce_inputs, read_input_text, read_text_inputs
from automation.model import InputSpec, Workflow

WORKFLOW = Workflow.model_validate(
    {
        "name": "typed",
        "inputs": {
            "n": {"type": "integer"},
            "x": {"type": "number", "default": 1.5},
            "word": {"type": "string", "default": "hi"},
            "flag": {"type": "boolean", "default": False},
            "tags": {"type": "array", "default": []},
            "opts": {"type": "object", "default": {}},
            "anything": {"type": "any", "default": None},
        },
        "nodes": {},
    }
)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("integer", "5", 5),
        ("integer", "-12", -12),
        ("number", "0.5", 0.5),
        ("number", "5", 5.0),
        ("string", "5", "5"),
        ("string", "true", "true"),
        ("boolean", "true", True),
        ("boolean", "false", False),
        ("array", "[a, 2]", ["a", 2]),
        ("array", '["a", 2]', ["a", 2]),
        ("object", "{k: v}", {"k": "v"}),
        ("any", "7", 7),
        ("any", "seven", "seven"),
    ],
)
def test_text_is_read_by_the_declared_type(kind: str, text: str, value: Any) -> None:
    got = read_input_text("i", InputSpec(type=kind), text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("integer", "0.5", "input 'i' must be of type integer, got '0.5'"),
        ("integer", "5.0", "must be of type integer"),
        ("integer", "five", "must be of type integer"),
        ("boolean", "yes", "must be of type boolean"),
        ("array", "[unclosed", "cannot read '\\[unclosed' as array"),
        ("integer", "9" * 5000, "has too many digits"),
        ("array", "[" * 5000 + "]" * 5000, "nested too deeply|cannot read"),
    ],
)
def test_text_that_does_not_fit_is_refused_naming_the_input(
    kind: str, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        read_input_text("i", InputSpec(type=kind), text)
    assert len(str(caught.value)) < 200  # a long value is cut, not echoed whole


def test_run_and_submit_read_the_same_text_the_same_way() -> None:
    """``run`` coerces from text; ``submit`` sends text_inputs the API reads: one result."""
    texts = {"n": "5", "x": "2", "flag": "true", "tags": "[a]", "word": "5"}
    from_run = coerce_inputs(WORKFLOW, texts, from_text=True)
    from_api = coerce_inputs(WORKFLOW, read_text_inputs(WORKFLOW, texts))
    assert from_run == from_api
    assert from_api["n"] == 5 and from_api["x"] == 2.0 and from_api["word"] == "5"
    for bad in ({"n": "0.5"}, {"n": "x"}):
        with pytest.raises(WorkflowError, match="input 'n' must be of type integer"):
            coerce_inputs(WORKFLOW, bad, from_text=True)
        with pytest.raises(WorkflowError, match="input 'n' must be of type integer"):
            read_text_inputs(WORKFLOW, bad)


def test_unknown_names_are_reported_with_the_declared_ones() -> None:
    with pytest.raises(WorkflowError, match=r"unknown input 'm' \(declared: anything, flag"):
        coerce_inputs(WORKFLOW, read_text_inputs(WORKFLOW, {"n": "1", "m": "2"}))
