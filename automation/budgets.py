"""Limits that keep a hostile workflow file from stalling whoever reads it.

A workflow file is data a user may have downloaded, and the supervisor reads
every file dropped into its workflows folder.  Reading one must take bounded
time and memory whatever it contains, so each cost a file controls has a cap:

* its size (``MAX_DOCUMENT_BYTES``);
* how many values it stands for once YAML aliases are expanded
  (``MAX_DOCUMENT_VALUES``): a 1 KB "billion laughs" file of nested aliases
  stands for 10^9 strings, and everything that walks the data after parsing
  (the model, validation, the engine) walks every one of them;
* how deeply it nests (``MAX_DEPTH``): the parsers and the model recurse;
* what a template may compute (``MAX_INT_BITS``, ``MAX_LENGTH``; see
  ``automation.templates``), both when Jinja folds constants while compiling
  and when a step renders.

On top of these caps, a reader can give the whole check a time budget
(``time_budget``): loading and validation call ``check_time()`` as they go, and
past the deadline it raises ``BudgetExceeded``.  The supervisor validates the
workflows folder that way, in a worker thread, so one file can neither stall
its event loop nor hold its catalog up for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from automation.errors import WorkflowError

#: Largest workflow file read, in bytes.  Real workflows are a few kilobytes.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
#: Most values (mappings, lists and scalars, counted after YAML aliases are expanded).
MAX_DOCUMENT_VALUES = 200_000
#: Deepest nesting of mappings and lists in a document.
MAX_DEPTH = 64
#: Largest integer a template may compute with ``**``, in bits (about 30,000 digits).
MAX_INT_BITS = 100_000
#: Longest string or list a template may build by repetition (``*``) or padding, as many as
#: the sandbox lets ``range`` make: a loop over it takes well under a second.  Loops over
#: a step's own data are bounded by its timeout and the run's ``max_duration``.
MAX_LENGTH = 100_000
#: Default time for reading and validating one file from the workflows folder.
VALIDATION_SECONDS = 5.0


class BudgetExceeded(WorkflowError):
    """Loading or validating a workflow ran past its time budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"validation took longer than its budget of {seconds:g} s and was stopped; "
            "the file is too large or too complex to be a workflow"
        )
        self.seconds = seconds


_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("deskpilot_deadline", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Give the loading and validation done inside the block ``seconds`` of time.

    The budget lives in a context variable, so it applies to the thread (or
    task) that set it and to nothing else.
    """
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_time() -> None:
    """Raise ``BudgetExceeded`` once the current time budget has run out (no budget: never)."""
    budget = _DEADLINE.get()
    if budget is not None and time.monotonic() > budget[0]:
        raise BudgetExceeded(budget[1])
