"""Breakpoints set or cleared in the editor reach the runs it started that are still going.

A run started from the editor (Run, Run from here) takes its breakpoints when
it starts; the worker keeps a debugger on every run, so the GUI may change
them while it goes.  When the canvas's breakpoints change (F9, the button, or
an undo that brings one back) each of those runs gets the new set through
the supervisor's API (``PUT /runs/{id}/breakpoints``).  A run that has ended
is forgotten; any other refusal (a node the running version does not have)
is said in the status bar, and the run keeps the breakpoints it had.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from app.connection import SupervisorConnection
from automation.errors import DeskpilotError

log = logging.getLogger(__name__)

#: runs remembered per editor; older ones have long ended
_KEPT = 16


class LiveBreakpoints:
    """The runs one editor started, and the sending of its breakpoints to them."""

    def __init__(self, connection: SupervisorConnection | None, say: Callable[[str], None]) -> None:
        self.connection = connection
        self.say = say
        self.runs: list[str] = []

    def started(self, run_id: str) -> None:
        self.runs.append(run_id)
        del self.runs[:-_KEPT]

    def changed(self, nodes: Sequence[str]) -> None:
        """Give each run still going ``nodes`` as its breakpoints."""
        if self.connection is None or not self.connection.connected:
            return
        for run_id in list(self.runs):
            try:
                going = self.connection.set_breakpoints(run_id, nodes)
            except DeskpilotError as exc:
                log.info("breakpoints not sent to run %s: %s", run_id, exc)
                self.say(f"Run {run_id[:8]} keeps its breakpoints: {exc}")
                continue
            if not going:
                self.runs.remove(run_id)  # it ended: nothing to tell it
                continue
            self.say(
                f"Run {run_id[:8]} now pauses before {', '.join(nodes)}"
                if nodes
                else f"Run {run_id[:8]} no longer pauses at breakpoints"
            )
