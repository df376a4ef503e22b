"""Validation of the document being edited, with the same checks the CLI and the engine use."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from app.editor.document import WorkflowDocument
from automation.blocks.registry import BlockRegistry
from automation.errors import ValidationIssue, errors_only
from automation.loader import LineMap, LoadedWorkflow, issues_from_pydantic
from automation.model import Workflow
from automation.validation import validate


@dataclass(frozen=True)
class CheckResult:
    """Errors and warnings; ``by_node`` holds the errors that mark nodes on the canvas."""

    issues: list[ValidationIssue]
    by_node: dict[str, list[str]] = field(default_factory=dict)
    general: list[ValidationIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[ValidationIssue]:
        return errors_only(self.issues)

    @property
    def warnings(self) -> list[ValidationIssue]:
        return [issue for issue in self.issues if not issue.is_error]

    @property
    def ok(self) -> bool:
        """No errors: warnings never make a workflow invalid."""
        return not self.errors


def issue_text(issue: ValidationIssue) -> str:
    """One line for a marker tooltip: the field, the message and the fix."""
    text = issue.message
    if issue.field and issue.field not in text:
        text = f"{issue.field}: {text}"
    if issue.hint:
        text += f" — {issue.hint.strip()}"
    return text


def problem_text(issue: ValidationIssue) -> str:
    """One line of the problems list, worded as the CLI words it: ``node.field: message``."""
    subject = issue.subject()
    text = f"{subject}: {issue.message}" if subject else issue.message
    if issue.hint:
        text += f" — {issue.hint.strip()}"
    return ("warning: " + text) if not issue.is_error else text


def check_document(
    document: WorkflowDocument,
    registry: BlockRegistry,
    secret_names: Iterable[str] | None = None,
) -> CheckResult:
    """Every problem in the document as it stands, grouped by node.

    Model errors (a bad duration, an unknown key) are reported the way the
    loader reports them; graph checks need a model-valid workflow, so they
    run once the model errors are fixed.
    """
    file = str(document.path) if document.path else None
    try:
        workflow = Workflow.model_validate(document.to_data())
    except ValidationError as exc:
        issues = issues_from_pydantic(exc, LineMap(), file)
    else:
        loaded = LoadedWorkflow(
            workflow=workflow, text="", content_hash="", path=document.path, lines=LineMap()
        )
        issues = validate(loaded, registry, secret_names=secret_names, warnings=True)
    by_node: dict[str, list[str]] = {}
    general: list[ValidationIssue] = []
    for issue in issues:
        if not issue.is_error:
            continue  # listed under problems, but a node that runs is not marked as broken
        if issue.node is not None and issue.node in document.nodes:
            by_node.setdefault(issue.node, []).append(issue_text(issue))
        else:
            general.append(issue)
    return CheckResult(issues, by_node, general)
