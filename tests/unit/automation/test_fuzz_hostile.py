"""Hostile documents and templates: loading, validating and rendering stay fast and typed.

Hypothesis builds what an attacker would put in a workflow file: YAML alias
towers ("billion laughs") of random width and depth, nesting past any sane
depth, integers past Python's digit limit, control characters in names, and
templates that compute (``**``, repetition, padding, format widths,
``range``, loops).  Every case must finish within ``CASE_BUDGET`` seconds and
raise nothing but the product's typed errors (``WorkflowInvalid``,
``WorkflowError``, ``TemplateError``): no traceback.

CI runs 60 examples of each of the four properties.  A longer run, on its own::

    DESKPILOT_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/unit/automation/test_fuzz_hostile.py -q
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.errors import TemplateError, WorkflowError, WorkflowInvalid
from automation.loader import parse_workflow
from automation.templates import check_syntax, render
from automation.validation import validate
from tests.unit.automation.blockkit import Journal, kit_registry

REGISTRY = kit_registry(Journal())
#: No case may take longer than this, whatever it holds.
CASE_BUDGET = 2.0
EXAMPLES = int(os.environ.get("DESKPILOT_FUZZ_EXAMPLES", "60"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,  # measured by hand: the first case also pays for imports
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def within_budget(started: float, what: str) -> None:
    # CPU time, not wall time: a blow-up is work done, and on a loaded machine
    # the wall clock also counts the minutes spent waiting for a core.
    elapsed = time.process_time() - started
    assert elapsed < CASE_BUDGET, f"{what} took {elapsed:.2f} s (budget {CASE_BUDGET} s)"


def load_and_validate(text: str) -> None:
    started = time.process_time()
    try:
        loaded = parse_workflow(text)
        issues = validate(loaded, REGISTRY, secret_names=set())
    except WorkflowInvalid as exc:
        assert exc.issues and all(issue.message for issue in exc.issues)
    except WorkflowError as exc:
        assert str(exc)
    else:
        assert all(issue.message for issue in issues)
    within_budget(started, "loading and validating")


# -- documents ----------------------------------------------------------------------------


@st.composite
def alias_towers(draw: st.DrawFn) -> str:
    """Levels of ``width`` aliases of the level below, used where a value goes."""
    width = draw(st.integers(2, 12))
    depth = draw(st.integers(1, 12))
    flow = draw(st.booleans())
    lines = ["name: tower", "vars:", f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, depth + 1):
        refs = [f"*l{level - 1}"] * width
        if flow:
            lines.append(f"  l{level}: &l{level} [{', '.join(refs)}]")
        else:
            lines.append(f"  l{level}: &l{level}")
            lines += [f"    - {ref}" for ref in refs]
    where = draw(st.sampled_from(["vars", "with", "outputs"]))
    top = f"*l{depth}"
    lines += ["nodes:", "  a:", "    block: kit.emit"]
    if where == "with":
        lines.append(f"    with: {{value: {top}}}")
    elif where == "outputs":
        lines.append(f"outputs: {{o: {top}}}")
    return "\n".join(lines) + "\n"


@st.composite
def deep_documents(draw: st.DrawFn) -> str:
    depth = draw(st.integers(30, 20_000))
    kind = draw(st.sampled_from(["yaml-flow", "yaml-block", "json-list", "json-dict"]))
    if kind == "yaml-flow":
        return "name: deep\nnodes: {}\nvars: {x: " + "[" * depth + "]" * depth + "}\n"
    if kind == "yaml-block":
        depth = min(depth, 2_000)
        body = "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(depth))
        return "name: deep\nnodes: {}\nvars:\n" + body + "  " * (depth + 1) + "leaf: 1\n"
    if kind == "json-list":
        return '{"name": "deep", "nodes": {}, "vars": {"x": ' + "[" * depth + "]" * depth + "}}"
    return '{"name": "deep", "nodes": {}, "vars": ' + '{"k": ' * depth + "1" + "}" * depth + "}"


@st.composite
def long_numbers(draw: st.DrawFn) -> str:
    digits = "9" * draw(st.integers(4000, 20_000))
    sign = draw(st.sampled_from(["", "-", "+"]))
    if draw(st.booleans()):
        return '{"name": "n", "nodes": {}, "vars": {"x": ' + sign.lstrip("+") + digits + "}}"
    return f"name: n\nnodes: {{}}\nvars: {{x: {sign}{digits}}}\n"


names_with_controls = st.text(min_size=1, max_size=6).flatmap(
    lambda text: st.sampled_from(["\n", "\t", "\x00", "\x1b", "\u202e", "\u2028", "\r"]).map(
        lambda control: text + control + text
    )
)


@HOSTILE
@given(st.one_of(alias_towers(), deep_documents(), long_numbers()))
def test_hostile_documents_are_refused_or_accepted_in_time(text: str) -> None:
    load_and_validate(text)


@HOSTILE
@given(names_with_controls)
def test_names_with_control_characters_are_invalid(name: str) -> None:
    started = time.process_time()
    with pytest.raises(WorkflowInvalid, match="control character"):
        parse_workflow(json.dumps({"name": name, "nodes": {"a": {"block": "kit.emit"}}}))
    within_budget(started, "loading")


# -- templates ----------------------------------------------------------------------------

big_numbers = st.sampled_from(
    ["10**9", "999999999", "7 ** 99999999", "2**64", "10**7"]
) | st.integers(0, 10**12).map(str)
small_numbers = st.integers(-3, 50).map(str)
numbers = big_numbers | small_numbers
strings = st.sampled_from(
    ["'x'", "'ab'", "''", "'%0999999999d'", "'{:>999999999}'", "'%s'", "'%*d'"]
)
sequences = st.sampled_from(["[1, 2]", "[]", "(1,)", "range(3)", "inputs.items"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    choice = draw(st.integers(0, 9 if depth < 3 else 2))
    if choice == 0:
        return draw(numbers)
    if choice == 1:
        return draw(strings)
    if choice == 2:
        return draw(sequences)
    left, right = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    if choice <= 5:
        operator = draw(st.sampled_from(["**", "*", "%", "+", "-", "//", "/", "~"]))
        return f"({left} {operator} {right})"
    if choice == 6:
        flt = draw(st.sampled_from(["center", "indent", "wordwrap", "truncate", "format", "join", "list", "length", "sum", "batch", "replace"]))  # fmt: skip
        return f"({left} | {flt}({right}))"
    if choice == 7:
        method = draw(st.sampled_from(["ljust", "rjust", "center", "zfill", "format", "expandtabs", "join", "split"]))  # fmt: skip
        return f"{draw(strings)}.{method}({right})"
    if choice == 8:
        return f"range({left})"
    return f"({left} if {right} else {draw(numbers)})"


@st.composite
def templates(draw: st.DrawFn) -> str:
    expression = draw(expressions())
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return "{{ " + expression + " }}"
    if shape == 1:
        return "x{{ " + expression + " }}y"
    if shape == 2:
        return "{% for i in " + expression + " %}{{ i }}{% endfor %}"
    return (
        "{% set ns = namespace(v=" + expression + ") %}"
        "{% for i in range(" + draw(small_numbers) + ") %}{% set ns.v = ns.v * ns.v %}{% endfor %}"
        "{{ ns.v }}"
    )


@HOSTILE
@given(templates())
def test_hostile_templates_compile_and_render_in_time(source: str) -> None:
    started = time.process_time()
    if check_syntax(source) is None:
        try:
            render(source, {"inputs": {"items": [1, 2, 3]}})
        except TemplateError as exc:
            assert str(exc)
    within_budget(started, f"compiling and rendering {source!r}")


@HOSTILE
@given(templates())
def test_hostile_templates_in_a_workflow_validate_in_time(source: str) -> None:
    document: dict[str, Any] = {
        "name": "t",
        "nodes": {"a": {"block": "kit.emit", "with": {"value": source}}},
    }
    load_and_validate(json.dumps(document))
