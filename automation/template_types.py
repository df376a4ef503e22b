"""What type a template gives, as far as can be told before anything runs.

A string that is one ``{{ expression }}`` with nothing around it keeps the
expression's type; anything else renders to text.  Validation uses this to
warn where a template changes a value's type: a lone ``{{ inputs.n }}``
(a whole number) given to a text field becomes text, and
``"{{ inputs.n }} "`` (a space after it) given to a whole-number field is text
the block must parse.  Types are JSON Schema names (``integer``, ``string``);
``None`` means unknown, and unknown never warns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes

from automation.model import Workflow
from automation.templates import lone_expression

Kinds = frozenset[str]
#: The type of a node's output pin: (node id, pin) -> kinds, or None when unknown.
PinTypes = Callable[[str, str], Kinds | None]

TEXT: Kinds = frozenset({"string"})
_FILTERS: dict[str, Kinds] = {
    "int": frozenset({"integer"}),
    "float": frozenset({"number"}),
    "round": frozenset({"number"}),
    "length": frozenset({"integer"}),
    "count": frozenset({"integer"}),
    "list": frozenset({"array"}),
    "sort": frozenset({"array"}),
    "dictsort": frozenset({"array"}),
    "tojson": TEXT,
    **{
        name: TEXT
        for name in (
            "string",
            "join",
            "upper",
            "lower",
            "trim",
            "title",
            "capitalize",
            "replace",
            "format",
            "truncate",
            "indent",
            "center",
            "urlencode",
        )
    },  # fmt: skip
}


def _const_kinds(value: Any) -> Kinds | None:
    if isinstance(value, bool):
        return frozenset({"boolean"})
    if isinstance(value, int):
        return frozenset({"integer"})
    if isinstance(value, float):
        return frozenset({"number"})
    if isinstance(value, str):
        return TEXT
    if value is None:
        return frozenset({"null"})
    return None


def _path(expr: nodes.Expr) -> list[str] | None:
    """``inputs.n`` or ``nodes['a'].value`` as ['inputs', 'n'] / ['nodes', 'a', 'value']."""
    parts: list[str] = []
    while True:
        if isinstance(expr, nodes.Getattr):
            parts.append(expr.attr)
            expr = expr.node
        elif (
            isinstance(expr, nodes.Getitem)
            and isinstance(expr.arg, nodes.Const)
            and isinstance(expr.arg.value, str)
        ):
            parts.append(expr.arg.value)
            expr = expr.node
        elif isinstance(expr, nodes.Name):
            parts.append(expr.name)
            return parts[::-1]
        else:
            return None


def expression_kinds(expr: nodes.Expr, workflow: Workflow, pins: PinTypes) -> Kinds | None:
    """The types ``expr`` can give, or None when that cannot be told."""
    if isinstance(expr, nodes.Const):
        return _const_kinds(expr.value)
    if isinstance(expr, nodes.TemplateData):
        return TEXT
    if isinstance(expr, nodes.Concat):
        return TEXT
    if isinstance(expr, nodes.Compare | nodes.Not | nodes.Test):
        return frozenset({"boolean"})
    if isinstance(expr, nodes.List):
        return frozenset({"array"})
    if isinstance(expr, nodes.Dict):
        return frozenset({"object"})
    if isinstance(expr, nodes.Filter):
        return _FILTERS.get(expr.name)
    if isinstance(expr, nodes.CondExpr) and expr.expr2 is not None:
        first = expression_kinds(expr.expr1, workflow, pins)
        second = expression_kinds(expr.expr2, workflow, pins)
        return first | second if first is not None and second is not None else None
    path = _path(expr)
    if path is None:
        return None
    if len(path) == 2 and path[0] == "inputs":
        spec = workflow.inputs.get(path[1])
        return frozenset({spec.type}) if spec is not None and spec.type != "any" else None
    if len(path) == 3 and path[0] == "nodes":
        return pins(path[1], path[2])
    return None


def template_kinds(source: str, workflow: Workflow, pins: PinTypes) -> Kinds | None:
    """The types the template ``source`` renders to: text unless it is a lone expression."""
    expr = lone_expression(source)
    if expr is None:
        return TEXT
    return expression_kinds(expr, workflow, pins)
