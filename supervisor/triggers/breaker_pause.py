"""Triggers paused while their workflow's circuit breaker is open (part of ``TriggerManager``).

The breaker reports opening and closing (``Supervisor.on_breaker``); the
manager looks again when the cool-down ends, and lets the triggers go when
the breaker closes or half-opens, so the probe run can come through.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from supervisor.breaker import BreakerState
from supervisor.triggers.active import ActiveTrigger

if TYPE_CHECKING:
    from supervisor.core import Supervisor

logger = logging.getLogger("supervisor.triggers.manager")


class BreakerPauses:
    """The breaker side of ``TriggerManager``: its state is the manager's."""

    supervisor: Supervisor
    _triggers: dict[str, ActiveTrigger]
    _breaker_timers: dict[str, asyncio.TimerHandle]
    _loop: asyncio.AbstractEventLoop | None

    def _deactivate(self, trigger: ActiveTrigger) -> None:  # pragma: no cover - the manager's
        raise NotImplementedError

    def _reactivate(self, trigger: ActiveTrigger) -> None:  # pragma: no cover - the manager's
        raise NotImplementedError

    def _breaker_changed(self, workflow: str, state: BreakerState) -> None:
        if state is BreakerState.OPEN:
            for trigger in [t for t in self._triggers.values() if t.workflow == workflow]:
                if not trigger.breaker_paused:
                    was_active = trigger.active
                    trigger.breaker_paused = True
                    if was_active:
                        self._deactivate(trigger)
            logger.warning("workflow %s keeps failing: its triggers are paused", workflow)
            self._arm_breaker_timer(workflow)
        else:
            self._breaker_released(workflow, "its circuit breaker closed")

    def _arm_breaker_timer(self, workflow: str) -> None:
        """Breakers report opening and closing only; we look again when the cool-down ends."""
        if self._loop is None:
            return
        reopens = self.supervisor.breaker(workflow).reopens_at()
        if reopens is None:
            return
        old = self._breaker_timers.pop(workflow, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, reopens - self.supervisor.clock())
        self._breaker_timers[workflow] = self._loop.call_later(
            delay + 0.01, self._breaker_cooled, workflow
        )

    def _breaker_cooled(self, workflow: str) -> None:
        self._breaker_timers.pop(workflow, None)
        state = self.supervisor.breaker(workflow).state(self.supervisor.clock())
        if state is BreakerState.OPEN:
            self._arm_breaker_timer(workflow)  # opened again meanwhile
        else:
            self._breaker_released(workflow, f"its circuit breaker is {state}: a probe run may go")

    def _breaker_released(self, workflow: str, why: str) -> None:
        timer = self._breaker_timers.pop(workflow, None)
        if timer is not None:
            timer.cancel()
        released = [
            t for t in self._triggers.values() if t.workflow == workflow and t.breaker_paused
        ]
        for trigger in released:
            trigger.breaker_paused = False
            self._reactivate(trigger)
        if released:
            logger.info("triggers of %s resumed: %s", workflow, why)
