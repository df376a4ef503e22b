"""Errors raised by the workflow model, the blocks and the engine.

The hierarchy, root first::

    DeskpilotError                  root of everything Deskpilot raises on purpose
    ├── WorkflowError               a workflow cannot be loaded or is invalid
    │   └── WorkflowInvalid         carries every ValidationIssue found, not only the first
    ├── RegistryError               a block class is malformed or its id is taken
    ├── SecretError                 a secret is missing or the keyring is unreachable
    ├── TemplateError               a template fails to render (undefined name, bad syntax)
    ├── BlockError                  a step failed; ``retryable`` says whether retrying can help
    │   ├── StepTimeout             the step's deadline passed (retryable)
    │   ├── StepCancelled           the run was cancelled while the step ran (not retryable)
    │   ├── BlockInputError         the resolved inputs do not fit the block (not retryable)
    │   ├── SessionInterrupted      the screen locked while a desktop step acted (retryable)
    │   └── WorkflowFailed          a ``control.fail`` node failed the run on purpose
    └── RunError                    the run as a whole cannot go on (time limit, node limit)

Whether a step error is retried is a property of the error (``retryable``),
never a list kept by the engine.  Exceptions that are not ``DeskpilotError``
(an ``OSError`` from a file block, say) are treated as retryable: the retry
policy's ``max_attempts`` still bounds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal


class DeskpilotError(Exception):
    """Root of every error Deskpilot raises on purpose."""


Severity = Literal["error", "warning"]


@dataclass(frozen=True, kw_only=True)
class ValidationIssue:
    """One problem found in a workflow, located as precisely as we can.

    ``hint`` says what would fix it; the CLI and the GUI show it verbatim.
    ``line`` and ``column`` are 1-based.  A ``warning`` points at something
    that probably is not what the author meant (a template that changes a
    value's type) but runs: warnings never make a workflow invalid.
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    node: str | None = None
    field: str | None = None
    hint: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self) -> str:
        """``FILE:LINE:COL`` (as much of it as is known), the form editors and CI link."""
        where = self.file or "<workflow>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def subject(self) -> str | None:
        """``node.field``, ``node`` or ``field``: what the problem is about."""
        parts = [part for part in (self.node, self.field) if part]
        return ".".join(parts) or None

    def __str__(self) -> str:
        """``FILE:LINE:COL: [warning: ]node.field: message (hint)``."""
        text = f"{self.location()}: "
        if self.severity == "warning":
            text += "warning: "
        subject = self.subject()
        if subject:
            text += f"{subject}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


def errors_only(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    """The issues that make a workflow invalid (warnings left out)."""
    return [issue for issue in issues if issue.is_error]


class WorkflowError(DeskpilotError):
    """A workflow file cannot be read or parsed."""


class WorkflowInvalid(WorkflowError):
    """A workflow failed validation; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        if count == 1:  # one line: FILE:LINE:COL: node.field: message (hint)
            super().__init__(str(self.issues[0]))
            return
        head = f"{count} problems found"
        # each on a line of its own that starts with FILE:LINE:COL, which editors link
        super().__init__(head + ":\n" + "\n".join(str(issue) for issue in self.issues))


class RegistryError(DeskpilotError):
    """A block class is malformed or clashes with one already registered."""


class SecretError(DeskpilotError):
    """A secret is missing or the keyring cannot be reached."""


class TemplateError(DeskpilotError):
    """A template could not be parsed or rendered."""


class BlockError(DeskpilotError):
    """A step failed.  Subclasses and instances decide whether to retry."""

    retryable: bool = True

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class StepTimeout(BlockError):
    """The step ran past its deadline and was stopped."""

    retryable = True


class StepCancelled(BlockError):
    """The run was cancelled while this step ran."""

    retryable = False


class BlockInputError(BlockError):
    """The inputs resolved for a step do not fit the block's input model."""

    retryable = False


class SessionInterrupted(BlockError):
    """The session became unusable (a locked screen) while a desktop step sent input.

    The input may have gone to the lock screen: the engine waits for the
    unlock, then the step's postcondition decides whether it runs again.
    """

    retryable = True

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        #: Why the session was not usable ("the screen is locked (...)").
        self.reason = reason


class WorkflowFailed(BlockError):
    """Raised by ``control.fail``: the workflow author chose to fail the run."""

    retryable = False


class RunError(DeskpilotError):
    """The run as a whole cannot continue (time limit, execution limit)."""


def is_retryable(error: BaseException) -> bool:
    """Retryability is a property of the error; foreign errors are retryable."""
    if isinstance(error, BlockError):
        return error.retryable
    if isinstance(error, DeskpilotError):
        return False
    return isinstance(error, Exception)


class StepInterrupted(StepTimeout):
    """Raised inside a step that ignored its deadline: the engine interrupted it."""

    def __init__(
        self, message: str = "the step did not stop at its deadline and was interrupted"
    ) -> None:
        super().__init__(message)
