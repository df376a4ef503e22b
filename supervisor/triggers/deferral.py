"""Desktop schedules wait while the session is not usable (locked screen, going to sleep).

When a schedule of a workflow that needs the ``desktop`` resource wakes up,
the trigger manager asks ``DesktopDeferral.holds`` first.  If the session is
locked or going to sleep (``SessionWatch``, kept current by D-Bus
signals), the fire is held back: the schedule's
``checked_through`` mark does not move, the reason goes into the history
once per deferral (a cancelled entry with trigger ``deferred:<key>@<since>``)
and onto the trigger as its problem, and the probe is asked again every
``poll`` seconds (only while something is deferred: an idle supervisor does
not poll), or at once when the watch hears the session change.  When the session is usable again the manager accounts for every
fire held back with the schedule's own misfire policy, like fires missed
while the supervisor was down, with the reason in each missed record.

Fires missed while the supervisor was down go through the same gate when it
starts.  Other triggers (files, webhooks, hotkeys, chains) are not deferred:
a person or a program asked for that run now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from automation.model import ScheduleTrigger
from supervisor.core import resources_of
from supervisor.session import SessionProbe, unusable_reason
from supervisor.triggers.misfire import iso
from supervisor.triggers.specs import fit
from supervisor.triggers.state import NotRun

if TYPE_CHECKING:
    from supervisor.triggers.active import ActiveTrigger
    from supervisor.triggers.manager import TriggerManager

logger = logging.getLogger(__name__)

#: Seconds between looks at the session while a desktop schedule is held back.
DEFAULT_POLL = 2.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Deferred:
    key: str
    reason: str
    since: datetime


def release_cause(held: Deferred, until: datetime) -> str:
    """How fires held back by ``held`` are explained in their missed records."""
    return f"deferred from {iso(held.since)} to {iso(until)} because {held.reason}"


class DesktopDeferral:
    """Holds desktop schedule fires while the session is unusable; releases them when usable.

    It works on its ``TriggerManager``'s triggers (same package, same loop):
    which workflows need the desktop, recording a deferral, and accounting
    for the held-back fires once the session is usable again.
    """

    def __init__(
        self, manager: TriggerManager, probe: SessionProbe, *, poll: float = DEFAULT_POLL
    ) -> None:
        self.manager = manager
        self.probe = probe
        self.poll = poll
        self.deferred: dict[str, Deferred] = {}
        self._watch: asyncio.Task[None] | None = None

    def is_deferred(self, key: str) -> bool:
        return key in self.deferred

    def needs_desktop(self, key: str) -> bool:
        manager = self.manager
        trigger = manager._triggers.get(key)
        loaded = manager.catalog.get(trigger.workflow) if trigger is not None else None
        if loaded is None:
            return False
        return "desktop" in resources_of(loaded, manager.parts.registry)

    async def holds(self, key: str) -> bool:
        """True when ``key``'s fire must wait (a desktop schedule, an unusable session)."""
        if key in self.deferred:
            return True
        if not self.needs_desktop(key):
            return False
        reason = unusable_reason(await asyncio.to_thread(self.probe.read))
        if reason is None:
            return False
        held = self.deferred[key] = Deferred(key=key, reason=reason, since=self.manager.now())
        self._started(held)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(self._wait_until_usable())
        return True

    async def reconcile_when_usable(self, trigger: ActiveTrigger) -> None:
        """Fires missed while the supervisor was down: accounted now, or once the session is usable."""
        generation = trigger.generation
        if await self.holds(trigger.key):
            return  # _released accounts for them, with the deferral as their reason
        if trigger.generation == generation and trigger.active:
            self.manager._reconcile(trigger, live=False)

    def forget(self, key: str) -> None:
        """The trigger went away (its workflow changed or was removed)."""
        self.deferred.pop(key, None)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    def _started(self, held: Deferred) -> None:
        manager = self.manager
        trigger = manager._triggers.get(held.key)
        if trigger is None:
            return
        spec = trigger.spec
        policy = spec.misfire if isinstance(spec, ScheduleTrigger) else "run_once"
        manager._set_problem(held.key, f"deferred: {held.reason}")
        manager._record(
            manager.catalog.get(trigger.workflow),
            [
                NotRun(
                    workflow=trigger.workflow,
                    trigger=fit(f"deferred:{held.key}@{iso(held.since)}"),
                    error=(
                        f"deferred: {held.reason}; this schedule's fires wait until the "
                        f"session is usable, then follow its misfire policy '{policy}'"
                    ),
                    at=held.since,
                    inputs=dict(getattr(spec, "inputs", {}) or {}),
                )
            ],
        )

    def _released(self, held: Deferred, cause: str) -> None:
        manager = self.manager
        trigger = manager._triggers.get(held.key)
        manager._set_problem(held.key, None)
        if trigger is not None and trigger.active and trigger.schedule is not None:
            manager._reconcile(trigger, live=False, cause=cause)

    async def _wait_until_usable(self) -> None:
        while self.deferred:
            changed = getattr(self.probe, "changed", None)
            if changed is not None:  # a SessionWatch: woken by the unlock signal itself
                await changed(self.poll)
            else:
                await asyncio.sleep(self.poll)
            try:
                reason = unusable_reason(await asyncio.to_thread(self.probe.read))
            except Exception:  # a probe bug must not hold schedules back for ever
                logger.exception("could not read the session state; releasing deferred schedules")
                reason = None
            if reason is not None:
                continue
            until = self.manager.now()
            held, self.deferred = list(self.deferred.values()), {}
            for item in held:
                logger.info("schedule %s: the session is usable again", item.key)
                try:
                    self._released(item, release_cause(item, until))
                except Exception:
                    logger.exception("could not release schedule %s", item.key)
