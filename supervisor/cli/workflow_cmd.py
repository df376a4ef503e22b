"""``deskpilot validate``, ``schema``, ``blocks`` and ``gui``: workflow files and blocks.

These need the block registry and the validator but no supervisor; they are
loaded only when one of them runs (see ``supervisor.cli.main``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError, WorkflowInvalid
from automation.loader import read_workflow_file
from automation.model import workflow_json_schema
from automation.validation import validate
from supervisor.cli import output
from supervisor.local import known_secret_names


def _registry() -> BlockRegistry:
    return BlockRegistry.with_builtins()


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def validate_cmd(files: tuple[Path, ...], as_json: bool) -> None:
    """Check workflow files without running them; exit 1 if any has a problem."""
    registry = _registry()
    report: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        try:
            loaded = read_workflow_file(path)
            found = validate(loaded, registry, secret_names=known_secret_names(loaded))
        except WorkflowInvalid as exc:
            found = exc.issues
        except DeskpilotError as exc:
            report[str(path)] = [{"message": str(exc), "file": str(path)}]
            continue
        report[str(path)] = [asdict(issue) for issue in found]
    if as_json:
        output.emit_json(report)
    else:
        for path_text, issues in report.items():
            if not issues:
                output.line(f"{path_text}: ok")
                continue
            output.line(f"{path_text}: {len(issues)} problem{'s' if len(issues) != 1 else ''}")
            for issue in issues:
                text = issue.get("message", "")
                where = _where(issue)
                hint = f"\n      fix: {issue['hint']}" if issue.get("hint") else ""
                output.line(f"  - {where}{text}{hint}")
    sys.exit(1 if any(report.values()) else 0)


def _where(issue: dict[str, Any]) -> str:
    parts = []
    if issue.get("line"):
        parts.append(f"line {issue['line']}")
    if issue.get("node"):
        parts.append(f"node '{issue['node']}'")
    if issue.get("field"):
        parts.append(f"field '{issue['field']}'")
    return (", ".join(parts) + ": ") if parts else ""


@click.command("schema")
@click.option("-o", "--output", "target", type=click.Path(path_type=Path), help="Write to a file.")
def schema_cmd(target: Path | None) -> None:
    """Print the JSON Schema of the workflow file format."""
    text = json.dumps(workflow_json_schema(), indent=2)
    if target:
        target.write_text(text + "\n", encoding="utf-8")
    else:
        output.line(text)


@click.group("blocks")
def blocks_group() -> None:
    """The blocks workflows are made of."""


@blocks_group.command("list")
@click.option("--category", help="Only this category.")
@click.option("--json", "as_json", is_flag=True)
def blocks_list(category: str | None, as_json: bool) -> None:
    """List every block, built-in and from plugins."""
    registry = _registry()
    blocks = [b for b in registry if category is None or b.category == category]
    if as_json:
        output.emit_json(
            [
                {
                    "id": b.id,
                    "title": b.title or b.id,
                    "category": b.category,
                    "summary": b.summary(),
                    "resources": sorted(b.resources),
                    "idempotent": b.idempotent,
                }
                for b in blocks
            ]
        )
    else:
        output.table(
            [(b.id, b.category, ",".join(sorted(b.resources)), b.summary()) for b in blocks],
            ["id", "category", "needs", "what it does"],
        )
    for problem in registry.load_errors:
        output.error(problem)


@blocks_group.command("show")
@click.argument("block_id")
@click.option("--json", "as_json", is_flag=True)
def blocks_show(block_id: str, as_json: bool) -> None:
    """Show one block with its input and output schema."""
    registry = _registry()
    block = registry.get(block_id)
    if block is None:
        similar = registry.similar(block_id)
        hint = (
            f"; did you mean {', '.join(similar)}?" if similar else "; see 'deskpilot blocks list'"
        )
        raise click.ClickException(f"unknown block '{block_id}'{hint}")
    info: dict[str, Any] = {
        "id": block.id,
        "title": block.title or block.id,
        "category": block.category,
        "description": (block.description or block.__doc__ or "").strip(),
        "resources": sorted(block.resources),
        "idempotent": block.idempotent,
        "input_schema": block.Input.model_json_schema(),
        "output_schema": block.Output.model_json_schema(),
    }
    if as_json:
        output.emit_json(info)
        return
    output.line(f"{block.id} — {info['title']}  [{block.category}]")
    output.line()
    output.line(str(info["description"]))
    output.line()
    flags = [f"needs: {', '.join(info['resources']) or 'nothing shared'}"]
    flags.append(
        "idempotent" if block.idempotent else "NOT idempotent: a resumed run may repeat it"
    )
    output.line("; ".join(flags))
    for title, schema in (("inputs", info["input_schema"]), ("outputs", info["output_schema"])):
        output.line()
        output.line(f"{title}:")
        required = set(schema.get("required", []))
        props: dict[str, Any] = schema.get("properties", {})
        if not props:
            output.line("  (none)")
        for name, prop in props.items():
            kind = _type_name(prop)
            mark = " (required)" if name in required else ""
            default = f" = {json.dumps(prop['default'])}" if "default" in prop else ""
            output.line(f"  {name}: {kind}{default}{mark}")
            if prop.get("description"):
                output.line(f"      {prop['description']}")
    output.line()
    output.line("every node also has: input 'trigger', outputs 'done' and 'error'")


def _type_name(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return str(prop["type"])
    if "anyOf" in prop:
        return " | ".join(_type_name(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    return "any"


@click.command("gui")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def gui_cmd(files: tuple[Path, ...]) -> None:
    """Open the desktop app (it starts the supervisor if it is not running)."""
    import subprocess

    # The GUI is a separate process: nothing under supervisor/ may import Qt.
    process = subprocess.Popen(
        [sys.executable, "-m", "app", *map(str, files)], start_new_session=True
    )
    output.line(f"Deskpilot window started (pid {process.pid})")
