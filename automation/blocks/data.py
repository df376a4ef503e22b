"""Built-in data blocks: variables, templates, JSON path, regex, compare, math, JSON and CSV.

These blocks are pure functions of their inputs, so every failure is a
mistake in the workflow (a bad expression, a division by zero, malformed
JSON) and none is retryable: running the same step again gives the same error.
Values are JSON-like (``Any`` pins) because they usually come from another
node or a template.
"""

from __future__ import annotations

import csv
import io
import json
import math
import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field

from automation.blocks.base import Block, BlockInput, BlockOutput, Emit
from automation.blocks.context import BlockContext
from automation.errors import BlockError
from automation.model import NAME_PATTERN


def _fail(message: str) -> BlockError:
    return BlockError(message, retryable=False)


# -- variables and text -------------------------------------------------------------


class SetVarInput(BlockInput):
    name: str = Field(pattern=NAME_PATTERN, description="Variable name, used as {{ vars.name }}.")
    value: Any = Field(None, description="Value to store.")


class ValueOutput(BlockOutput):
    value: Any = Field(description="The value.")


class SetVar(Block[SetVarInput]):
    """Set a run variable that later nodes read as ``{{ vars.name }}``.

    The variable is recorded with the step, so a resumed run sees it again.
    """

    id = "data.set_var"
    title = "Set variable"
    category = "data"
    Input = SetVarInput
    Output = ValueOutput

    def run(self, inputs: SetVarInput, ctx: BlockContext) -> ValueOutput:
        ctx.set_var(inputs.name, inputs.value)
        return ValueOutput(value=inputs.value)


class TemplateInput(BlockInput):
    text: str = Field(
        description="Text with {{ ... }} placeholders, e.g. 'report-{{ inputs.date }}'."
    )


class TextOutput(BlockOutput):
    text: str = Field(description="The resulting text.")


class Template(Block[TemplateInput]):
    """Build a piece of text from a template and pass it on.

    Inputs are rendered before the block runs, so this block only hands the
    rendered text to its output: it gives a template a node of its own, to be
    linked to several others.
    """

    id = "data.template"
    title = "Text template"
    category = "data"
    Input = TemplateInput
    Output = TextOutput

    def run(self, inputs: TemplateInput, ctx: BlockContext) -> TextOutput:
        return TextOutput(text=inputs.text)


# -- JSON path ----------------------------------------------------------------------


class JsonPathInput(BlockInput):
    expression: str = Field(
        min_length=1, description="JSONPath expression, e.g. '$.items[?(@.price > 10)].name'."
    )
    data: Any = Field(description="Object or list to query, e.g. an HTTP response's JSON.")


class JsonPathOutput(BlockOutput):
    values: list[Any] = Field(description="Every value matched, in document order.")
    first: Any = Field(description="The first value matched, or null if nothing matched.")
    count: int = Field(description="Number of values matched.")


@lru_cache(maxsize=256)
def _jsonpath(expression: str) -> Any:
    # imported on first use: the supervisor loads this module only to validate workflows
    from jsonpath_ng.ext.parser import parse as parse_jsonpath

    try:
        return parse_jsonpath(expression)
    except Exception as exc:  # jsonpath-ng raises plain Exceptions from its lexer
        raise _fail(f"invalid JSONPath expression {expression!r}: {exc}") from None


class JsonPath(Block[JsonPathInput]):
    """Pick values out of JSON data with a JSONPath expression.

    Supports filters (``[?(@.price > 10)]``), slices, wildcards, ``..`` and
    the extended functions of jsonpath-ng (``len``, ``sorted``, arithmetic).
    """

    id = "data.json_path"
    title = "JSON path"
    category = "data"
    Input = JsonPathInput
    Output = JsonPathOutput

    def run(self, inputs: JsonPathInput, ctx: BlockContext) -> JsonPathOutput:
        parsed = _jsonpath(inputs.expression)
        try:
            values = [match.value for match in parsed.find(inputs.data)]
        except Exception as exc:  # a filter comparing incompatible types, say
            raise _fail(f"JSONPath {inputs.expression!r} failed on this data: {exc}") from None
        return JsonPathOutput(values=values, first=values[0] if values else None, count=len(values))


# -- regular expressions --------------------------------------------------------------


def _ignorecase() -> Any:
    return Field(False, description="Match letters regardless of case.")


def _multiline() -> Any:
    return Field(False, description="^ and $ match at every line, not only the ends.")


def _dotall() -> Any:
    return Field(False, description=". also matches line breaks.")


def _compile(pattern: str, inputs: RegexMatchInput | RegexReplaceInput) -> re.Pattern[str]:
    value = (
        (re.IGNORECASE if inputs.ignorecase else 0)
        | (re.MULTILINE if inputs.multiline else 0)
        | (re.DOTALL if inputs.dotall else 0)
    )
    try:
        return re.compile(pattern, value)
    except re.error as exc:
        raise _fail(f"invalid regular expression {pattern!r}: {exc}") from None


class RegexMatchInput(BlockInput):
    pattern: str = Field(description="Regular expression (Python syntax), e.g. 'Invoice (\\d+)'.")
    text: str = Field(description="Text to search.")
    ignorecase: bool = _ignorecase()
    multiline: bool = _multiline()
    dotall: bool = _dotall()


class RegexMatchOutput(BlockOutput):
    matched: bool = Field(description="Whether the pattern occurs in the text.")
    match: str | None = Field(description="The first match, or null.")
    groups: list[str | None] = Field(description="The first match's groups, in order.")
    named: dict[str, str | None] = Field(description="The first match's named groups.")
    all: list[str] = Field(description="Every non-overlapping match of the whole pattern.")


class RegexMatch(Block[RegexMatchInput]):
    """Search text with a regular expression and output the match and its groups."""

    id = "data.regex_match"
    title = "Regex match"
    category = "data"
    Input = RegexMatchInput
    Output = RegexMatchOutput

    def run(self, inputs: RegexMatchInput, ctx: BlockContext) -> RegexMatchOutput:
        regex = _compile(inputs.pattern, inputs)
        every = [m.group(0) for m in regex.finditer(inputs.text)]
        first = regex.search(inputs.text)
        if first is None:
            return RegexMatchOutput(matched=False, match=None, groups=[], named={}, all=[])
        return RegexMatchOutput(
            matched=True,
            match=first.group(0),
            groups=list(first.groups()),
            named=first.groupdict(),
            all=every,
        )


class RegexReplaceInput(BlockInput):
    pattern: str = Field(description="Regular expression to replace.")
    replacement: str = Field(description="Replacement; \\1 or \\g<name> insert groups.")
    text: str = Field(description="Text to change.")
    count: int = Field(0, ge=0, description="Replace at most this many matches; 0 means all.")
    ignorecase: bool = _ignorecase()
    multiline: bool = _multiline()
    dotall: bool = _dotall()


class RegexReplaceOutput(BlockOutput):
    text: str = Field(description="The text after replacing.")
    replacements: int = Field(description="Number of replacements made.")


class RegexReplace(Block[RegexReplaceInput]):
    """Replace every match of a regular expression in a text."""

    id = "data.regex_replace"
    title = "Regex replace"
    category = "data"
    Input = RegexReplaceInput
    Output = RegexReplaceOutput

    def run(self, inputs: RegexReplaceInput, ctx: BlockContext) -> RegexReplaceOutput:
        regex = _compile(inputs.pattern, inputs)
        try:
            text, count = regex.subn(inputs.replacement, inputs.text, count=inputs.count)
        except (re.error, IndexError) as exc:
            raise _fail(f"invalid replacement {inputs.replacement!r}: {exc}") from None
        return RegexReplaceOutput(text=text, replacements=count)


# -- compare -----------------------------------------------------------------------------

CompareOp = Literal[
    "==", "!=", "<", "<=", ">", ">=", "contains", "startswith", "endswith", "matches", "in"
]
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class CompareInput(BlockInput):
    left: Any = Field(description="Value to test; passed on through yes or no.")
    op: CompareOp = Field("==", description="How to compare left with right.")
    right: Any = Field(None, description="Value to compare with (a pattern for 'matches').")
    ignorecase: bool = Field(False, description="Compare text regardless of case.")


class CompareOutput(BlockOutput):
    yes: Any = Field(description="Emits left when the comparison holds.")
    no: Any = Field(description="Emits left when it does not.")
    result: bool = Field(description="Whether the comparison holds; always emitted.")


_NUMERIC_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_numbers(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Both sides as numbers when one is a number and the other numeric text.

    Text read from a file or a regex match ("42") then compares with a number
    as a user means it; two texts still compare as text ("1.10" != "1.1").
    """
    if _is_number(a) and _is_number(b):
        return a, b
    for number, text, swap in ((a, b, False), (b, a, True)):
        if _is_number(number) and isinstance(text, str) and _NUMERIC_TEXT.match(text):
            parsed = float(text) if re.search(r"[.eE]", text) else int(text)
            return (parsed, number) if swap else (number, parsed)
    return None


def _fold(value: Any, ignorecase: bool) -> Any:
    if not ignorecase:
        return value
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list):
        return [_fold(item, True) for item in value]
    return value


def compare(left: Any, op: str, right: Any, *, ignorecase: bool = False) -> bool:
    """Evaluate one comparison; numeric text is read as a number when compared with one."""
    a, b = _fold(left, ignorecase), _fold(right, ignorecase)
    numbers = _as_numbers(a, b)
    if op in ("==", "!=", *_ORDER) and numbers is not None:
        a, b = numbers
    if op in ("==", "!="):
        return bool(a == b) == (op == "==")
    if op in _ORDER:
        try:
            return _ORDER[op](a, b)
        except TypeError:
            raise _fail(
                f"cannot compare {type(left).__name__} {left!r} with {type(right).__name__} "
                f"{right!r} using '{op}'; convert them to the same type"
            ) from None
    if op == "contains":
        return _contains(a, b)
    if op == "in":
        return _contains(b, a)
    if op == "matches":
        flags = re.IGNORECASE if ignorecase else 0
        try:
            return re.search(str(right), str(left), flags) is not None
        except re.error as exc:
            raise _fail(f"invalid regular expression {right!r}: {exc}") from None
    if op == "startswith":
        return str(a).startswith(str(b))
    return str(a).endswith(str(b))


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return str(item) in container
    if isinstance(container, list | dict | tuple):
        return item in container
    raise _fail(
        f"'contains' and 'in' need text, a list or an object to look in, got "
        f"{type(container).__name__} {container!r}"
    )


class Compare(Block[CompareInput]):
    """Compare two values and branch: ``left`` is emitted on ``yes`` or on ``no``.

    ``result`` is emitted every time.  Numbers given as text ("42") compare as
    numbers against numbers; ``contains`` looks for right in left, ``in`` for
    left in right, ``matches`` searches left with the regular expression right.
    """

    id = "data.compare"
    title = "Compare"
    category = "data"
    Input = CompareInput
    Output = CompareOutput

    def run(self, inputs: CompareInput, ctx: BlockContext) -> Emit:
        result = compare(inputs.left, inputs.op, inputs.right, ignorecase=inputs.ignorecase)
        return Emit({"yes" if result else "no": inputs.left, "result": result})


# -- math ---------------------------------------------------------------------------------

Number = int | float
MathOp = Literal[
    "add", "sub", "mul", "div", "floordiv", "mod", "pow", "min", "max", "round", "abs", "sum", "avg"
]
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
}


class MathInput(BlockInput):
    operation: MathOp = Field(description="What to compute.")
    a: Number | None = Field(None, description="First operand (the number for round and abs).")
    b: Number | None = Field(None, description="Second operand.")
    values: list[Number] | None = Field(
        None, description="Numbers for sum, avg, min and max (else a and b are used)."
    )
    digits: int = Field(0, description="Decimal places for round.")


class MathOutput(BlockOutput):
    result: Number = Field(description="The result.")


class Math(Block[MathInput]):
    """Arithmetic on numbers: a op b, or an aggregate over a list of values."""

    id = "data.math"
    title = "Math"
    category = "data"
    Input = MathInput
    Output = MathOutput

    def run(self, inputs: MathInput, ctx: BlockContext) -> MathOutput:
        op = inputs.operation
        try:
            result = self._compute(inputs)
        except ZeroDivisionError:
            raise _fail(f"division by zero in {op}({inputs.a}, {inputs.b})") from None
        except OverflowError:
            raise _fail(f"the result of {op} is too large") from None
        if isinstance(result, complex) or (isinstance(result, float) and math.isnan(result)):
            raise _fail(f"{op}({inputs.a}, {inputs.b}) has no real result")
        if isinstance(result, float) and math.isinf(result):
            raise _fail(f"the result of {op} is too large")
        return MathOutput(result=result)

    @staticmethod
    def _compute(inputs: MathInput) -> Any:
        op = inputs.operation
        if op in ("min", "max", "sum", "avg"):
            values = inputs.values
            if values is None:
                values = [v for v in (inputs.a, inputs.b) if v is not None]
            if not values and op != "sum":
                raise _fail(f"{op} needs numbers: give 'values' (or 'a' and 'b')")
            if op == "avg":
                return math.fsum(values) / len(values)
            if op == "min":
                return min(values)
            return max(values) if op == "max" else sum(values)
        if inputs.a is None:
            raise _fail(f"{op} needs 'a'")
        if op == "abs":
            return abs(inputs.a)
        if op == "round":
            return round(inputs.a, inputs.digits) if inputs.digits else round(inputs.a)
        if inputs.b is None:
            raise _fail(f"{op} needs 'b'")
        return _BINARY[op](inputs.a, inputs.b)


# -- JSON ---------------------------------------------------------------------------------


class ToJsonInput(BlockInput):
    value: Any = Field(description="Value to turn into JSON text.")
    indent: int | None = Field(None, ge=0, description="Spaces per level; none for one line.")
    sort_keys: bool = Field(False, description="Sort object keys.")


class ToJson(Block[ToJsonInput]):
    """Turn a value into JSON text."""

    id = "data.to_json"
    title = "To JSON"
    category = "data"
    Input = ToJsonInput
    Output = TextOutput

    def run(self, inputs: ToJsonInput, ctx: BlockContext) -> TextOutput:
        try:
            text = json.dumps(
                inputs.value, indent=inputs.indent, sort_keys=inputs.sort_keys, ensure_ascii=False
            )
        except (TypeError, ValueError) as exc:
            raise _fail(f"the value cannot be written as JSON: {exc}") from None
        return TextOutput(text=text)


class FromJsonInput(BlockInput):
    text: str = Field(description="JSON text to parse.")


class FromJson(Block[FromJsonInput]):
    """Parse JSON text into a value."""

    id = "data.from_json"
    title = "From JSON"
    category = "data"
    Input = FromJsonInput
    Output = ValueOutput

    def run(self, inputs: FromJsonInput, ctx: BlockContext) -> ValueOutput:
        try:
            value = json.loads(inputs.text)
        except json.JSONDecodeError as exc:
            # masked before it is cut and quoted: cut first, a secret's prefix would stay
            line = ctx.redactor.clip(inputs.text.split("\n")[exc.lineno - 1].strip(), 60)
            raise _fail(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                + (f" near {line!r}" if line else "")
            ) from None
        return ValueOutput(value=value)


# -- CSV ----------------------------------------------------------------------------------


def _delimiter() -> Any:
    return Field(",", min_length=1, max_length=1, description="Field separator, e.g. ',' or ';'.")


class ToCsvInput(BlockInput):
    rows: list[Any] = Field(description="Rows: a list of objects, or a list of lists.")
    columns: list[str] | None = Field(
        None, description="Column order (and header); default: the keys in order of appearance."
    )
    delimiter: str = _delimiter()
    header: bool = Field(True, description="Write a header line with the column names.")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


class ToCsv(Block[ToCsvInput]):
    """Turn rows (objects or lists) into CSV text.

    Missing keys become empty cells; nested objects and lists are written as
    JSON.
    """

    id = "data.to_csv"
    title = "To CSV"
    category = "data"
    Input = ToCsvInput
    Output = TextOutput

    def run(self, inputs: ToCsvInput, ctx: BlockContext) -> TextOutput:
        rows = inputs.rows
        out = io.StringIO()
        writer = csv.writer(out, delimiter=inputs.delimiter, lineterminator="\n")
        if all(isinstance(row, dict) for row in rows):
            columns = inputs.columns or list(dict.fromkeys(key for row in rows for key in row))
            body = [[row.get(col) for col in columns] for row in rows]
        elif all(isinstance(row, list) for row in rows):
            columns = inputs.columns or []
            body = rows
        else:
            raise _fail("rows must be all objects or all lists, not a mix or plain values")
        if inputs.header and columns:
            writer.writerow(columns)
        writer.writerows([_cell(v) for v in row] for row in body)
        return TextOutput(text=out.getvalue())


class FromCsvInput(BlockInput):
    text: str = Field(description="CSV text to parse.")
    delimiter: str = _delimiter()
    header: bool = Field(True, description="The first line holds the column names.")


class FromCsvOutput(BlockOutput):
    rows: list[Any] = Field(description="Objects keyed by column name with a header, else lists.")
    columns: list[str] = Field(description="Column names from the header; empty without one.")
    count: int = Field(description="Number of data rows.")


class FromCsv(Block[FromCsvInput]):
    """Parse CSV text into rows.

    Blank lines are skipped; short rows are padded with empty cells, and a row
    longer than the header is an error, so no value is silently dropped.
    """

    id = "data.from_csv"
    title = "From CSV"
    category = "data"
    Input = FromCsvInput
    Output = FromCsvOutput

    def run(self, inputs: FromCsvInput, ctx: BlockContext) -> FromCsvOutput:
        reader = csv.reader(
            io.StringIO(inputs.text.removeprefix("\ufeff")), delimiter=inputs.delimiter
        )
        try:
            lines = [(reader.line_num, row) for row in reader if row]
        except csv.Error as exc:
            raise _fail(f"invalid CSV at line {reader.line_num}: {exc}") from None
        if not inputs.header:
            rows: list[Any] = [row for _, row in lines]
            return FromCsvOutput(rows=rows, columns=[], count=len(rows))
        if not lines:
            return FromCsvOutput(rows=[], columns=[], count=0)
        columns = lines[0][1]
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise _fail(f"the CSV header repeats column(s) {duplicates}; rename them")
        rows = []
        for line, row in lines[1:]:
            if len(row) > len(columns):
                raise _fail(
                    f"CSV line {line} has {len(row)} fields but the header has {len(columns)}; "
                    "check the delimiter and quoting"
                )
            rows.append(dict(zip(columns, row + [""] * (len(columns) - len(row)), strict=True)))
        return FromCsvOutput(rows=rows, columns=columns, count=len(rows))


BLOCKS = (
    SetVar,
    Template,
    JsonPath,
    RegexMatch,
    RegexReplace,
    Compare,
    Math,
    ToJson,
    FromJson,
    ToCsv,
    FromCsv,
)
