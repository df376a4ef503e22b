"""Malformed workflow documents never crash loading or validation.

Whatever a user (or a download) puts in a file, ``parse_workflow`` and
``validate`` either accept it or explain it: the only exceptions allowed are
``WorkflowInvalid`` and ``WorkflowError``, and every issue has a message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.errors import ValidationIssue, WorkflowError, WorkflowInvalid
from automation.graph import WorkflowGraph
from automation.loader import dump_workflow, parse_workflow
from automation.model import Workflow
from automation.validation import validate
from tests.unit.automation.blockkit import Journal, kit_registry
from tests.unit.automation.test_fuzz_hostile import CASE_BUDGET

REGISTRY = kit_registry(Journal())
BLOCK_IDS = REGISTRY.ids()
PATH = Path("/nonexistent/fuzz/flow.yaml")
FUZZ = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# -- building blocks of documents ---------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=4,
)


#: The draw that picks the unusual branch.  Not 0: Hypothesis favours small
#: integers, which would make the unusual branch the usual one.
_ODD = 3


def noisy(good: st.SearchStrategy[Any], odds: int = 8) -> st.SearchStrategy[Any]:
    """Mostly ``good``, one time in ``odds`` anything at all."""
    return st.integers(0, odds - 1).flatmap(lambda n: anything if n == _ODD else good)


_good_names = st.sampled_from(["a", "b", "c", "fetch", "save", "loop", "_x", "Node2"])
_bad_names = st.sampled_from(["1st", "has space", "dash-ed", "", "trigger", "off"])


def mostly_good(
    good: st.SearchStrategy[Any], *bad: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten, else one of ``bad``."""
    return st.integers(0, 9).flatmap(lambda n: st.one_of(*bad) if n == _ODD else good)


#: Names used as mapping keys: always hashable.
keys = mostly_good(_good_names, _bad_names, st.text(max_size=4), st.integers(0, 3))
#: Names used as values (in links, triggers): sometimes not even text.
names = mostly_good(_good_names, _bad_names, anything)


def with_rare(
    mapping: st.SearchStrategy[dict[str, Any]], key: str, value: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Add ``key`` to one mapping in ten: a stray or unusual field."""
    return st.tuples(mapping, st.integers(0, 9), value).map(
        lambda t: {**t[0], key: t[2]} if t[1] == _ODD else t[0]
    )


pins = st.sampled_from(
    ["value", "number", "text", "amount", "item", "items", "yes", "no", "done", "error", "trigger",
     "a", "b", "pair", "iteration", "case_1", "default", "nope", "condition", "path"]
)  # fmt: skip
durations = noisy(
    st.sampled_from(["1s", "500ms", "1m30s", "2h", "0", "-1", "5 parsecs", "1e3", "1.5", "nan"])
    | st.floats(min_value=-1, max_value=1e7, allow_nan=False)
    | st.integers(min_value=-5, max_value=10**7)
)
template_parts = st.sampled_from(
    ["{{ ", " }}", "{% if x %}", "{% endif %}", "{% for i in inputs.tags %}", "{% endfor %}",
     "inputs.", "nodes.", "vars.", "secrets.", "env.", "run.", "secrets['k']", "a", "b", ".value",
     "fetch", "|", " tojson", " fromjson", "(", ")", "[", "]", "'", "+", "1", " ", "x", "__class__",
     "~", "{{", "}}", "{#", "#}"]
)  # fmt: skip
templates = st.lists(template_parts, max_size=8).map("".join)
values = st.one_of(scalars, templates, st.lists(templates, max_size=2), anything)


@st.composite
def link_strings(draw: st.DrawFn) -> Any:
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(anything)
    if shape == 1:
        link_keys = st.sampled_from(["source", "target", "source_pin", "target_pin", "x"])
        return draw(st.dictionaries(link_keys, names, max_size=4))
    left = draw(names) if shape > 2 else draw(st.text(max_size=5))
    if draw(st.booleans()):
        left = f"{left}.{draw(pins)}"
    right = draw(names)
    if draw(st.booleans()):
        right = f"{right}.{draw(pins)}"
    arrow = draw(st.sampled_from([" -> "] * 14 + ["->", "=>", "-", "", "->->"]))
    return f"{left}{arrow}{right}"


retries = noisy(
    st.integers(-1, 4)
    | st.fixed_dictionaries(
        {},
        optional={
            "max_attempts": noisy(st.integers(-1, 4)),
            "delay": durations,
            "multiplier": noisy(st.floats(0, 4, allow_nan=False)),
            "max_delay": durations,
            "jitter": noisy(st.floats(-0.5, 1.5, allow_nan=False)),
            "colour": anything,
        },
    )
)
nodes = noisy(
    st.fixed_dictionaries(
        {"block": noisy(st.sampled_from([*BLOCK_IDS, "kit.emitt", "nope.block"]), odds=10)},
        optional={
            "with": noisy(st.dictionaries(pins, values, max_size=3)),
            "retry": retries,
            "timeout": durations,
            "disabled": noisy(st.booleans()),
            "position": noisy(st.tuples(st.floats(-10, 10), st.floats(-10, 10)).map(list)),
        },
    )
    .flatmap(lambda node: with_rare(st.just(node), "colour", anything))
    .flatmap(lambda node: with_rare(st.just(node), "title", anything)),
    odds=12,
)
_trigger_common = {
    "inputs": noisy(st.dictionaries(keys, values, max_size=2)),
    "enabled": noisy(st.booleans()),
}
_trigger_fields: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "schedule": {
        "cron": noisy(st.sampled_from(["0 9 * * *", "*/5 * * * *", "61 * * * *", "* * *"])),
        "interval": durations,
        "at": noisy(st.sampled_from(["2026-01-01T00:00:00Z", "yesterday"])),
        "timezone": noisy(st.sampled_from(["UTC", "Europe/Paris", "Mars/Base"])),
        "misfire": st.sampled_from(["skip", "run_once", "never"]),
    },
    "file": {
        "path": noisy(st.text(max_size=5)),
        "glob": st.text(max_size=3),
        "events": noisy(st.lists(st.sampled_from(["created", "moved", "exploded"]), max_size=2)),
        "debounce": durations,
    },
    "webhook": {"name": names, "secret": names},
    "after": {
        "workflow": names,
        "status": st.lists(st.sampled_from(["succeeded", "failed", "maybe"]), max_size=2),
    },
}
triggers = noisy(
    st.sampled_from([*_trigger_fields, "email", None]).flatmap(
        lambda kind: with_rare(
            st.fixed_dictionaries(
                {} if kind is None else {"type": st.just(kind)},
                optional={**_trigger_fields.get(kind or "", {}), **_trigger_common},
            ),
            "cron",
            st.just("0 9 * * *"),
        )
    )
)
input_specs = noisy(
    scalars
    | st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["string", "integer", "number", "any", "date"]),
            "default": scalars,
            "required": noisy(st.booleans()),
            "description": st.text(max_size=5),
        },
    )
)


def section(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return noisy(st.dictionaries(keys, inner, max_size=3))


documents = noisy(
    st.fixed_dictionaries(
        {"name": names, "nodes": noisy(st.dictionaries(keys, nodes, max_size=4))},
        optional={
            "deskpilot": noisy(st.sampled_from([1, 1, 1, 1, 2, "1"])),
            "description": st.text(max_size=8),
            "inputs": section(input_specs),
            "vars": section(scalars),
            "defaults": noisy(
                st.fixed_dictionaries({}, optional={"retry": retries, "timeout": durations})
            ),
            "limits": noisy(
                st.fixed_dictionaries(
                    {}, optional={"max_duration": durations, "max_steps": noisy(st.integers(-1, 9))}
                )
            ),
            "links": noisy(st.lists(link_strings(), max_size=5)),
            "outputs": section(values),
            "triggers": noisy(st.lists(triggers, max_size=2)),
        },
    ).flatmap(lambda doc: with_rare(st.just(doc), "unknown_key", anything)),
    odds=20,
)


# -- the property -----------------------------------------------------------------------


def assert_issues_are_explained(issues: list[ValidationIssue]) -> None:
    for issue in issues:
        assert isinstance(issue.message, str) and issue.message.strip(), issue
        assert issue.line is None or issue.line >= 1
        str(issue)  # formatting an issue never fails


def load_and_validate(text: str) -> None:
    started = time.monotonic()
    try:
        _load_and_validate(text)
    finally:
        elapsed = time.monotonic() - started
        assert elapsed < CASE_BUDGET, f"took {elapsed:.2f} s (budget {CASE_BUDGET} s)"


def _load_and_validate(text: str) -> None:
    try:
        loaded = parse_workflow(text, path=PATH)
    except WorkflowInvalid as exc:
        assert exc.issues, "WorkflowInvalid without issues"
        assert_issues_are_explained(exc.issues)
        return
    except WorkflowError as exc:
        assert str(exc)
        return
    issues = validate(loaded, REGISTRY, secret_names={"k", "token"})
    assert_issues_are_explained(issues)
    # a loaded workflow can always be dumped, and the dump is a document we can read
    try:
        parse_workflow(dump_workflow(loaded.workflow))
    except WorkflowInvalid as exc:
        assert_issues_are_explained(exc.issues)


def as_yaml(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@FUZZ
@given(documents)
def test_malformed_documents_never_crash(document: Any) -> None:
    load_and_validate(as_yaml(document))
    load_and_validate(json.dumps(document, indent=2))


yaml_lines = st.sampled_from(
    ["name: w", "nodes:", "  a:", "    block: kit.emit", "    with: {value: 1}", "  b: {block: kit.text}",
     "links:", "  - a -> b", "  - a.value -> b.text", "- x", "inputs: {n: 3}", "triggers:",
     "  - type: schedule", "    cron: '0 9 * * *'", "outputs: {o: '{{ nodes.a.value }}'}", "---",
     "name: w\nname: v", "  a: {block: kit.emit}", "\t", "{", "}", "[", "]", "'", '"', ": :", "#",
     "nodes: [1, 2]", "vars: {x: 1, x: 2}", "    timeout: 5 parsecs", "    retry: 0", "", "%YAML 1.1",
     "key: |", "  block text", "k: >-", "é: ü", "\x00", "\ufeffname: w",
     # YAML features a hand-written or downloaded file may contain
     "vars: {x: !!python/name:os.system ''}", "vars: {x: !custom tag}", "? [x, y]", ": 1",
     "vars: {x: =}", "vars: {<<: 1}", "vars: {d: 2024-02-30}", "at: 2026-06-01T09:00:00",
     "  x: &a [*a]", "  y: &b {k: *b}", "anchor: &p {max_attempts: 2}", "    retry: *p",
     "vars: {n: .inf, m: .nan, h: 0x1F, o: 0o17, big: 1_000}", "on: off", "yes: no"]
)  # fmt: skip
yaml_texts = st.one_of(
    st.lists(yaml_lines, max_size=14).map("\n".join),
    st.text(max_size=60),
)


@settings(FUZZ, max_examples=300)
@given(yaml_texts)
def test_random_yaml_text_never_crashes(text: str) -> None:
    load_and_validate(text)


# -- cycles agree with plain reachability -------------------------------------------------


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=16),
        )
    )
)
def test_cycles_are_exactly_the_mutually_reachable_groups(
    graph: tuple[int, list[tuple[int, int]]],
) -> None:
    count, pairs = graph
    node_ids = [f"n{i}" for i in range(count)]
    workflow = Workflow.model_validate(
        {
            "name": "g",
            "nodes": {nid: {"block": "kit.emit"} for nid in node_ids},
            "links": [f"n{a} -> n{b}" for a, b in pairs],
        }
    )
    found = WorkflowGraph(workflow).cycles()
    edges: dict[str, set[str]] = {}
    for a, b in pairs:
        edges.setdefault(f"n{a}", set()).add(f"n{b}")
    reach = {nid: reachable(edges, nid) for nid in node_ids}
    expected = {
        frozenset(m for m in node_ids if m in reach[nid] and nid in reach[m]) | {nid}
        for nid in node_ids
        if nid in reach[nid]
    }
    assert {frozenset(component) for component in found} == expected
    for component in found:  # reported in file order
        assert component == sorted(component, key=node_ids.index)
