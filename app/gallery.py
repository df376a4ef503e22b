"""The example gallery and the templates for new workflows, as files.

An example is a workflow in ``resources/examples/`` (``examples_dir()``); it may
refer to files beside it (``images/…`` for image targets, ``subflows/…`` for
subflow calls), relative to its own folder.  "Open a copy" copies the
workflow into the workflows folder together with every sibling folder its
text refers to, so the copy runs from there exactly as it runs as shipped.
The copy gets a name free in that folder (``hello``, ``hello-2``...).

A template is the same, from ``resources/templates/``, under a name the user
chose.  No Qt here: the window calls these and shows the errors they raise.
"""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from app.library import (
    LibraryError,
    _free_path,
    check_name,
    existing_names,
    file_stem,
    new_workflow,
    set_name_in_text,
    unique_name,
)


@dataclass(frozen=True)
class Sample:
    """One example or template: its file, its title (the workflow's name) and one line about it."""

    path: Path
    title: str
    description: str


def _describe(path: Path) -> Sample:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    data = data if isinstance(data, dict) else {}
    description = str(data.get("description") or "").strip()
    if not description:  # the first comment line says what it does
        comments = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")]
        description = comments[0] if comments else ""
    return Sample(
        path, str(data.get("name") or path.stem), description.splitlines()[0] if description else ""
    )


def samples(folder: Path) -> list[Sample]:
    """The workflows directly in ``folder`` (not its sub-folders: those are their parts)."""
    if not folder.is_dir():
        return []
    return [_describe(p) for p in sorted(folder.glob("*.yaml"))]


def referenced_folders(path: Path) -> list[Path]:
    """The sibling folders the workflow's text names (``images/``, ``subflows/``...)."""
    text = path.read_text(encoding="utf-8")
    return sorted(
        d for d in path.parent.iterdir()
        if d.is_dir() and not d.name.startswith(".") and f"{d.name}/" in text
    )  # fmt: skip


def _copy_tree(source: Path, target: Path) -> None:
    """Copy ``source`` into ``target``; a file already there must be the same, never overwritten."""
    for item in sorted(source.rglob("*")):
        destination = target / item.relative_to(source)
        if item.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif destination.exists():
            if not filecmp.cmp(item, destination, shallow=False):
                raise LibraryError(
                    f"{destination} already exists and differs from the example's "
                    f"{item.relative_to(source.parent)}; move it away and try again"
                )
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, destination)


def _copy_sample(source: Path, folder: Path, name: str) -> Path:
    if not source.is_file():
        raise LibraryError(f"{source} is missing; reinstall Deskpilot")
    folder.mkdir(parents=True, exist_ok=True)
    for sub in referenced_folders(source):
        _copy_tree(sub, folder / sub.name)
    target = _free_path(folder, file_stem(name))
    text = set_name_in_text(source.read_text(encoding="utf-8"), name)
    target.write_text(text, encoding="utf-8")
    return target


def open_copy(example: Path, folder: Path) -> Path:
    """Copy an example (with the folders it refers to) into ``folder``; returns the new file."""
    name = unique_name(folder, _describe(example).title)
    return _copy_sample(example, folder, name)


def new_from_template(template: Path | None, folder: Path, name: str) -> Path:
    """A new workflow called ``name`` from ``template`` (``None``: an empty one)."""
    name = check_name(name)
    if name in existing_names(folder):
        raise LibraryError(f"a workflow named '{name}' already exists; choose another name")
    if template is None:
        return new_workflow(folder, name)
    return _copy_sample(template, folder, name)
