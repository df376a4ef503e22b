"""Triggers paused and resumed by the user (part of ``TriggerManager``).

A user's pause is saved with the trigger (its ``paused`` column), so it
outlasts a restart; a breaker's pause is not (``breaker_pause``).  Resuming
undoes only the user's: a trigger whose workflow's breaker is open stays
paused until the breaker lets runs through.  A trigger resumed counts its
schedule from that moment (``TriggerManager._reactivate``).
"""

from __future__ import annotations

import logging

from supervisor.triggers.active import ActiveTrigger
from supervisor.triggers.state import TriggerState

logger = logging.getLogger("supervisor.triggers.manager")


class UserPauses:
    """The user's pause of ``TriggerManager``: its state is the manager's."""

    _triggers: dict[str, ActiveTrigger]

    def _save(self, state: TriggerState) -> None:  # pragma: no cover - the manager's
        raise NotImplementedError

    def _deactivate(self, trigger: ActiveTrigger) -> None:  # pragma: no cover - the manager's
        raise NotImplementedError

    def _reactivate(self, trigger: ActiveTrigger) -> None:  # pragma: no cover - the manager's
        raise NotImplementedError

    def _targets(self, key: str) -> list[ActiveTrigger]:
        if key in self._triggers:
            return [self._triggers[key]]
        return [t for t in self._triggers.values() if t.workflow == key]

    def pause(self, key: str) -> bool:
        """Pause one trigger (``<workflow>:<index>``) or all of a workflow's; False if unknown."""
        targets = self._targets(key)
        for trigger in targets:
            if not trigger.state.paused:
                was_active = trigger.active
                trigger.state.paused = True
                self._save(trigger.state)
                if was_active:
                    self._deactivate(trigger)
                logger.info("trigger %s paused", trigger.key)
        return bool(targets)

    def resume(self, key: str) -> bool:
        """Undo the user's pause; a breaker's pause stays until the breaker lets runs through."""
        targets = self._targets(key)
        for trigger in targets:
            if trigger.state.paused:
                trigger.state.paused = False
                self._save(trigger.state)
                logger.info("trigger %s resumed", trigger.key)
                self._reactivate(trigger)
        return bool(targets)

    def pause_all(self) -> None:
        for key in list(self._triggers):
            self.pause(key)

    def resume_all(self) -> None:
        for key in list(self._triggers):
            self.resume(key)
