"""How a step's failure is told, and the two signals that end a run early.

``RunFailed`` and ``RunCancelled`` never leave the engine: they unwind the run's
loop to the place that turns them into a ``RunResult`` (failed or cancelled),
so a caller of ``Engine.run`` sees a result, not an exception.
"""

from __future__ import annotations

from automation.errors import StepCancelled, StepTimeout


class RunFailed(Exception):
    """A node failed with no ``error`` link to catch it: the run fails."""

    def __init__(self, message: str, node: str | None) -> None:
        super().__init__(message)
        self.node = node


class RunCancelled(Exception):
    """The run was cancelled (by a user, a shutdown, or the debugger's abort)."""


def error_message(exc: BaseException) -> str:
    """The error's text, or its type's name when it has none."""
    text = str(exc).strip()
    return text or type(exc).__name__


def failure_kind(exc: BaseException) -> str:
    """``timeout``, ``cancelled`` or ``error``: what history and the error pin call it."""
    if isinstance(exc, StepTimeout):
        return "timeout"
    if isinstance(exc, StepCancelled):
        return "cancelled"
    return "error"
