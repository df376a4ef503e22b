"""The one place where templates are parsed and rendered.

Templates are Jinja2 in an immutable sandbox: a workflow file is data a user
may have downloaded, so it must not reach Python internals or mutate what it
is given.  A string that is one ``{{ expression }}`` and nothing else keeps
the expression's native type (``"{{ inputs.count }}"`` is an ``int``); any
other template renders to a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from automation.errors import TemplateError

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%).)*)\}\}\s*$", re.S)
#: Names a template may start from.
ROOTS = ("inputs", "vars", "env", "secrets", "nodes", "run")


def _from_json(text: str) -> Any:
    return json.loads(text)


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["fromjson"] = _from_json
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent, default=str)
    return env


_ENV = _make_environment()


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=4096)
def _compile(source: str) -> tuple[bool, Any]:
    """Return (native, compiled) where compiled is an expression or a template."""
    match = _SINGLE_EXPRESSION.match(source)
    try:
        if match:
            return True, _ENV.compile_expression(match.group("expr"), undefined_to_none=False)
        return False, _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message} in {source!r}") from None


def check_syntax(source: str) -> str | None:
    """The syntax error message for ``source``, or None when it parses."""
    try:
        _compile(source)
    except TemplateError as exc:
        return str(exc)
    return None


def render(source: str, scope: Mapping[str, Any]) -> Any:
    """Render one template string against ``scope``.

    Raises ``TemplateError`` with the Jinja message when a name is undefined
    or the sandbox refuses an operation.
    """
    native, compiled = _compile(source)
    try:
        if native:
            return _defined(compiled(**scope), source)
        return compiled.render(**scope)
    except UndefinedError as exc:
        raise TemplateError(f"{exc.message} in {source!r}") from None
    except SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {exc} in {source!r}") from None
    except TemplateError:
        raise
    except Exception as exc:  # an error inside the expression: division by zero, bad filter arg
        raise TemplateError(f"{type(exc).__name__}: {exc} in {source!r}") from None


def _defined(value: Any, source: str) -> Any:
    """A native result must not hide an undefined name (the sandbox also answers
    forbidden attributes with undefined): touching it raises the precise error."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming what is missing
        raise TemplateError(f"{source!r} is undefined")
    if isinstance(value, list | tuple):
        for item in value:
            _defined(item, source)
    elif isinstance(value, dict):
        for key, item in value.items():
            _defined(key, source)
            _defined(item, source)
    return value


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render templates anywhere inside a literal (strings, lists, dicts)."""
    if isinstance(value, str):
        return render(value, scope) if is_template(value) else value
    if isinstance(value, list):
        return [render_value(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: render_value(item, scope) for key, item in value.items()}
    return value


def contains_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, list):
        return any(contains_template(item) for item in value)
    if isinstance(value, dict):
        return any(contains_template(item) for item in value.values())
    return False


def iter_templates(value: Any) -> Iterator[str]:
    """Every template string inside a literal."""
    if isinstance(value, str):
        if is_template(value):
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from iter_templates(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_templates(item)


def references(source: str) -> set[tuple[str, str | None]]:
    """The (root, first attribute) pairs a template reads, e.g. ('secrets', 'token').

    Validation uses this to check secrets exist and that a template only
    reads nodes upstream of its own.  The attribute is None when the template
    indexes the root dynamically.
    """
    match = _SINGLE_EXPRESSION.match(source)
    text = source if not match else "{{" + match.group("expr") + "}}"
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError:
        return set()
    found: set[tuple[str, str | None]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            found.add((node.node.name, node.attr))
        elif isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name):
            arg = node.arg
            key = arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None
            found.add((node.node.name, key))
    return {ref for ref in found if ref[0] in ROOTS}


def undeclared_roots(source: str) -> set[str]:
    """Top-level names a template uses that no scope provides."""
    from jinja2 import meta

    match = _SINGLE_EXPRESSION.match(source)
    text = source if not match else "{{" + match.group("expr") + "}}"
    try:
        names = meta.find_undeclared_variables(_ENV.parse(text))
    except TemplateSyntaxError:
        return set()
    return {name for name in names if name not in ROOTS and name not in _ENV.globals}
