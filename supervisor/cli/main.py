"""``deskpilot``: the command line for everything the GUI does.

Errors the user can fix (a bad file, a missing secret, a locked database)
print one line and exit non-zero; ``--debug`` adds the traceback.  Exit
codes: 0 success, 1 the thing failed (invalid workflow, failed run), 2 the
command line itself was wrong.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError, WorkflowInvalid
from automation.loader import read_workflow_file
from automation.model import workflow_json_schema
from automation.redaction import redact_logging
from automation.validation import validate
from supervisor.cli import output
from supervisor.local import known_secret_names


class _Group(click.Group):
    """Turns Deskpilot errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeskpilotError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            output.error(str(exc))
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="deskpilot")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Deskpilot: desktop automation that keeps itself running."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    redact_logging()


def _registry() -> BlockRegistry:
    return BlockRegistry.with_builtins()


@cli.command("validate")
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


@cli.command("schema")
@click.option("-o", "--output", "target", type=click.Path(path_type=Path), help="Write to a file.")
def schema_cmd(target: Path | None) -> None:
    """Print the JSON Schema of the workflow file format."""
    text = json.dumps(workflow_json_schema(), indent=2)
    if target:
        target.write_text(text + "\n", encoding="utf-8")
    else:
        output.line(text)


@cli.group("blocks")
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


@cli.command("gui")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def gui_cmd(files: tuple[Path, ...]) -> None:
    """Open the desktop app (it starts the supervisor if it is not running)."""
    import subprocess

    # The GUI is a separate process: nothing under supervisor/ may import Qt.
    process = subprocess.Popen(
        [sys.executable, "-m", "app", *map(str, files)], start_new_session=True
    )
    output.line(f"Deskpilot window started (pid {process.pid})")


def _attach_optional_groups() -> None:
    from supervisor.cli.backup_cmd import backup_cmd, history_group, restore_cmd
    from supervisor.cli.daemon_cmd import (
        submit_cmd,
        supervisor_group,
        triggers_group,
        workers_cmd,
    )
    from supervisor.cli.history_cmd import runs_group
    from supervisor.cli.run_cmd import run_cmd
    from supervisor.cli.secrets_cmd import secrets_group

    cli.add_command(run_cmd)
    cli.add_command(runs_group)
    cli.add_command(secrets_group)
    cli.add_command(supervisor_group)
    cli.add_command(submit_cmd)
    cli.add_command(triggers_group)
    cli.add_command(workers_cmd)
    cli.add_command(backup_cmd)
    cli.add_command(restore_cmd)
    cli.add_command(history_group)


_attach_optional_groups()


def main() -> None:
    cli(prog_name="deskpilot")


if __name__ == "__main__":
    main()
