"""What the property form needs to know about a block's inputs, read from its JSON Schema.

The form is generated from the schema so that third-party blocks need no GUI
code.  Each input becomes a ``FieldSpec`` whose ``kind`` picks the editor
widget; values are checked with a pydantic ``TypeAdapter`` built from the
field's annotation *and* its metadata (so ``min_length``, durations and other
validators apply exactly as they will at run time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from automation.messages import describe_all
from automation.templates import check_syntax, is_template

FieldKind = Literal["string", "integer", "number", "boolean", "enum", "json", "any"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    required: bool
    has_default: bool
    default: Any
    title: str
    description: str
    enum: tuple[Any, ...] = ()
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    #: a raw input keeps template text unrendered (control.while's condition)
    raw: bool = False
    #: an array of strings (a command line): edited as rows, one item a row (``list_field``)
    string_list: bool = False

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = {**defs.get(schema["$ref"].split("/")[-1], {}), **{
            k: v for k, v in schema.items() if k != "$ref"
        }}  # fmt: skip
    return schema


def _classify(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[FieldKind, bool, dict[str, Any]]:
    """(kind, nullable, the schema that decided it)."""
    prop = _resolve(prop, defs)
    if "enum" in prop:
        return "enum", False, prop
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        resolved = [_resolve(option, defs) for option in options]
        nullable = any(option.get("type") == "null" for option in resolved)
        rest = [option for option in resolved if option.get("type") != "null"]
        if len(rest) == 1:
            only, _nullable, decided = _classify(rest[0], defs)
            return only, nullable, decided
        types = {option.get("type") for option in rest}
        if types <= {"integer", "number"}:
            return "number", nullable, rest[-1]
        if types <= {"object", "array"}:
            return "json", nullable, prop
        return "any", nullable, prop
    kind = prop.get("type")
    if isinstance(kind, list):
        return "any", "null" in kind, prop
    if kind == "string":
        return "string", False, prop
    if kind == "integer":
        return "integer", False, prop
    if kind == "number":
        return "number", False, prop
    if kind == "boolean":
        return "boolean", False, prop
    if kind in ("object", "array"):
        return "json", False, prop
    return "any", False, prop


@lru_cache(maxsize=512)
def field_specs(
    model: type[BaseModel], raw_inputs: frozenset[str] = frozenset()
) -> tuple[FieldSpec, ...]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    specs = []
    for name, prop in schema.get("properties", {}).items():
        kind, nullable, decided = _classify(prop, defs)
        info = model.model_fields.get(name)
        has_default = info is not None and not info.is_required()
        default = info.get_default(call_default_factory=True) if has_default and info else None
        specs.append(
            FieldSpec(
                name=name,
                kind=kind,
                required=name in required,
                has_default=has_default,
                default=default,
                title=str(prop.get("title") or name),
                description=str(prop.get("description") or decided.get("description") or ""),
                enum=tuple(decided.get("enum", ())),
                nullable=nullable,
                minimum=_bound(decided, "minimum", "exclusiveMinimum", +1),
                maximum=_bound(decided, "maximum", "exclusiveMaximum", -1),
                raw=name in raw_inputs,
                string_list=kind == "json"
                and decided.get("type") == "array"
                and decided.get("items", {}).get("type") == "string",
            )
        )
    return tuple(specs)


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, nudge: int) -> float | None:
    if inclusive in schema:
        return float(schema[inclusive])
    if exclusive in schema:
        return float(schema[exclusive]) + nudge * (1 if schema.get("type") == "integer" else 1e-9)
    return None


@lru_cache(maxsize=2048)
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = Any if info.annotation is None else info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def check_value(model: type[BaseModel], spec: FieldSpec, value: Any) -> str | None:
    """What is wrong with ``value`` for this input, in words for the form; None when fine.

    Templates are only checked for syntax: their value is known at run time.
    """
    if isinstance(value, str) and (spec.raw or is_template(value)):
        return check_syntax(value) if is_template(value) else None
    try:
        _adapter(model, spec.name).validate_python(value)
    except ValidationError as exc:
        return describe_all(exc)  # the words the CLI and the problems list use
    return None


def parse_loose(text: str) -> Any:
    """Text typed into an untyped field: JSON when it parses (42, true, [1, 2]), else the text.

    Quote a number to keep it text: ``"42"``.
    """
    stripped = text.strip()
    if not stripped:
        return text
    try:
        return json.loads(stripped)
    except ValueError:
        return text


def format_loose(value: Any) -> str:
    """The text ``parse_loose`` turns back into ``value``."""
    if isinstance(value, str):
        return value if parse_loose(value) == value else json.dumps(value)
    return json.dumps(value, ensure_ascii=False)
