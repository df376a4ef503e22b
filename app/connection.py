"""The seam between the GUI and the supervisor.

Every view that needs the supervisor (running a workflow from the editor,
last-run status in the workflows list, secret names for template completion,
later the live and history views) asks a ``SupervisorConnection``; the one
that talks to the real daemon wraps ``supervisor.client.SupervisorClient``.
The GUI never opens the supervisor's database.  Without a connection the
editor still edits, validates and saves; only Run is unavailable.

Implementations call ``notify()`` whenever ``connected`` or the data behind
the query methods change; listeners run on the GUI thread, so an
implementation that learns things on another thread must hop to the GUI
thread (a queued Qt signal) before notifying.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from automation.errors import DeskpilotError

Listener = Callable[[], None]


class SupervisorConnection(abc.ABC):
    """What the GUI needs from the supervisor, kept small so each view depends on little."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether the supervisor answers right now."""

    @abc.abstractmethod
    def start_run(
        self, workflow: Path, inputs: Mapping[str, Any], *, breakpoints: Sequence[str] = ()
    ) -> str:
        """Queue a run of the workflow file with these inputs; return the run id.

        ``breakpoints`` are nodes the step debugger pauses the run before.
        """

    def run_from(
        self, workflow: Path, name: str, node: str, *, breakpoints: Sequence[str] = ()
    ) -> str:
        """Run the file again from ``node``, reusing its last run's outputs before it.

        Raises ``DeskpilotError`` when there is no finished run to reuse.
        """
        raise DeskpilotError("running from a node needs the supervisor")

    def set_breakpoints(self, run_id: str, nodes: Sequence[str]) -> bool:
        """Replace the breakpoints of a queued or running run; False when it has ended.

        Raises ``DeskpilotError`` when the supervisor refuses them (a node the
        run's version does not have).
        """
        raise DeskpilotError("changing a run's breakpoints needs the supervisor")

    def secret_names(self) -> Sequence[str]:
        """Names (never values) of the secrets the keyring holds, for completion."""
        return ()

    def last_run_status(self, workflow_name: str) -> str | None:
        """Status of the workflow's most recent run ('succeeded', 'failed'...), if any."""
        return None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self) -> None:
        for listener in list(self._listeners):
            listener()
