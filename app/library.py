"""The workflows folder as the main window shows it: files, their state, and file operations.

The same files the supervisor watches: ``.yaml``, ``.yml`` and ``.json``
directly in the folder, hidden files excluded (the supervisor's catalog uses
the same rule, so what the list shows is what runs).  Deleted workflows go to
``.trash/`` in that folder, which the supervisor ignores, rather than being
destroyed.  A duplicate or a rename also changes the ``name:`` inside the
file, because two files with one name conflict in the supervisor.

No Qt here: the window calls these and shows the errors they raise.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from app.editor.document import dump_yaml
from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError, WorkflowError, WorkflowInvalid
from automation.loader import parse_document, read_workflow_file
from automation.model import FORMAT_VERSION, Workflow
from automation.templates import is_template
from automation.validation import validate

SUFFIXES = (".yaml", ".yml", ".json")
TRASH = ".trash"
_TOP_NAME = re.compile(r"^name:[^\n]*$", re.MULTILINE)
#: Input names that hold secrets when they hold anything (checked on export).
_SECRET_FIELDS = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api_?key|private_?key|auth)", re.I
)


class LibraryError(DeskpilotError):
    """A file operation on the workflows folder failed; the message says what to do."""


@dataclass(frozen=True)
class WorkflowEntry:
    path: Path
    name: str
    issues: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.issues


def is_workflow_file(path: Path) -> bool:
    return path.is_file() and path.suffix in SUFFIXES and not path.name.startswith(".")


def workflow_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if is_workflow_file(p)), key=lambda p: p.name.lower()
    )


def describe_trigger(trigger: Any) -> str:
    kind = getattr(trigger, "type", "?")
    paused = "" if getattr(trigger, "enabled", True) else " (paused)"
    if kind == "schedule":
        what = trigger.cron or (
            f"every {trigger.interval:g}s" if trigger.interval else f"at {trigger.at}"
        )
        return f"schedule {what}{paused}"
    if kind == "file":
        return f"file {trigger.path}/{trigger.glob}{paused}"
    if kind == "webhook":
        return f"webhook {trigger.name}{paused}"
    if kind == "after":
        return f"after {trigger.workflow}{paused}"
    if kind == "hotkey":
        return f"hotkey {trigger.keys}{paused}"
    return str(kind)


def inspect_file(path: Path, registry: BlockRegistry) -> WorkflowEntry:
    """Read and validate one file; problems become the entry's issues, never exceptions."""
    try:
        loaded = read_workflow_file(path)
    except WorkflowInvalid as exc:
        return WorkflowEntry(path, path.stem, tuple(_issue_line(i) for i in exc.issues))
    except WorkflowError as exc:
        return WorkflowEntry(path, path.stem, (str(exc),))
    issues = validate(loaded, registry)
    workflow = loaded.workflow
    return WorkflowEntry(
        path,
        workflow.name,
        tuple(_issue_line(i) for i in issues),
        tuple(describe_trigger(t) for t in workflow.triggers),
    )


def _issue_line(issue: Any) -> str:
    where = []
    if issue.line is not None:
        where.append(f"line {issue.line}")
    if issue.node:
        where.append(f"node '{issue.node}'")
    prefix = f"{', '.join(where)}: " if where else ""
    hint = f" ({issue.hint.strip()})" if issue.hint else ""
    return f"{prefix}{issue.message}{hint}"


def scan(folder: Path, registry: BlockRegistry) -> list[WorkflowEntry]:
    return [inspect_file(path, registry) for path in workflow_files(folder)]


# -- names and files ------------------------------------------------------------------
def file_stem(name: str) -> str:
    """A file name for a workflow name: lowercase, '-' for anything unusual."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.").lower()
    return stem or "workflow"


def _free_path(folder: Path, stem: str, suffix: str = ".yaml") -> Path:
    candidate = folder / f"{stem}{suffix}"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise LibraryError("a workflow needs a name")
    if "\n" in name or len(name) > 200:
        raise LibraryError("a workflow name is one line of at most 200 characters")
    return name


def set_name_in_text(text: str, name: str, *, is_json: bool = False) -> str:
    """The file text with its top-level ``name`` changed, everything else untouched."""
    if is_json:
        data = json.loads(text)
        data["name"] = name
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    line = (
        "name: "
        + yaml.safe_dump(name, default_flow_style=True, width=4096).removesuffix("\n...\n").strip()
    )
    if _TOP_NAME.search(text):
        return _TOP_NAME.sub(lambda _m: line, text, count=1)
    lines = text.splitlines(True)
    for index, existing in enumerate(lines):
        if existing.startswith("deskpilot:"):
            lines.insert(index + 1, line + "\n")
            return "".join(lines)
    return line + "\n" + text


def existing_names(folder: Path) -> set[str]:
    names = set()
    for path in workflow_files(folder):
        try:
            data, _ = parse_document(path.read_text(encoding="utf-8"))
        except (DeskpilotError, OSError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.add(data["name"])
    return names


def unique_name(folder: Path, base: str) -> str:
    taken = existing_names(folder)
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def new_workflow(folder: Path, name: str) -> Path:
    name = check_name(name)
    if name in existing_names(folder):
        raise LibraryError(f"a workflow named '{name}' already exists; choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    path = _free_path(folder, file_stem(name))
    path.write_text(
        dump_yaml({"deskpilot": FORMAT_VERSION, "name": name, "nodes": {}}), encoding="utf-8"
    )
    return path


def duplicate(path: Path, name: str | None = None) -> Path:
    text = _read(path)
    base = _declared_name(text) or path.stem
    new_name = check_name(name) if name else unique_name(path.parent, f"{base}-copy")
    if new_name in existing_names(path.parent):
        raise LibraryError(f"a workflow named '{new_name}' already exists; choose another name")
    target = _free_path(path.parent, file_stem(new_name), path.suffix)
    target.write_text(
        set_name_in_text(text, new_name, is_json=path.suffix == ".json"), encoding="utf-8"
    )
    return target


def rename(path: Path, new_name: str) -> Path:
    """Give a workflow a new name: the ``name:`` in the file and the file name follow."""
    new_name = check_name(new_name)
    text = _read(path)
    if new_name != _declared_name(text) and new_name in existing_names(path.parent):
        raise LibraryError(f"a workflow named '{new_name}' already exists; choose another name")
    stem = file_stem(new_name)
    target = path if path.stem == stem else _free_path(path.parent, stem, path.suffix)
    updated = set_name_in_text(text, new_name, is_json=path.suffix == ".json")
    target.write_text(updated, encoding="utf-8")
    if target != path:
        path.unlink()
    return target


def trash(path: Path) -> Path:
    """Move a workflow to the folder's ``.trash/`` (restore it by moving it back)."""
    bin_dir = path.parent / TRASH
    bin_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = bin_dir / f"{path.stem}.{stamp}{path.suffix}"
    try:
        shutil.move(str(path), target)
    except OSError as exc:
        raise LibraryError(f"cannot move {path.name} to the trash: {exc.strerror or exc}") from None
    return target


def import_file(source: Path, folder: Path, *, overwrite: bool = False) -> Path:
    """Copy a workflow file into the folder after checking that it parses as a workflow."""
    if source.suffix not in SUFFIXES:
        raise LibraryError(f"{source.name}: workflows are .yaml, .yml or .json files")
    try:
        read_workflow_file(source)
    except WorkflowInvalid as exc:
        # an invalid but readable workflow may be imported and fixed in the editor
        if any(i.message.startswith(("not valid", "a workflow file must")) for i in exc.issues):
            raise LibraryError(
                f"{source.name} is not a workflow file: {exc.issues[0].message}"
            ) from None
    except WorkflowError as exc:
        raise LibraryError(str(exc)) from None
    target = folder / source.name
    if target.exists() and not overwrite:
        raise LibraryError(f"{target.name} already exists in the workflows folder")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def export_file(path: Path, target: Path) -> None:
    """Write the workflow's text to ``target`` exactly as it is in the folder.

    Workflow files only ever hold secret *names* (``{{ secrets.x }}``); the
    values stay in the keyring, so an exported file carries none.  Use
    ``literal_secret_warnings`` first to catch a value typed in by hand.
    """
    text = _read(path)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LibraryError(f"cannot write {target}: {exc.strerror or exc}") from None


def literal_secret_warnings(path: Path) -> list[str]:
    """Inputs that look like credentials but hold a literal value instead of a secret template."""
    try:
        data, _ = parse_document(_read(path))
        workflow = Workflow.model_validate(data)
    except (DeskpilotError, ValueError):
        return []
    warnings = []
    for node_id, node in workflow.nodes.items():
        for key, value in _walk(node.with_):
            if (
                _SECRET_FIELDS.search(key)
                and isinstance(value, str)
                and value
                and not is_template(value)
            ):
                warnings.append(
                    f"node '{node_id}': '{key}' holds a literal value; store it with "
                    f"'deskpilot secrets set' and write {{{{ secrets.NAME }}}} instead"
                )
    return warnings


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)
    else:
        yield key, value


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LibraryError(f"cannot read {path}: {exc.strerror or exc}") from None


def _declared_name(text: str) -> str | None:
    try:
        data, _ = parse_document(text)
    except DeskpilotError:
        return None
    return (
        data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else None
    )
