"""The trigger manager's history writes, queued on the supervisor's store lane.

Trigger states, records of fires that did not run: written behind, never on
the event loop, so a locked or slow database delays them and not ``/health``,
``/workers``, the API or heartbeat checks.  The lane runs its calls one at a
time in the order they were queued, so a state saved after a run was
submitted lands after that run's write (``Supervisor.batch_behind``).  Each
call gets a copy of the state as it was when queued: the loop goes on
changing the live one meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from automation.errors import DeskpilotError
from automation.loader import LoadedWorkflow
from supervisor.triggers.state import NotRun, TriggerState, TriggerStateStore

if TYPE_CHECKING:
    from supervisor.core import Supervisor
    from supervisor.store.store import HistoryStore

logger = logging.getLogger(__name__)


class TriggerWrites:
    """Saves trigger states and records not-run fires behind, on the store lane."""

    def __init__(
        self, supervisor: Supervisor, store: HistoryStore, state_store: TriggerStateStore
    ) -> None:
        self.supervisor = supervisor
        self.store = store
        self.state_store = state_store

    def save(self, state: TriggerState, *, holder: str | None = None) -> None:
        """Save ``state`` behind; ``holder``: this supervisor just loaded it (``release``)."""
        self._behind(self.saver([state], holder=holder))

    def saver(
        self, states: Sequence[TriggerState], *, holder: str | None = None
    ) -> Callable[[], None]:
        """A store-lane call that saves these states as they are now."""
        copies = [dataclasses.replace(state) for state in states]

        def save() -> None:
            try:
                self.state_store.save_many(copies, holder=holder)
            except DeskpilotError as exc:
                keys = ", ".join(state.key for state in copies[:5])
                logger.error("could not save the state of trigger(s) %s: %s", keys, exc)

        return save

    def release(self, holder: str, state: TriggerState) -> None:
        """``holder`` unloaded this trigger: the store retires it if nobody else loads it."""
        copy = dataclasses.replace(state)

        def release() -> None:
            try:
                if self.state_store.release(holder, copy):
                    logger.info("trigger %s retired: no supervisor loads it", copy.key)
            except DeskpilotError as exc:
                logger.error("could not release trigger %s: %s", copy.key, exc)

        self._behind(release)

    def release_unloaded(self, holder: str, loaded: Sequence[TriggerState]) -> None:
        """At start: release what ``holder`` held and no longer loads (``TriggerRows``)."""
        copies = [dataclasses.replace(state) for state in loaded]

        def release() -> None:
            try:
                retired = self.state_store.release_unloaded(holder, copies)
            except DeskpilotError as exc:
                logger.error("could not release the triggers this supervisor unloaded: %s", exc)
                return
            if retired:
                logger.info(
                    "%d trigger(s) retired, no supervisor loads them: %s",
                    len(retired),
                    ", ".join(retired[:5]),
                )

        self._behind(release)

    def record(self, loaded: LoadedWorkflow | None, items: Sequence[NotRun]) -> None:
        """Record fires that did not run, linked to the workflow text they belonged to."""
        text = None
        if loaded is not None:
            path = str(loaded.path) if loaded.path else None
            text = (loaded.workflow.name, path, loaded.text)
        self._behind(lambda: self._record_now(text, list(items)))

    def _record_now(self, text: tuple[str, str | None, str] | None, items: list[NotRun]) -> None:
        try:
            version = None
            if text is not None:
                ref = self.store.save_workflow_version(*text)
                version = (ref.workflow_id, ref.version_id)
            self.state_store.record_not_run(items, version)
        except DeskpilotError as exc:
            logger.error(
                "could not record %d fire(s) that did not run (%s): %s",
                len(items),
                ", ".join(item.trigger for item in items[:5]),
                exc,
            )

    def _behind(self, call: Callable[[], None]) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (a test, or after it ended): write here
            call()
            return
        try:
            future = self.supervisor.store_behind(call)
        except RuntimeError:  # the store lane is closed: the supervisor has stopped
            call()
            return
        future.add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("a trigger write failed", exc_info=future.exception())
