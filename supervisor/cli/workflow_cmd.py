"""``deskpilot validate``, ``schema``, ``blocks`` and ``gui``: workflow files and blocks.

These need the block registry and the validator but no supervisor; they are
loaded only when one of them runs (see ``supervisor.cli.main``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

from automation.errors import DeskpilotError, ValidationIssue, WorkflowInvalid, errors_only
from supervisor.cli import output

if TYPE_CHECKING:  # the registry and the validator load when a command runs, not for '--help'
    from automation.blocks.registry import BlockRegistry


def _registry() -> BlockRegistry:
    from automation.blocks.registry import BlockRegistry

    return BlockRegistry.with_builtins()


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one 'FILE:LINE:COL: node.field: message (hint)' line per problem; "
    "json: the problems of each file, for tools.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def validate_cmd(files: tuple[Path, ...], fmt: str, as_json: bool) -> None:
    """Check workflow files without running them; exit 1 if any has an error.

    Warnings (a template that changes a value's type, say) are printed but
    never fail the check.
    """
    from automation.loader import read_workflow_file
    from automation.validation import validate
    from supervisor.local import known_secret_names

    registry = _registry()
    report: dict[str, list[ValidationIssue]] = {}
    hosts = _Hosts()
    for path in files:
        try:
            loaded = read_workflow_file(path)
            found = validate(
                loaded,
                registry,
                secret_names=known_secret_names(loaded),
                warnings=True,
                known_hosts=hosts.known() if any(t.on for t in loaded.workflow.triggers) else None,
            )
        except WorkflowInvalid as exc:
            found = exc.issues
        except DeskpilotError as exc:
            found = [ValidationIssue(message=_without_file(str(exc), path), file=str(path))]
        report[str(path)] = found
    if as_json or fmt == "json":
        output.emit_json(
            {name: [_issue_json(issue) for issue in issues] for name, issues in report.items()}
        )
    else:
        for name, issues in report.items():
            for issue in issues:
                output.line(str(issue))
            output.line(f"{name}: {_summary(issues)}")
    sys.exit(1 if any(errors_only(issues) for issues in report.values()) else 0)


class _Hosts:
    """The machines of this Deskpilot's database, read once and only if a trigger names one."""

    def __init__(self) -> None:
        self._known: set[str] | None = None
        self._read = False

    def known(self) -> set[str] | None:
        if not self._read:
            from supervisor.paths import DeskpilotPaths
            from supervisor.store.fleet import registered_hosts

            self._known = registered_hosts(DeskpilotPaths.from_env().database_url)
            self._read = True
        return self._known


def _issue_json(issue: ValidationIssue) -> dict[str, Any]:
    """An issue for tools: file, line, column, node, field, message, hint, severity."""
    return asdict(issue)


def _without_file(message: str, path: Path) -> str:
    """``PATH: no such workflow file`` without the path the issue already carries."""
    return message.removeprefix(f"{path}: ")


def _summary(issues: list[ValidationIssue]) -> str:
    errors = len(errors_only(issues))
    warnings = len(issues) - errors
    if not issues:
        return "ok"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ("ok, " if not errors else "") + ", ".join(parts)


@click.command("schema")
@click.argument("what", type=click.Choice(["workflow", "run"]), default="workflow")
@click.option("-o", "--output", "target", type=click.Path(path_type=Path), help="Write to a file.")
def schema_cmd(what: str, target: Path | None) -> None:
    """Print a JSON Schema: of the workflow file format (the default), or of a run.

    'run' is what 'run --json', 'submit --wait --json', 'runs show --json',
    'runs wait --json' and 'runs rerun --json' print.
    """
    if what == "run":
        from supervisor.run_report import run_report_json_schema

        schema = run_report_json_schema()
    else:
        from automation.model import workflow_json_schema

        schema = workflow_json_schema()
    text = json.dumps(schema, indent=2)
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


def complete_block_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: block ids starting with what was typed, with their one-line summary."""
    try:
        registry = _registry()
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [
        CompletionItem(block.id, help=block.summary())
        for block in registry
        if block.id.startswith(incomplete)
    ]


@blocks_group.command("show")
@click.argument("block_id", shell_complete=complete_block_id)
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
@click.option("--gallery", is_flag=True, help="Open on the welcome page and its example gallery.")
def gui_cmd(files: tuple[Path, ...], gallery: bool) -> None:
    """Open the desktop app (it starts the supervisor if it is not running)."""
    import subprocess

    from supervisor.interpreter import module_args
    from supervisor.paths import DeskpilotPaths

    # The GUI is a separate process: nothing under supervisor/ may import Qt.  It outlives
    # this command, so it must not hold the terminal's (or a pipe's) stdout: a script that
    # runs 'deskpilot gui | tee' would wait for the window to close.  Its log goes to a file.
    extra = ["--gallery"] if gallery else []
    log_dir = DeskpilotPaths.from_env().log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "gui.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, *module_args("app"), *extra, *(str(f.resolve()) for f in files)],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
    output.line(f"Deskpilot window started (pid {process.pid}); its log: {log_path}")
