"""The supervisor's state and the plumbing every part of it shares."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from automation.blocks.registry import BlockRegistry
from automation.engine.events import (
    Event,
    RunStatus,
)
from automation.errors import DeskpilotError
from automation.loader import LoadedWorkflow
from supervisor.breaker import BreakerState, CircuitBreaker, OpenedFor
from supervisor.breaker_sync import Change
from supervisor.bus import (
    BreakerClosed,
    BreakerOpened,
    EventBus,
    HistoryWriteFailed,
    SupervisorEvent,
)
from supervisor.config import WORKER_START_TIMEOUT, SupervisorConfig
from supervisor.desktop_gate import DesktopGate
from supervisor.membership import Membership, lease_holds
from supervisor.runqueue import ActiveRun, BehindBatch, QueuedRun
from supervisor.store.recorder import Recorder
from supervisor.store.records import RunRecord, VersionRef
from supervisor.store.store import HistoryStore, QueuedRow
from supervisor.store_time import StoreTime
from supervisor.workers import (
    ExitReason,
    WorkerHandle,
    WorkerLauncher,
    kill_tree,
)

if TYPE_CHECKING:
    from supervisor.store.breaker_rows import BreakerRow
    from supervisor.store.notify import QueueWatcher

logger = logging.getLogger(__name__)

#: A stored workflow version, parsed: its text, path, resources, step timeouts and block ids.
ParsedVersion = tuple[str, str | None, frozenset[str], dict[str, float], frozenset[str]]


T = TypeVar("T")

#: After the history refused a write (disk full, database locked), try again this much later.
STORE_RETRY_SECONDS = 2.0


class SupervisorBase:
    def __init__(
        self,
        *,
        store: HistoryStore,
        launcher: WorkerLauncher,
        registry: BlockRegistry,
        config: SupervisorConfig | None = None,
        artifacts_dir: Path,
        worker_log: Callable[[int], Path] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        kill: Callable[[int], object] = kill_tree,
        membership: Membership | None = None,
        watcher: QueueWatcher | None = None,
        api_url: str | None = None,
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.registry = registry
        self.config = config or SupervisorConfig()
        self.artifacts_dir = artifacts_dir
        self.worker_log = worker_log
        self.clock = clock
        self.rng = rng or random.Random()
        #: Kills a worker's whole process tree (a seam: tests with fake workers pass their own).
        self.kill_process = kill
        self.bus = EventBus()
        self.queue: dict[str, QueuedRun] = {}
        self.active: dict[str, ActiveRun] = {}
        self.workers: dict[int, WorkerHandle] = {}
        #: This supervisor's view of each workflow's breaker, shared through the store
        #: (``breaker_link``).
        self.breakers: dict[str, CircuitBreaker] = {}
        #: Breaker writes on the store lane not answered yet, per workflow.
        self._breaker_pending: dict[str, int] = {}
        #: The version of the stored breaker row each view was last made from.
        self._breaker_versions: dict[str, int] = {}
        self.counters: dict[str, int] = {
            "restarts": 0,
            "heartbeat_misses": 0,
            "workers_started": 0,
            "runs_finished": 0,
        }
        #: Called with (workflow name, status) when a run ends (chained triggers listen here).
        self.on_run_finished: list[Callable[[str, str, str], None]] = []
        #: Called after each renewal of this supervisor's lease (chained triggers left
        #: waiting by others are drained then).
        self.on_renewed: list[Callable[[], None]] = []
        #: Called with why, once, when this supervisor finds it was forgotten while it ran
        #: (``fleetlink._forgotten``): the daemon stops.
        self.on_forgotten: list[Callable[[str], None]] = []
        #: Called with a workflow name when its breaker opens or closes.
        self.on_breaker: list[Callable[[str, BreakerState], None]] = []
        #: Runs whose end is waiting to be committed: run id -> (workflow, status).
        self._finishing: dict[str, tuple[str, RunStatus]] = {}
        self.accepting = False
        #: A new worker that has not said hello after this long is killed (as hung).
        self.worker_start_timeout = WORKER_START_TIMEOUT
        #: Runs the store says this supervisor claimed that it does not hold: when each was
        #: first found so (``leases.unheld_claims``); -inf: release at the next look.
        self._unheld_since: dict[str, float] = {}
        #: Queued runs this supervisor tries before the others it loaded (``fleet_share``).
        self._share: set[str] = set()
        #: The others' runs it holds back until its next look, with their own ``not_before``.
        self._held_back: dict[str, float] = {}
        #: When the grace of each held-back run ends: a look after it lets the run start here.
        self._grace_ends: dict[str, float] = {}
        self._order = 0
        #: Submits waiting for the end of ``batch()``: their rows and queue entries.
        self._batch: list[tuple[QueuedRow, QueuedRun]] | None = None
        #: Submits waiting for the end of ``batch_behind()``: their queue entries and workflows.
        self._behind: list[tuple[QueuedRun, LoadedWorkflow]] | None = None
        self._behind_batch: BehindBatch | None = None
        #: Saved workflow versions by (name, path, content hash): a submit of an unchanged
        #: file needs no write for its version.
        self._versions: dict[tuple[str, str | None, str], VersionRef] = {}
        #: Workflow versions parsed for runs loaded from the history, by version id.
        self._parsed: dict[int, ParsedVersion] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spawning = 0
        #: Runs being handed to a reserved worker while the history marks them running.
        self._starting: dict[str, tuple[QueuedRun, WorkerHandle]] = {}
        #: Interrupted runs whose settlement is being written to the history.
        self._settling: dict[str, QueuedRun] = {}
        #: Runs to cancel once they are on a worker or back in the queue.
        self._cancel_pending: set[str] = set()
        #: Why the history last refused a write, while it still does (shown by ``health``).
        self.store_trouble: str | None = None
        self._strays: asyncio.TimerHandle | None = None
        #: Holds queued desktop runs while the screen is locked or the machine goes to sleep
        #: (``supervisor/desktop_gate.py``); None lets them start whenever the desktop is free.
        self.desktop_gate: DesktopGate | None = None
        #: Who this supervisor is among those sharing its database, and how it holds runs.
        # By default the one of the home these artifacts belong to: the same one again
        # after a restart, so it finds its own runs.
        self.membership = membership or Membership.of_home(artifacts_dir.parent, shared=False)
        #: Announces runs queued by others (LISTEN/NOTIFY on PostgreSQL); None: polling only.
        self.watcher = watcher
        #: Where this supervisor's API answers, as other machines are told (``supervisors``).
        self.api_url = api_url
        #: When the last renewal of its lease that got through was sent (monotonic).
        self._renewed_at: float | None = None
        #: The shared store's clock, observed at registration and each renewal
        #: (``supervisor.store_time``): what times other machines compare are read on.
        self.store_time = StoreTime(store.clock.now, clock)
        #: Why this supervisor's row vanished from the store (forgotten while it ran, see
        #: ``fleetlink._forgotten``); None while it is registered.
        self.forgotten: str | None = None
        self._link_wake: asyncio.Event | None = None
        self._link_tasks: list[asyncio.Task[None]] = []
        #: Heartbeats go on a thread of their own: a backlog of writes must not delay them.
        self._lease_lane = concurrent.futures.ThreadPoolExecutor(1, "lease-renewal")
        self.recorder = Recorder(store, on_committed=self._committed)
        #: The one thread that runs the loop's store calls, in the order they were made: a
        #: locked or slow database delays them, never the loop (health, heartbeats, the API).
        self._store_lane = concurrent.futures.ThreadPoolExecutor(1, "history-calls")

    async def _in_store(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call (or other file work) on the store lane, off the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._store_lane, functools.partial(function, *args, **kwargs)
        )

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("supervisor task failed", exc_info=task.exception())

    def publish(self, event: SupervisorEvent) -> None:
        self.bus.publish(event.to_dict())

    def _committed(self, events: Sequence[Event]) -> None:
        """Recorder thread: events are durable now; hand them to live clients."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        payload = [event.to_dict() for event in events]
        with contextlib.suppress(RuntimeError):  # the loop closed while we were committing
            loop.call_soon_threadsafe(self._publish_many, payload)

    def _publish_many(self, payload: list[dict[str, Any]]) -> None:
        ended = False
        for item in payload:
            self.bus.publish(item)
            if item.get("kind") == "run_finished":
                pending = self._finishing.pop(str(item.get("run_id")), None)
                if pending is not None:
                    self._finished(pending[0], str(item["run_id"]), pending[1])
                    ended = True
        if ended:
            self._dispatch()  # a breaker may have closed

    # -- when the history refuses a write ---------------------------------------------
    def _store_failed(self, doing: str, exc: DeskpilotError) -> None:
        """A write failed (disk full, database locked): say so once, and try again later.

        Nothing is dropped: the run that could not start stays queued, and a run
        whose end could not be recorded is found again by ``_settle_strays``.
        """
        if self.store_trouble != str(exc):
            logger.error("could not %s: %s", doing, exc)
            self.publish(HistoryWriteFailed(doing=doing, error=str(exc)))
        self.store_trouble = str(exc)
        loop = self._loop
        if loop is not None and self._strays is None and self.accepting:
            self._strays = loop.call_later(STORE_RETRY_SECONDS, self._settle_strays)

    def _store_ok(self) -> None:
        if self.store_trouble is not None:
            logger.info("the history accepts writes again")
            self.store_trouble = None

    def store_behind(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue a blocking store call on the store lane and return at once, on the loop.

        The lane runs its calls one at a time in the order they were queued
        (``_in_store``'s among them): a write queued after another lands after it.
        """
        loop = self._loop or asyncio.get_running_loop()
        return loop.run_in_executor(self._store_lane, functools.partial(function, *args))

    # -- dispatching -------------------------------------------------------------------------
    def _wake_in(self, delay: float) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._wake is not None:
            if self._wake.when() <= loop.time() + delay:
                return
            self._wake.cancel()
        self._wake = loop.call_later(delay, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._dispatch()

    def reset_breaker(self, workflow: str, *, share: bool = True) -> bool:
        """Close a workflow's breaker by hand; False if it was not open here.

        With ``share`` the reset is written to the store too, for every
        supervisor (``reset_breaker_everywhere`` waits for that write).
        """
        breaker = self.breakers.get(workflow)
        if breaker is None or breaker.opened_at is None:
            return False
        breaker.reset()
        if share:
            self._share_breaker(workflow, Change.RESET)
        self.publish(BreakerClosed(workflow=workflow))
        self._breaker_changed(workflow, BreakerState.CLOSED)
        self._dispatch()
        return True

    def breaker(self, workflow: str) -> CircuitBreaker:
        breaker = self.breakers.get(workflow)
        if breaker is None:
            breaker = self.breakers[workflow] = CircuitBreaker(self.config.breaker)
        return breaker

    # -- outcomes ------------------------------------------------------------------------------
    def _breaker_opened(self, workflow: str, now: float) -> None:
        """A breaker opened, on failures or on run rate: pause, tell, and wake at half-open."""
        breaker = self.breaker(workflow)
        self.publish(
            BreakerOpened(
                workflow=workflow,
                failures=len(breaker.failures),
                reason=str(breaker.opened_for or OpenedFor.FAILURES),
            )
        )
        if breaker.opened_for is OpenedFor.RUN_RATE:
            policy = breaker.policy
            logger.warning(
                "workflow %s started more than %d runs in %g s: circuit breaker opened",
                workflow,
                policy.max_starts,
                policy.rate_window,
            )
        else:
            logger.warning("workflow %s keeps failing: circuit breaker opened", workflow)
        self._breaker_changed(workflow, BreakerState.OPEN)
        reopen = breaker.reopens_at()
        if reopen is not None:
            self._wake_in(max(0.0, reopen - now))
            if self._loop is not None:
                self._loop.call_later(
                    max(0.0, reopen - now), self._breaker_half_open, workflow, reopen
                )

    def _finished(self, workflow: str, run_id: str, status: RunStatus) -> None:
        now = self.clock()
        breaker = self.breaker(workflow)
        if status is RunStatus.SUCCEEDED:
            # Only a success that changes something is written: most runs cost no write.
            counted = bool(breaker.failures) or breaker.opened_at is not None
            if breaker.record_success(now):
                self.publish(BreakerClosed(workflow=workflow))
                self._breaker_changed(workflow, BreakerState.CLOSED)
            if counted:
                self._share_breaker(workflow, Change.SUCCEEDED, run_id)
        elif status is RunStatus.FAILED:
            if breaker.record_failure(now):
                self._breaker_opened(workflow, now)
            self._share_breaker(workflow, Change.FAILED, run_id)
        for listener in self.on_run_finished:
            try:
                listener(workflow, run_id, str(status))
            except Exception:
                logger.exception("run-finished callback failed")

    def _breaker_changed(self, workflow: str, state: BreakerState) -> None:
        for listener in self.on_breaker:
            try:
                listener(workflow, state)
            except Exception:
                logger.exception("breaker callback failed")

    def _breaker_half_open(self, workflow: str, reopen: float) -> None:
        """The cool-down ended: let listeners (paused triggers) send the probe run."""
        breaker = self.breaker(workflow)
        if breaker.reopens_at() == reopen and breaker.state(self.clock()) is BreakerState.HALF_OPEN:
            self._breaker_changed(workflow, BreakerState.HALF_OPEN)
            self._dispatch()

    # -- reading state ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """What ``/health`` reports; it reads no table, so a locked database cannot stall it.

        The database's state is what the last writes met (each commit batch checks
        the file is still the one opened), plus one ``stat`` of the file now.
        """
        problem = self.store.problem()
        failure = self.recorder.failure
        trouble = problem or self.store_trouble or (str(failure) if failure is not None else None)
        database = "ok" if trouble is None else f"error: {trouble}"
        return {
            "status": "ok" if database == "ok" else "degraded",
            "accepting": self.accepting,
            "queue_depth": len(self.queue),
            "running": len(self.active),
            "workers": [w.info() for w in self.workers.values()],
            "database": database,
            "breakers": {
                name: str(b.state(self.clock()))
                for name, b in self.breakers.items()
                if b.opened_at is not None
            },
        }

    def store_now(self) -> datetime:
        """Now, on the clock times written for other machines are read on.

        Sharing its database, that is the database's (``store_time``): a
        restart delay, a retry's wait, a breaker's times, a run's first start,
        when a run was queued (the fleet's queue is first in, first out) mean
        the same moment on every machine, whatever their clocks say.
        Alone, this machine's wall clock (the store's ``clock``).
        """
        if self.membership.shared:
            return self.store_time.now()
        return self.store.clock.now()

    def _local_time(self, at: datetime | None) -> float:
        """A UTC time from the history on this supervisor's clock (0: it has passed, or None).

        Such a time (a restart delay's end) was written on the clock ``store_now`` reads.
        """
        if at is None:
            return 0.0
        wait = (at - self.store_now()).total_seconds()
        return self.clock() + wait if wait > 0 else 0.0

    def _lease_holds(self) -> bool:
        """Whether the runs it claimed are still its own (``membership.lease_holds``)."""
        return lease_holds(self.clock(), self._renewed_at, self.membership.lease_seconds)

    # -- what the other parts provide (``Supervisor`` joins them) ----------------------------
    def _dispatch(self) -> None:
        """Start what the queue allows now (``core``)."""
        raise NotImplementedError

    def _ensure_spares(self) -> None:
        """Start workers so that spares wait for the queue (``running``)."""
        raise NotImplementedError

    def _settle_strays(self) -> None:
        """Resume runs the history holds that nothing here does (``reconcile``)."""
        raise NotImplementedError

    def _cancel_active(self, active: ActiveRun) -> None:
        """Stop a run on its worker (``running``)."""
        raise NotImplementedError

    def _entry_from_record(self, run_id: str, record: RunRecord | None = None) -> QueuedRun | None:
        """A queue entry for a run of the history (``reconcile``)."""
        raise NotImplementedError

    def _requeue_from_store(
        self, run_id: str, reason: str, last_seq: int = 0, owner: str | None = None
    ) -> QueuedRun | None:
        """Queue an interrupted run again, to resume (``reconcile``)."""
        raise NotImplementedError

    async def cancel_off_loop(self, run_id: str) -> bool:
        """Cancel a run, writing on the store lane (``submitting``)."""
        raise NotImplementedError

    def _arm(self, worker: WorkerHandle) -> None:
        """Wake up at the worker's next deadline (``running``)."""
        raise NotImplementedError

    def _note(self, run_id: str, seq: int, message: str, data: dict[str, Any]) -> None:
        """Add a warning to a run's event log (``running``)."""
        raise NotImplementedError

    async def _collect_and_kill(self, worker: WorkerHandle, reason: ExitReason) -> None:
        """Save a worker's evidence, then kill it (``evidence``)."""
        raise NotImplementedError

    def poke(self) -> None:
        """Look for queued work now (``fleetlink``)."""
        raise NotImplementedError

    def _claim_lost(self, run_id: str) -> None:
        """Another supervisor claimed a run this one chose (``fleetlink``)."""
        raise NotImplementedError

    def _share_breaker(self, workflow: str, change: Change, run_id: str | None = None) -> None:
        """Write a breaker change to the store for every supervisor (``breaker_link``)."""
        raise NotImplementedError

    def _refresh_breakers(self, rows: list[BreakerRow]) -> None:
        """Adopt the breaker rows a renewal read (``breaker_link``)."""
        raise NotImplementedError

    def _fence(self, why: str, run_ids: list[str] | None = None) -> None:
        """Stop the workers of runs that are no longer its own, writing nothing (``fleetlink``)."""
        raise NotImplementedError
