"""The one place where templates are parsed and rendered.

Templates are Jinja2 in an immutable sandbox: a workflow file is data a user
may have downloaded, so it must not reach Python internals or mutate what it
is given.  A string that is one ``{{ expression }}`` and nothing else, not
even white space, keeps the expression's native type (``"{{ inputs.count }}"``
is an ``int``); any other template renders to a string, so the newline a YAML
block scalar ends with is kept and the value stays text.  A mapping's keys
win over its methods: ``inputs.keys`` is the input named ``keys``.

What a template may compute is bounded (``automation.budgets``), because
Jinja folds constant expressions while it compiles, so ``{{ 7 ** 99999999 }}``
would hang *validation*, not only the run: ``**`` and ``*`` on integers stay
under ``MAX_INT_BITS``; repeating a string or list (``'x' * 10**9``),
padding (``center``, ``indent``, ``ljust``...) and format widths stay under
``MAX_LENGTH``; ``range`` is the sandbox's, at most 100,000 items.  Those
operators and every filter are left to run time (the sandbox intercepts
them, which also keeps the compiler from folding them), where the checks run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from automation.budgets import MAX_INT_BITS, MAX_LENGTH, check_time
from automation.errors import TemplateError

_SINGLE_EXPRESSION = re.compile(r"\A\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%).)*)\}\}\Z", re.S)
#: Names a template may start from.
ROOTS = ("inputs", "vars", "env", "secrets", "nodes", "run")


def _from_json(text: str) -> Any:
    return json.loads(text)


#: A %-format width or precision of six digits or more (10^5 characters).
_WIDE_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d{6,}|\d*\.(?:\*|\d{6,}))")
#: The same in a ``str.format`` field (``{:>99999999}``, ``{:{w}}``).
_WIDE_FORMAT = re.compile(r"\{[^{}]*:[^{}]*(?:\d{6,}|\{)")
#: Filters whose integer arguments size their result.
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate"})
#: ``str`` methods whose integer arguments size their result.
_SIZING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _too_large(what: str) -> SecurityError:
    return SecurityError(f"{what} is over the template limit")


def _check_size(args: Any, kwargs: Mapping[str, Any], what: str) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_LENGTH:
            raise _too_large(f"{what} with {value}")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with arithmetic and sizes bounded (see the module docstring)."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
            bits = max(abs(left).bit_length() - 1, 0) * right
            if bits > MAX_INT_BITS:
                raise _too_large(f"{_short(left)} ** {_short(right)} (about {bits:,} bits)")
        elif operator == "*":
            if _is_int(left) and _is_int(right):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise _too_large("multiplying integers this large")
            else:
                for seq, count in ((left, right), (right, left)):
                    if (
                        isinstance(seq, str | list | tuple)
                        and _is_int(count)
                        and len(seq) * count > MAX_LENGTH
                    ):
                        raise _too_large(f"repeating a {type(seq).__name__} {_short(count)} times")
        elif operator == "%" and isinstance(left, str) and _WIDE_PERCENT.search(left):
            raise _too_large("a %-format width or precision of 10^5 or more (or '*')")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """A mapping's key before its method: an input named ``items`` must not be dict.items."""
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") in _SIZING_METHODS:
            _check_size(args, kwargs, f"str.{__obj.__name__}")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """``str.format`` goes through the sandbox's formatter: refuse huge widths first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDE_FORMAT.search(value.__self__):
            raise _too_large("a format width of 10^5 or more (or a nested width)")
        return wrapped


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = str(value) if not _is_int(value) or value.bit_length() < 64 else "a large number"
    return text[:40]


def _bounded_filter(name: str, func: Any) -> Any:
    """``func`` run only at render time (a context filter is never constant-folded), with
    its sizing arguments checked."""
    kind = _PassArg.from_obj(func)

    @pass_context
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        check_time()
        if name in _SIZING_FILTERS:
            _check_size(args, kwargs, f"the filter {name}")
        elif name == "format" and isinstance(value, str) and _WIDE_PERCENT.search(value):
            raise _too_large("a %-format width or precision of 10^5 or more (or '*')")
        if kind is _PassArg.context:
            return func(context, value, *args, **kwargs)
        if kind is _PassArg.eval_context:
            return func(context.eval_ctx, value, *args, **kwargs)
        if kind is _PassArg.environment:
            return func(context.environment, value, *args, **kwargs)
        return func(value, *args, **kwargs)

    return bounded


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["fromjson"] = _from_json
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent, default=str)
    for name, func in list(env.filters.items()):
        env.filters[name] = _bounded_filter(name, func)
    # lipsum(n) writes n paragraphs with no bound; nothing a workflow needs
    env.globals.pop("lipsum", None)
    return env


_ENV = _make_environment()


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=4096)
def _compile(source: str) -> tuple[bool, Any]:
    """Return (native, compiled) where compiled is an expression or a template."""
    check_time()
    match = _SINGLE_EXPRESSION.match(source)
    try:
        if match:
            return True, _ENV.compile_expression(match.group("expr"), undefined_to_none=False)
        return False, _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message} in {source!r}") from None
    except (RecursionError, MemoryError, SyntaxError):
        # Python's compiler refuses what Jinja's parser took: brackets nested by the thousand
        raise TemplateError(f"template nests too deeply to compile: {_clip(source)}") from None


def _clip(source: str) -> str:
    return repr(source if len(source) <= 80 else source[:80] + "...")


def check_syntax(source: str) -> str | None:
    """The syntax error message for ``source``, or None when it parses."""
    try:
        _compile(source)
    except TemplateError as exc:
        return str(exc)
    return None


def constant_error(source: str) -> str | None:
    """The error a constant ``{{ expression }}`` (one reading no names) raises, else None.

    Validation evaluates such expressions, so ``{{ 7 ** 99999999 }}`` or
    ``{{ 1 / 0 }}`` is reported before anything runs.  Only single expressions
    qualify: they have no loops, and the sandbox bounds what they compute.
    """
    from jinja2 import meta

    match = _SINGLE_EXPRESSION.match(source)
    if match is None:
        return None
    try:
        names = meta.find_undeclared_variables(_ENV.parse("{{" + match.group("expr") + "}}"))
    except TemplateSyntaxError:
        return None
    if not names <= set(_ENV.globals):
        return None
    try:
        render(source, {})
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


def lone_expression(source: str) -> nodes.Expr | None:
    """The parsed expression of a template that keeps its type, else None.

    Only a string that is one ``{{ expression }}`` with nothing around it
    keeps the expression's type; validation reads the expression to tell
    what type it gives.
    """
    match = _SINGLE_EXPRESSION.match(source)
    if match is None:
        return None
    try:
        tree = _ENV.parse("{{" + match.group("expr") + "}}")
    except TemplateSyntaxError:
        return None
    output = tree.body[0] if len(tree.body) == 1 else None
    if isinstance(output, nodes.Output) and len(output.nodes) == 1:
        return output.nodes[0]
    return None
