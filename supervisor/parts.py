"""What a running daemon is made of, for the API and the triggers to reach.

A plain record of typed collaborators, filled in by ``Daemon.serve``: the
supervisor, the history store, the block registry and where files live;
the triggers and the workflow catalog when the daemon runs them.  It sits
apart from ``daemon`` so that the API can name it without importing the
daemon that imports the API; the triggers' types are named for the type
checker only, so importing this loads neither APScheduler nor watchdog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from automation.blocks.registry import BlockRegistry
from supervisor.core import Supervisor
from supervisor.paths import DeskpilotPaths
from supervisor.store.store import HistoryStore

if TYPE_CHECKING:
    from supervisor.session_watch import SessionWatch
    from supervisor.triggers.catalog import WorkflowCatalog
    from supervisor.triggers.manager import TriggerManager


def _nothing() -> None:
    return None


@dataclass
class DaemonParts:
    """What the API serves: the supervisor plus the optional parts around it."""

    paths: DeskpilotPaths
    supervisor: Supervisor
    store: HistoryStore
    registry: BlockRegistry
    #: The triggers of the workflows folder; None when the daemon runs without them.
    triggers: TriggerManager | None = None
    #: The workflows folder's catalog (the triggers keep it); None without triggers.
    catalog: WorkflowCatalog | None = None
    #: When the daemon started (its loop's clock), for the uptime ``/metrics`` reports.
    started_at: float = 0.0
    #: Asks the daemon to stop (``POST /supervisor/stop``).
    stop: Callable[[], None] = field(default=_nothing)
    #: Whether the screen is locked or the machine going to sleep (D-Bus signals).
    session: SessionWatch | None = None
