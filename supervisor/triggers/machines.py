"""A trigger whose ``on:`` names a machine that no supervisor of the database ever ran on.

A typo there (``on: pc-b2`` for ``pc-b``) would make every fire a run no
machine claims.  Submits refuse such a run (``Submitting._check_host``), and
the fire is recorded as not run; this says so as soon as the trigger is
loaded, on the trigger itself (its ``last_error``, shown by ``deskpilot
triggers`` and the window) and in the log, naming the file, the trigger and
the machines that are known.  It is not refused: a machine may join later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from automation.errors import DeskpilotError
from supervisor.triggers.active import ActiveTrigger
from supervisor.triggers.state import TriggerState

if TYPE_CHECKING:
    from supervisor.core import Supervisor

logger = logging.getLogger(__name__)


async def check_machine(
    supervisor: Supervisor,
    trigger: ActiveTrigger,
    path: Path | None,
    *,
    still_loaded: Callable[[], bool],
    save: Callable[[TriggerState], None],
) -> None:
    """Mark ``trigger`` if its ``on:`` names a machine no supervisor of the database ran on."""
    host = trigger.spec.on
    store = supervisor.store
    try:
        known = await supervisor.store_behind(
            lambda: {record.host for record in store.list_supervisors()}
        )
    except DeskpilotError as exc:
        logger.warning("could not read which machines share the database: %s", exc)
        return
    if host is None or host in known or not still_loaded():
        return
    where = f"{path}: " if path is not None else ""
    message = (
        f"{where}trigger {trigger.index}, field 'on': no supervisor on a machine named "
        f"'{host}' has joined this database (known machines: {', '.join(sorted(known)) or 'none'}); "
        "until one does, its fires are recorded as not run"
    )
    logger.warning("trigger %s: %s", trigger.key, message)
    trigger.state.last_error = message
    save(trigger.state)
