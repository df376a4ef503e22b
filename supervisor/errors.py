"""Errors the supervisor raises on purpose, kept apart from the code that raises them.

``supervisor.client`` and the API's small modules import these without
loading the supervisor core, the store (SQLAlchemy) or the engine.

The supervisor's part of the hierarchy, root first::

    DeskpilotError                  (automation.errors)
    ├── SupervisorError             the supervisor refused a request (unknown run, shutting down)
    └── IllegalTransition           a run cannot move from its status to the one asked for
        └── RunStatusChanged        the run's status changed under the caller: another
                                    process (or the caller's own earlier write) got there first

``IllegalTransition`` is defined with the run lifecycle in
``automation.engine.events`` (the engine checks transitions too) and is also
a ``ValueError``, as it always was.
"""

from __future__ import annotations

from automation.engine.events import IllegalTransition
from automation.errors import DeskpilotError

__all__ = ["IllegalTransition", "RunStatusChanged", "SupervisorError"]


class SupervisorError(DeskpilotError):
    """The supervisor refused a request (unknown run, shutting down, bad workflow)."""


class RunStatusChanged(IllegalTransition):
    """A compare-and-set of a run's status found another status, or another claimant.

    Raised instead of overwriting: the writer's view of the run is stale, and
    whoever changed it owns what happens next.
    """

    def __init__(self, run_id: str, expected: str, found: str | None, detail: str = "") -> None:
        what = "is gone" if found is None else f"is '{found}'"
        super().__init__(
            f"run {run_id} was expected to be '{expected}' but {what}"
            + (f" ({detail})" if detail else "")
            + "; it was left as it is"
        )
        self.run_id = run_id
        self.expected = expected
        self.found = found
