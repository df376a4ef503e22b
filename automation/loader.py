"""Reading workflow files: YAML (or JSON) text to a validated ``Workflow``.

We parse twice on purpose: once with PyYAML's composer to learn the line of
every key (so an error can say ``report.yaml:14``) and to catch duplicate
keys, which PyYAML otherwise resolves silently by keeping the last; and once
to build the data.  Files are small, so the cost does not matter.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from automation.budgets import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_VALUES, check_time
from automation.errors import ValidationIssue, WorkflowError, WorkflowInvalid
from automation.messages import describe
from automation.model import Workflow

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class LineMap:
    """Line and column numbers (1-based) of keys and items in a parsed document, by path."""

    lines: dict[Loc, int] = field(default_factory=dict)
    columns: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of the longest known prefix of ``loc``."""
        return self.position_of(loc)[0]

    def position_of(self, loc: Loc) -> tuple[int | None, int | None]:
        """(line, column) of the longest known prefix of ``loc``; the column may be unknown."""
        for end in range(len(loc), -1, -1):
            prefix = tuple(loc[:end])
            line = self.lines.get(prefix)
            if line is not None:
                return line, self.columns.get(prefix)
        return None, None


@dataclass(frozen=True)
class LoadedWorkflow:
    """A workflow with where it came from: the text it was parsed from and its hash."""

    workflow: Workflow
    text: str
    content_hash: str
    path: Path | None = None
    lines: LineMap = field(default_factory=LineMap)

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading with libyaml's parser when present (about 12x faster) and
    YAML 1.2 booleans: only true/false.  YAML 1.1 also reads on/off/yes/no as
    booleans, which turns a node called ``on`` into ``True``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


#: How workflow files are read everywhere (the editor and the round-trip writer too),
#: so that ``on``, ``yes`` and ``no`` are the same text to all of them.
WorkflowLoader = _Loader


class _RecursiveAlias(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _OverBudget(Exception):
    """The document nests too deeply or stands for too many values."""

    def __init__(self, line: int, message: str, hint: str) -> None:
        self.line = line
        self.message = message
        self.hint = hint


def _walk(
    node: yaml.Node,
    loc: Loc,
    out: dict[Loc, int],
    columns: dict[Loc, int],
    dupes: list[tuple[Loc, int]],
    sizes: dict[int, int],
    ancestors: set[int],
) -> int:
    """Record the line of every key and item; return how many values ``node`` stands for.

    An alias is walked once, where it is defined, but counted every time it
    is used: the count is what the data will be once aliases are expanded,
    and it must stay under ``MAX_DOCUMENT_VALUES`` (the "billion laughs").
    """
    if loc not in out:
        out[loc] = node.start_mark.line + 1
        columns[loc] = node.start_mark.column + 1
    if id(node) in ancestors:
        raise _RecursiveAlias(node.start_mark.line + 1)
    known = sizes.get(id(node))
    if known is not None:  # an alias: its lines were recorded where it was defined
        return known
    if len(ancestors) >= MAX_DEPTH:
        raise _OverBudget(
            node.start_mark.line + 1,
            f"the document nests more than {MAX_DEPTH} levels deep",
            "flatten it; workflows are a few levels deep",
        )
    check_time()
    ancestors.add(id(node))
    size = 1
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in keys:
                dupes.append((loc + (key,), key_node.start_mark.line + 1))
            keys.add(key)
            out[loc + (key,)] = key_node.start_mark.line + 1
            columns[loc + (key,)] = key_node.start_mark.column + 1
            size += 1 + _walk(value_node, loc + (key,), out, columns, dupes, sizes, ancestors)
            if size > MAX_DOCUMENT_VALUES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[loc + (index,)] = item.start_mark.line + 1
            columns[loc + (index,)] = item.start_mark.column + 1
            size += _walk(item, loc + (index,), out, columns, dupes, sizes, ancestors)
            if size > MAX_DOCUMENT_VALUES:
                break
    ancestors.discard(id(node))
    if size > MAX_DOCUMENT_VALUES:
        raise _OverBudget(
            node.start_mark.line + 1,
            f"the document stands for more than {MAX_DOCUMENT_VALUES:,} values "
            "once its YAML aliases are expanded",
            "a workflow is a few hundred values: use fewer aliases (*name), "
            "and no alias of an alias of a list",
        )
    sizes[id(node)] = size
    return size


def _issue_for_duplicate(loc: Loc, line: int, file: str | None) -> ValidationIssue:
    if len(loc) == 2 and loc[0] == "nodes":
        return ValidationIssue(
            message=f"duplicate node id '{loc[1]}'",
            file=file,
            line=line,
            node=str(loc[1]),
            hint="every node needs its own id; rename one of them",
        )
    return ValidationIssue(
        message=f"key '{loc[-1]}' appears twice",
        file=file,
        line=line,
        field=".".join(str(p) for p in loc),
        hint="remove one of them; the file must not depend on which one wins",
    )


def parse_document(text: str, file: str | None = None) -> tuple[Any, LineMap]:
    """Parse YAML or JSON text; raise WorkflowInvalid on syntax errors or duplicate keys.

    The budgets of ``automation.budgets`` apply: size, values after alias
    expansion, depth, and the time budget when one is set.
    """
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise WorkflowInvalid(
            [
                ValidationIssue(
                    message=f"the file is larger than {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB",
                    file=file,
                    hint="a workflow is a few kilobytes; keep data in files the workflow reads",
                )
            ]
        )
    try:
        return _parse_document(text, file)
    except RecursionError:
        raise WorkflowInvalid(
            [
                ValidationIssue(
                    message="the document is nested too deeply to be a workflow",
                    file=file,
                    hint="flatten it; workflows are a few levels deep",
                )
            ]
        ) from None


def _parse_document(text: str, file: str | None) -> tuple[Any, LineMap]:
    data: Any = _NOT_JSON
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = _NOT_JSON  # perhaps a YAML flow mapping: read it as YAML below
        except ValueError as exc:  # an integer past Python's digit limit
            raise WorkflowInvalid([_digits_issue(exc, file)]) from None
    # JSON may be indented with tabs, which YAML refuses; tabs never change line numbers
    composable = text.expandtabs(8) if data is not _NOT_JSON else text
    try:
        root = yaml.compose(composable, Loader=_Loader)
    except yaml.YAMLError as exc:
        if data is not _NOT_JSON:
            # JSON that YAML cannot read (a surrogate pair escape such as "\ud800\udc00"
            # for a character beyond the BMP): valid, only without line numbers
            _check_json_budget(data, file)
            return data, LineMap({})
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowInvalid(
            [
                ValidationIssue(
                    message=f"not valid YAML/JSON: {problem}",
                    file=file,
                    line=mark.line + 1 if mark is not None else None,
                    column=mark.column + 1 if mark is not None else None,
                    hint="check indentation and quoting near this line",
                )
            ]
        ) from None
    check_time()
    lines: dict[Loc, int] = {}
    columns: dict[Loc, int] = {}
    dupes: list[tuple[Loc, int]] = []
    if root is not None:
        try:
            _walk(root, (), lines, columns, dupes, {}, set())
        except _OverBudget as exc:
            raise WorkflowInvalid(
                [ValidationIssue(message=exc.message, file=file, line=exc.line, hint=exc.hint)]
            ) from None
        except _RecursiveAlias as exc:
            raise WorkflowInvalid(
                [
                    ValidationIssue(
                        message="a YAML anchor refers to itself",
                        file=file,
                        line=exc.line,
                        hint="a workflow must be a tree: remove the self-referencing alias (*name)",
                    )
                ]
            ) from None
    if dupes:
        raise WorkflowInvalid([_issue_for_duplicate(loc, line, file) for loc, line in dupes])
    if data is _NOT_JSON:
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except ValueError as exc:
            if "digits" in str(exc):  # an integer past Python's digit limit
                raise WorkflowInvalid([_digits_issue(exc, file)]) from None
            raise WorkflowInvalid(
                [ValidationIssue(message=f"cannot read this YAML: {exc}", file=file)]
            ) from None
        except (yaml.YAMLError, TypeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            raise WorkflowInvalid(
                [
                    ValidationIssue(
                        message=f"cannot read this YAML: {getattr(exc, 'problem', None) or exc}",
                        file=file,
                        line=mark.line + 1 if mark is not None else None,
                        column=mark.column + 1 if mark is not None else None,
                        hint="remove custom tags (!something) and use plain keys",
                    )
                ]
            ) from None
    return data, LineMap(lines, columns)


_NOT_JSON = object()


def _check_json_budget(data: Any, file: str | None) -> None:
    """The depth and value budgets for parsed JSON, walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_DOCUMENT_VALUES:
            message = (
                f"the document nests more than {MAX_DEPTH} levels deep"
                if depth > MAX_DEPTH
                else f"the document holds more than {MAX_DOCUMENT_VALUES:,} values"
            )
            raise WorkflowInvalid([ValidationIssue(message=message, file=file)])
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _digits_issue(exc: ValueError, file: str | None) -> ValidationIssue:
    match = re.search(r"value has (\d+) digits", str(exc))
    digits = f" ({match.group(1)} digits)" if match else ""
    return ValidationIssue(
        message=f"a number in this file is too long to read{digits}; "
        f"whole numbers may have at most {sys.get_int_max_str_digits() or 4300} digits",
        file=file,
        hint="write it as text (in quotes) if it is an identifier, or shorten it",
    )


_TRIGGER_TAGS = {"schedule", "file", "webhook", "after", "hotkey"}


def _strip_union_tags(loc: Loc) -> Loc:
    """Drop the discriminator tag pydantic inserts after a trigger's index."""
    if len(loc) >= 3 and loc[0] == "triggers" and loc[2] in _TRIGGER_TAGS:
        return loc[:2] + loc[3:]
    return loc


def issues_from_pydantic(
    exc: ValidationError, lines: LineMap, file: str | None
) -> list[ValidationIssue]:
    """Pydantic's errors as issues in Deskpilot's words (``automation.messages``), located."""
    issues = []
    for error in exc.errors():
        loc: Loc = tuple(error["loc"])
        # drop discriminator tags pydantic puts into locations of union members
        clean = _strip_union_tags(loc)
        node = str(clean[1]) if len(clean) >= 2 and clean[0] == "nodes" else None
        field_path = clean[2:] if node is not None else clean
        message, hint = describe({**error, "loc": clean})
        line, column = lines.position_of(clean)
        issues.append(
            ValidationIssue(
                message=message,
                file=file,
                line=line,
                column=column,
                node=node,
                field=".".join(str(p) for p in field_path) or None,
                hint=hint,
            )
        )
    return issues


def parse_workflow(text: str, *, path: Path | None = None) -> LoadedWorkflow:
    """Text to a model-valid workflow (graph checks are `validation.validate`'s job)."""
    file = str(path) if path else None
    data, lines = parse_document(text, file)
    if not isinstance(data, dict):
        raise WorkflowInvalid(
            [
                ValidationIssue(
                    message="a workflow file must be a mapping with at least 'name' and 'nodes'",
                    file=file,
                    line=1,
                    hint="start the file with 'name: my-workflow'",
                )
            ]
        )
    check_time()
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        raise WorkflowInvalid(issues_from_pydantic(exc, lines, file)) from None
    check_time()
    return LoadedWorkflow(
        workflow=workflow, text=text, content_hash=content_hash(text), path=path, lines=lines
    )


def read_workflow_text(path: Path) -> str:
    """A workflow file's text; too large a file is refused before it is read."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise WorkflowError(f"{path}: no such workflow file") from None
    except IsADirectoryError:
        raise WorkflowError(f"{path}: is a folder, not a workflow file") from None
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot be read: {exc.strerror}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise WorkflowInvalid(
            [
                ValidationIssue(
                    message=f"the file is larger than {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB",
                    file=str(path),
                    hint="a workflow is a few kilobytes; keep data in files the workflow reads",
                )
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkflowError(f"{path}: is not UTF-8 text; save it as UTF-8") from None


def read_workflow_file(path: Path) -> LoadedWorkflow:
    return parse_workflow(read_workflow_text(path), path=path)


def dump_workflow(workflow: Workflow) -> str:
    """Canonical YAML for a workflow: keys in model order, links one per line."""
    data = workflow.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["name"] = workflow.name
    data["deskpilot"] = workflow.deskpilot
    if workflow.triggers:  # the discriminator must be written even when it was defaulted
        data["triggers"] = [
            {"type": t.type, **t.model_dump(mode="json", by_alias=True, exclude_unset=True)}
            for t in workflow.triggers
        ]
    for name, spec in workflow.inputs.items():  # always the long form: it reads back the same
        data.setdefault("inputs", {})[name] = spec.model_dump(
            mode="json", exclude_defaults=True
        ) | {"type": spec.type}
    if workflow.links:
        data["links"] = [str(link) for link in workflow.links]
    ordered = {"deskpilot": data.pop("deskpilot"), "name": data.pop("name"), **data}
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)
