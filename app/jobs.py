"""Short API calls for views, run on a pool thread with the answer delivered on the GUI thread.

Any call can block for as long as a client timeout when the supervisor is busy
or gone, so views never make one on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from automation.errors import DeskpilotError

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Relay(QObject):
    """Carries one job's result from a pool thread back to the GUI thread."""

    finished = Signal(object, object)

    def __init__(
        self,
        done: Callable[[Any], None] | None,
        failed: Callable[[Exception], None] | None,
        owner: QObject | None,
    ) -> None:
        super().__init__()
        self._done = done
        self._failed = failed
        self._owner = owner
        self.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object, object)
    def _deliver(self, result: Any, error: Any) -> None:
        _RELAYS.discard(self)
        if self._owner is not None and not shiboken6.isValid(self._owner):
            return  # the view that asked is gone
        if error is None:
            if self._done is not None:
                self._done(result)
        elif self._failed is not None:
            self._failed(error)
        else:
            log.warning("background request failed: %s", error)


_RELAYS: set[_Relay] = set()


class _Job(QRunnable):
    def __init__(self, function: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.function = function
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.function()
        except DeskpilotError as exc:
            self.relay.finished.emit(None, exc)
        except Exception as exc:  # a bug: keep the traceback in the log, show a sentence
            log.exception("background request failed")
            self.relay.finished.emit(None, exc)
        else:
            self.relay.finished.emit(result, None)


def job_pool() -> QThreadPool:
    """The pool the GUI's API calls run on (a few threads: the socket is local)."""
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() > 4:
        pool.setMaxThreadCount(4)
    return pool


def run_job(
    function: Callable[[], T],
    done: Callable[[T], None] | None = None,
    failed: Callable[[Exception], None] | None = None,
    *,
    owner: QObject | None = None,
) -> None:
    """Run ``function`` on a pool thread; ``done``/``failed`` run later on the GUI thread.

    With ``owner``, nothing is delivered once that object is deleted.
    """
    relay = _Relay(done, failed, owner)
    _RELAYS.add(relay)
    job_pool().start(_Job(function, relay))
