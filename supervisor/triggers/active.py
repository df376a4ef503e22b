"""A trigger of a loaded workflow as the manager holds it: spec, persisted state, what runs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from automation.model import Trigger
from supervisor.triggers.files import FileTriggerWatch
from supervisor.triggers.misfire import iso
from supervisor.triggers.specs import spec_dump, summary
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
    #: Fires refused by a run-rate ceiling since the last one recorded, and when that was.
    skipped: int = 0
    skip_recorded_at: float | None = None

    @property
    def active(self) -> bool:
        return self.spec.enabled and not self.state.paused and not self.breaker_paused

    @property
    def paused_reason(self) -> str | None:
        if self.state.paused:
            return "user"
        return "breaker" if self.breaker_paused else None

    def skip_note(self, reason: str, now: float) -> str | None:
        """Count a fire refused by a run-rate ceiling; the note to record, once a second."""
        self.skipped += 1
        if self.skip_recorded_at is not None and now - self.skip_recorded_at < 1.0:
            return None
        count, self.skipped, self.skip_recorded_at = self.skipped, 0, now
        return reason + (f" ({count} fires skipped since the last record)" if count > 1 else "")

    def info(self, next_fire: datetime | None) -> dict[str, Any]:
        """What ``/triggers`` shows of this trigger."""
        last_fire = self.state.last_fire_at
        problem = self.problem or (self.watch.problem if self.watch else None)
        return {
            "key": self.key,
            "workflow": self.workflow,
            "type": self.spec.type,
            "spec": summary(self.spec),
            "config": spec_dump(self.spec),
            "enabled": self.spec.enabled,
            "paused": self.paused_reason is not None,
            "paused_reason": self.paused_reason,
            "next_fire_at": iso(next_fire) if next_fire else None,
            "last_fire_at": iso(last_fire) if last_fire else None,
            "last_error": problem or self.state.last_error,
        }
