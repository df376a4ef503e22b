"""Graph-level validation: everything that can be checked before anything runs.

Model-level problems (bad durations, cron strings, unknown fields) are found
by pydantic while loading; this module checks what needs the block registry
and the whole graph.  Every problem is collected, none stops the search, and
each names the file, line, node and field and says what would fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from automation.blocks.base import Block, BlockOutput
from automation.blocks.lazy_schema import json_schema_of
from automation.blocks.registry import BlockRegistry
from automation.budgets import check_time
from automation.errors import (
    Severity,
    ValidationIssue,
    WorkflowError,
    WorkflowInvalid,
    errors_only,
)
from automation.graph import WorkflowGraph
from automation.loader import LineMap, LoadedWorkflow, read_workflow_file
from automation.messages import describe, kind_name
from automation.model import DONE_PIN, ERROR_PIN, TRIGGER_PIN, Workflow
from automation.template_types import template_kinds
from automation.templates import (
    ROOTS,
    check_syntax,
    constant_error,
    is_template,
    iter_templates,
    lone_expression,
    references,
    undeclared_roots,
)

ANY = None  # a pin that accepts or carries anything


def _schema_types(schema: dict[str, Any], defs: dict[str, Any]) -> set[str] | None:
    if "$ref" in schema:
        return _schema_types(defs.get(schema["$ref"].split("/")[-1], {}), defs)
    if "anyOf" in schema:
        kinds: set[str] = set()
        for option in schema["anyOf"]:
            sub = _schema_types(option, defs)
            if sub is None:
                return None
            kinds |= sub
        return kinds - {"null"} or None
    kind = schema.get("type")
    if kind is None:
        return None if "enum" not in schema and "const" not in schema else {"string"}
    return {kind} if isinstance(kind, str) else set(kind)


@lru_cache(maxsize=4096)
def pin_types(model: type[Any], pin: str) -> frozenset[str] | None:
    """JSON types a model field carries, or None when it is untyped (Any).

    Read from the schema alone: checking a workflow's links must not compile
    every block model it names into the daemon's memory.
    """
    schema = json_schema_of(model)
    prop = schema.get("properties", {}).get(pin)
    if prop is None:
        return None
    kinds = _schema_types(prop, schema.get("$defs", {}))
    return frozenset(kinds) if kinds is not None else None


def types_compatible(source: frozenset[str] | None, target: frozenset[str] | None) -> bool:
    if source is None or target is None:
        return True
    if source & target:
        return True
    return "integer" in source and "number" in target


@lru_cache(maxsize=4096)
def _field_adapter(model: type[Any], name: str) -> TypeAdapter[Any]:
    """The field's type with its constraints and validators (durations, min_length...)."""
    info = model.model_fields[name]
    annotation: Any = Any if info.annotation is None else info.annotation
    if info.metadata:
        annotation = Annotated[annotation, *info.metadata]
    return TypeAdapter(annotation)


class _Checker:
    def __init__(
        self,
        loaded: LoadedWorkflow,
        registry: BlockRegistry,
        secret_names: Iterable[str] | None,
        warnings: bool = False,
        known_hosts: Iterable[str] | None = None,
    ) -> None:
        self.loaded = loaded
        self.known_hosts = None if known_hosts is None else set(known_hosts)
        self.workflow: Workflow = loaded.workflow
        self.registry = registry
        self.secret_names = set(secret_names) if secret_names is not None else None
        self.file = str(loaded.path) if loaded.path else None
        self.lines: LineMap = loaded.lines
        self.graph = WorkflowGraph(self.workflow)
        self.issues: list[ValidationIssue] = []
        self.warnings = warnings

    def add(
        self,
        message: str,
        *,
        loc: tuple[str | int, ...] = (),
        node: str | None = None,
        field: str | None = None,
        hint: str | None = None,
        severity: Severity = "error",
    ) -> None:
        line, column = self.lines.position_of(loc) if loc else (None, None)
        self.issues.append(
            ValidationIssue(
                message=message,
                file=self.file,
                line=line,
                column=column,
                node=node,
                field=field,
                hint=hint,
                severity=severity,
            )
        )

    def block_of(self, node_id: str) -> type[Block[Any]] | None:
        node = self.workflow.nodes.get(node_id)
        return self.registry.get(node.block) if node else None

    # ------------------------------------------------------------------------
    def run(self) -> list[ValidationIssue]:
        if not self.workflow.nodes:
            self.add("the workflow has no nodes", loc=("nodes",), hint="add at least one node")
        for node_id in self.workflow.nodes:
            check_time()
            self.check_node(node_id)
        for index, _link in enumerate(self.workflow.links):
            check_time()
            self.check_link(index)
        check_time()
        self.check_required_inputs()
        self.check_cycles()
        for name, value in self.workflow.outputs.items():
            self.check_templates(value, loc=("outputs", name), node=None, field=f"outputs.{name}")
        for index, trigger in enumerate(self.workflow.triggers):
            for key in trigger.inputs:
                if key not in self.workflow.inputs:
                    self.add(
                        f"trigger sets unknown input '{key}'",
                        loc=("triggers", index, "inputs", key),
                        field=f"triggers[{index}].inputs.{key}",
                        hint=f"declare it under 'inputs:' or remove it; inputs: {self._names(self.workflow.inputs)}",
                    )
            self.check_host(index, trigger.on)
        return self.issues

    def check_host(self, index: int, host: str | None) -> None:
        """A trigger's ``on:`` names a machine no supervisor ever ran on: a typo, or a new one.

        A warning, not an error: a machine may join the database later.
        """
        if not self.warnings or host is None or self.known_hosts is None:
            return
        if host in self.known_hosts:
            return
        self.add(
            f"no supervisor on a machine named '{host}' has joined this database; "
            "until one does, its fires are recorded as not run",
            loc=("triggers", index, "on"),
            field=f"triggers[{index}].on",
            hint=f"known machines: {self._names(self.known_hosts)} "
            "('deskpilot machines' lists them); fix the name if it is a typo",
            severity="warning",
        )

    @staticmethod
    def _names(items: Iterable[str]) -> str:
        names = sorted(items)
        return ", ".join(names) if names else "(none)"

    def check_node(self, node_id: str) -> None:
        node = self.workflow.nodes[node_id]
        block = self.registry.get(node.block)
        if block is None:
            similar = self.registry.similar(node.block)
            self.add(
                f"unknown block '{node.block}'",
                loc=("nodes", node_id, "block"),
                node=node_id,
                field="block",
                hint=(f"did you mean {' or '.join(repr(s) for s in similar)}? " if similar else "")
                + "run 'deskpilot blocks list' to see every block",
            )
            return
        fields = block.Input.model_fields
        for name, value in node.with_.items():
            loc = ("nodes", node_id, "with", name)
            if name not in fields:
                close = difflib.get_close_matches(name, fields, n=1)
                self.add(
                    f"block {block.id} has no input '{name}'",
                    loc=loc,
                    node=node_id,
                    field=name,
                    hint=(f"did you mean '{close[0]}'? " if close else "")
                    + f"inputs of {block.id}: {self._names(fields)}",
                )
                continue
            if name in block.raw_inputs:
                if isinstance(value, str):
                    # raw inputs are expressions whose braces are optional
                    source = value if "{{" in value or "{%" in value else "{{ " + value + " }}"
                    self.check_template_source(source, loc=loc, node=node_id, field=name)
                continue
            templates = list(iter_templates(value))
            for source in templates:
                self.check_template_source(source, loc=loc, node=node_id, field=name)
            if not templates:
                try:
                    _field_adapter(block.Input, name).validate_python(value)
                except ValidationError as exc:
                    message, hint = describe(exc.errors()[0])
                    self.add(
                        f"wrong type for input '{name}': {message}",
                        loc=loc,
                        node=node_id,
                        field=name,
                        hint=hint
                        or f"{block.id} takes {_say_types(pin_types(block.Input, name))} "
                        f"for '{name}'",
                    )
            elif self.warnings:
                self.check_type_change(block, node_id, name, value, loc)
        self.check_subflow_path(node_id, block)

    def check_type_change(
        self,
        block: type[Block[Any]],
        node_id: str,
        name: str,
        value: Any,
        loc: tuple[str | int, ...],
    ) -> None:
        """Warn where a template gives ``name`` a value of another type than it takes."""
        if not isinstance(value, str) or not is_template(value) or check_syntax(value):
            return
        wanted = pin_types(block.Input, name)
        if wanted is None:
            return
        given = template_kinds(value, self.workflow, self.pin_kinds)
        if given is None or types_compatible(given, wanted):
            return
        if lone_expression(value) is None:
            self.add(
                f"this template renders to text, but {block.id} takes "
                f"{_say_types(wanted)} for '{name}'",
                loc=loc,
                node=node_id,
                field=name,
                hint="anything around {{ }}, even a space or a newline, makes text; "
                "write the expression alone to keep its type",
                severity="warning",
            )
            return
        becomes = (
            "; it is passed on as text"
            if "string" in wanted and given <= {"integer", "number"}
            else ""
        )
        converter = next(
            (f for kind, f in (("string", "string"), ("integer", "int"), ("number", "float"))
             if kind in wanted),
            None,
        )  # fmt: skip
        expression = value.strip()[2:-2].strip()
        self.add(
            f"'{value}' gives {_say_types(given)}, but {block.id} takes "
            f"{_say_types(wanted)} for '{name}'{becomes}",
            loc=loc,
            node=node_id,
            field=name,
            hint=f"if that is meant, say so: '{{{{ {expression} | {converter} }}}}'"
            if converter
            else "check the type of what the template reads",
            severity="warning",
        )

    def pin_kinds(self, node_id: str, pin: str) -> frozenset[str] | None:
        """The types a node's output pin carries (for the template type warnings)."""
        block = self.block_of(node_id)
        if block is None:
            return None
        if pin not in block.Output.model_fields and pin not in (DONE_PIN, ERROR_PIN):
            return None
        return self.output_types(block, pin)

    def check_subflow_path(self, node_id: str, block: type[Block[Any]]) -> None:
        if block.id != "control.subflow":
            return
        path = self.workflow.nodes[node_id].with_.get("path")
        if not isinstance(path, str) or "{{" in path:
            return
        base = self.loaded.directory
        target = Path(path).expanduser()
        target = target if target.is_absolute() else base / target
        if not target.is_file():
            self.add(
                f"subflow file '{path}' does not exist (looked in {base})",
                loc=("nodes", node_id, "with", "path"),
                node=node_id,
                field="path",
                hint="paths are relative to this workflow file's folder",
            )

    def check_template_source(
        self, source: str, *, loc: tuple[str | int, ...], node: str | None, field: str
    ) -> None:
        error = check_syntax(source)
        if error:
            self.add(error, loc=loc, node=node, field=field, hint="fix the {{ }} / {% %} syntax")
            return
        error = constant_error(source)
        if error:
            self.add(error, loc=loc, node=node, field=field, hint="this expression always fails")
            return
        for name in sorted(undeclared_roots(source)):
            self.add(
                f"template uses unknown name '{name}'",
                loc=loc,
                node=node,
                field=field,
                hint=f"templates read from {', '.join(r + '.' for r in ROOTS)}"
                f" e.g. '{{{{ inputs.{name} }}}}' or '{{{{ nodes.{name}.<pin> }}}}'",
            )
        upstream = self.graph.ancestors(node) if node is not None else None
        for root, attr in sorted(references(source), key=lambda r: (r[0], r[1] or "")):
            if attr is None:
                continue
            if root == "inputs" and attr not in self.workflow.inputs:
                self.add(
                    f"template reads undeclared input '{attr}'",
                    loc=loc,
                    node=node,
                    field=field,
                    hint=f"declare it under 'inputs:'; declared: {self._names(self.workflow.inputs)}",
                )
            elif (
                root == "secrets"
                and self.secret_names is not None
                and attr not in self.secret_names
            ):
                self.add(
                    f"unknown secret '{attr}'",
                    loc=loc,
                    node=node,
                    field=field,
                    hint=f"add it with: deskpilot secrets set {attr}",
                )
            elif root == "nodes":
                if attr not in self.workflow.nodes:
                    self.add(
                        f"template reads unknown node '{attr}'",
                        loc=loc,
                        node=node,
                        field=field,
                        hint=f"nodes: {self._names(self.workflow.nodes)}",
                    )
                elif upstream is not None and attr not in upstream:
                    self.add(
                        f"template reads node '{attr}', which is not upstream of '{node}'",
                        loc=loc,
                        node=node,
                        field=field,
                        hint=f"add a link such as '{attr} -> {node}' so it runs first",
                    )

    def check_templates(
        self, value: Any, *, loc: tuple[str | int, ...], node: str | None, field: str
    ) -> None:
        for source in iter_templates(value):
            self.check_template_source(source, loc=loc, node=node, field=field)

    def check_link(self, index: int) -> None:
        link = self.workflow.links[index]
        loc: tuple[str | int, ...] = ("links", index)
        field = f"links[{index}]"
        ok = True
        for end, node_id in (("source", link.source), ("target", link.target)):
            if node_id not in self.workflow.nodes:
                ok = False
                self.add(
                    f"link '{link}' has unknown {end} node '{node_id}'",
                    loc=loc,
                    node=node_id,
                    field=field,
                    hint=f"nodes: {self._names(self.workflow.nodes)}",
                )
        if not ok:
            return
        source_block, target_block = self.block_of(link.source), self.block_of(link.target)
        if source_block is None or target_block is None:
            return  # the unknown block is reported on its node
        source_pins = set(source_block.Output.model_fields) | {DONE_PIN, ERROR_PIN}
        if link.source_pin not in source_pins:
            self.add(
                f"block {source_block.id} has no output '{link.source_pin}'",
                loc=loc,
                node=link.source,
                field=field,
                hint=f"outputs of {source_block.id}: {self._names(source_pins)}",
            )
            ok = False
        target_pins = set(target_block.Input.model_fields) | {TRIGGER_PIN}
        if link.target_pin not in target_pins:
            self.add(
                f"block {target_block.id} has no input '{link.target_pin}'",
                loc=loc,
                node=link.target,
                field=field,
                hint=f"inputs of {target_block.id}: {self._names(target_pins)}",
            )
            ok = False
        if not ok or link.target_pin == TRIGGER_PIN:
            return
        if link.target_pin in self.workflow.nodes[link.target].with_:
            self.add(
                f"input '{link.target_pin}' of node '{link.target}' is both linked and set in 'with'",
                loc=loc,
                node=link.target,
                field=link.target_pin,
                hint="keep one: remove the value under 'with' or remove the link",
            )
        source_types = self.output_types(source_block, link.source_pin)
        target_types = pin_types(target_block.Input, link.target_pin)
        if not types_compatible(source_types, target_types):
            self.add(
                f"link '{link}' joins {_describe_types(source_types)} output to "
                f"{_describe_types(target_types)} input",
                loc=loc,
                node=link.target,
                field=link.target_pin,
                hint="convert it on the way, e.g. with a data.template node "
                "or a template such as '{{ nodes.x.value | string }}'",
            )

    @staticmethod
    def output_types(block: type[Block[Any]], pin: str) -> frozenset[str] | None:
        if pin == DONE_PIN:
            return frozenset({"boolean"})
        if pin == ERROR_PIN:
            return frozenset({"object"})
        output: type[BlockOutput] = block.Output
        return pin_types(output, pin)

    def check_required_inputs(self) -> None:
        for node_id in self.graph.nodes:
            block = self.block_of(node_id)
            if block is None:
                continue
            node = self.workflow.nodes[node_id]
            linked = self.graph.linked_pins(node_id)
            for name, info in block.Input.model_fields.items():
                if info.is_required() and name not in node.with_ and name not in linked:
                    self.add(
                        f"required input '{name}' of {block.id} has no value",
                        loc=("nodes", node_id),
                        node=node_id,
                        field=name,
                        hint=f"set it under 'with:' or link an output to '{node_id}.{name}'",
                    )

    def check_cycles(self) -> None:
        for component in self.graph.cycles():
            if any((b := self.block_of(n)) is not None and b.loop for n in component):
                continue
            self.add(
                f"nodes {' -> '.join(component)} form a cycle",
                loc=("links",),
                node=component[0],
                hint="a cycle must pass through a loop block (control.while, control.for_each); "
                "remove one of the links",
            )


def _describe_types(types: frozenset[str] | None) -> str:
    if types is None:
        return "any"
    return " or ".join(sorted(types))


def _say_types(types: frozenset[str] | None) -> str:
    """Types as a person says them: ``a whole number or text``."""
    if types is None:
        return "anything"
    return " or ".join(kind_name(kind) for kind in sorted(types))


def referenced_secrets(workflow: Workflow) -> set[str]:
    """Names of the secrets a workflow's templates read (so we ask the keyring only if needed)."""
    names: set[str] = set()
    values: list[Any] = [node.with_ for node in workflow.nodes.values()]
    values += [workflow.outputs, [t.inputs for t in workflow.triggers]]
    for value in values:
        for source in iter_templates(value):
            names |= {attr for root, attr in references(source) if root == "secrets" and attr}
    return names


def validate(
    loaded: LoadedWorkflow,
    registry: BlockRegistry,
    *,
    secret_names: Iterable[str] | None = None,
    warnings: bool = False,
    known_hosts: Iterable[str] | None = None,
) -> list[ValidationIssue]:
    """Every problem in a loaded workflow; no errors means it may run.

    ``secret_names`` are the secrets known to the keyring; None skips that
    check.  With ``warnings`` the list also holds warnings (severity
    ``"warning"``): things that run but are probably not meant, such as a
    template that changes a value's type.  Callers that decide whether a
    workflow may run leave them out (the default), or filter with
    ``errors_only``.  ``known_hosts`` are the machines of the database's
    supervisors: a trigger's ``on:`` naming another is a warning (None skips
    that check).
    """
    return _Checker(loaded, registry, secret_names, warnings, known_hosts).run()


def load_valid(
    path: Path,
    registry: BlockRegistry,
    *,
    secret_names: Iterable[str] | None = None,
) -> LoadedWorkflow:
    """Read and validate a file; raise WorkflowInvalid with every issue, or WorkflowError."""
    loaded = read_workflow_file(path)
    issues = errors_only(validate(loaded, registry, secret_names=secret_names))
    if issues:
        raise WorkflowInvalid(issues)
    return loaded


__all__ = [
    "WorkflowError",
    "WorkflowInvalid",
    "errors_only",
    "load_valid",
    "types_compatible",
    "validate",
]
