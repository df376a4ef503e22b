"""A trigger of a loaded workflow as the manager holds it: spec, persisted state, what runs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from automation.model import Trigger
from supervisor.triggers.files import FileTriggerWatch
from supervisor.triggers.state import TriggerState


@dataclass
class ActiveTrigger:
    """A trigger of a loaded workflow, with its persisted state and what runs it."""

    key: str
    workflow: str
    index: int
    spec: Trigger
    state: TriggerState
    workflow_dir: Path
    breaker_paused: bool = False
    #: Bumped whenever the trigger is re-armed, so stale scheduler wake-ups are ignored.
    generation: int = 0
    schedule: Any = None
    #: The newest fire time of this schedule the history may hold: due fires after it
    #: cannot have a run yet, so they need no look-up (see ``TriggerManager._labels_recorded``).
    history_through: datetime | None = None
    watch: FileTriggerWatch | None = None
    problem: str | None = None

    @property
    def active(self) -> bool:
        return self.spec.enabled and not self.state.paused and not self.breaker_paused

    @property
    def paused_reason(self) -> str | None:
        if self.state.paused:
            return "user"
        return "breaker" if self.breaker_paused else None
