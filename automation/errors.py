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
    │   └── WorkflowFailed          a ``control.fail`` node failed the run on purpose
    └── RunError                    the run as a whole cannot go on (time limit, node limit)

Whether a step error is retried is a property of the error (``retryable``),
never a list kept by the engine.  Exceptions that are not ``DeskpilotError``
(an ``OSError`` from a file block, say) are treated as retryable: the retry
policy's ``max_attempts`` still bounds them.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeskpilotError(Exception):
    """Root of every error Deskpilot raises on purpose."""


@dataclass(frozen=True, kw_only=True)
class ValidationIssue:
    """One problem found in a workflow, located as precisely as we can.

    ``hint`` says what would fix it; the CLI and the GUI show it verbatim.
    """

    message: str
    file: str | None = None
    line: int | None = None
    node: str | None = None
    field: str | None = None
    hint: str | None = None

    def location(self) -> str:
        where = self.file or "<workflow>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.node is not None:
            parts.append(f"node '{self.node}'")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.location()}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class WorkflowError(DeskpilotError):
    """A workflow file cannot be read or parsed."""


class WorkflowInvalid(WorkflowError):
    """A workflow failed validation; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(head + ":\n" + "\n".join(f"  - {issue}" for issue in self.issues))


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
