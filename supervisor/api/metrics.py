"""``/metrics``: Prometheus text built from the supervisor's state when scraped.

Gauges and counters are read from the supervisor and the store at scrape
time, so they can never drift from what ``/health`` and ``/runs`` say.  Step
durations and run endings need every event, not a snapshot, so a task
follows the event bus and feeds a histogram and a counter.  Everything lives
in a registry of its own: nothing process-global that tests would have to
reset.

Every series carries a ``machine`` label (``supervisor.machine.machine_host``),
so one Prometheus scraping a fleet tells the machines apart.  Most series are
this supervisor's own (its queue, workers, breakers, runs ended here); the
ones read from the shared database are the fleet's, the same on every
machine, and say so in their help: ``deskpilot_runs`` (by status),
``deskpilot_supervisors`` (by state),
``deskpilot_supervisor_heartbeat_age_seconds`` (per supervisor) and
``deskpilot_oldest_queued_run_age_seconds`` (per target machine).  The
dashboard and alert rules in ``packaging/monitoring`` use these names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from automation.engine.events import RunStatus
from supervisor.breaker import BreakerState
from supervisor.machine import MachineState, machine_host, machine_state
from supervisor.workers import WorkerState

if TYPE_CHECKING:
    from supervisor.parts import DaemonParts
    from supervisor.store import HistoryStore

logger = logging.getLogger(__name__)

STEP_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_RUN_ENDS = {"run_finished", "run_cancelled", "run_interrupted"}
#: The target label of queued runs any machine may take.
ANY_MACHINE = "any"


@dataclass(frozen=True)
class FleetSnapshot:
    """What the shared database says, read off the loop just before each render."""

    run_counts: dict[RunStatus, int] = field(default_factory=dict)
    #: state -> how many supervisors are in it
    supervisors: dict[MachineState, int] = field(default_factory=dict)
    #: (host, supervisor id) -> seconds since its last heartbeat, for those not stopped
    heartbeat_ages: dict[tuple[str, str], float] = field(default_factory=dict)
    #: target host (``ANY_MACHINE``: any) -> age of its oldest queued run, in seconds
    oldest_queued: dict[str, float] = field(default_factory=dict)


def read_fleet(store: HistoryStore, now: datetime) -> FleetSnapshot:
    """One read of the shared tables for a scrape (in a thread: it waits on the database)."""
    records = store.list_supervisors()
    states = {state: 0 for state in MachineState}
    for record in records:
        states[machine_state(record, now)] += 1
    oldest = {ANY_MACHINE: 0.0}
    for host, at in store.oldest_queued().items():
        oldest[host or ANY_MACHINE] = max(0.0, (now - at).total_seconds())
    return FleetSnapshot(
        run_counts={status: store.count_runs(status=status) for status in RunStatus},
        supervisors=states,
        heartbeat_ages={
            (r.host, r.id): max(0.0, (now - r.heartbeat_at).total_seconds())
            for r in records
            if r.stopped_at is None
        },
        oldest_queued=oldest,
    )


class _StateCollector(Collector):
    def __init__(self, parts: DaemonParts, machine: str) -> None:
        self.parts = parts
        self.machine = machine
        #: Read off the loop just before each render (``Metrics.refresh``).
        self.fleet = FleetSnapshot()

    def _gauge(self, name: str, text: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, text, labels=["machine"])
        family.add_metric([self.machine], value)
        return family

    def collect(self) -> Iterable[Metric]:
        sup = self.parts.supervisor
        machine = self.machine
        yield from self._fleet()
        yield self._gauge("deskpilot_queue_depth", "Runs waiting to start here.", len(sup.queue))
        yield self._gauge("deskpilot_runs_running", "Runs executing here now.", len(sup.active))
        workers = GaugeMetricFamily(
            "deskpilot_workers", "Worker processes, by state.", labels=["machine", "state"]
        )
        for state in WorkerState:
            count = sum(1 for w in sup.workers.values() if w.state is state)
            workers.add_metric([machine, state.value], count)
        yield workers
        counters = (
            (
                "deskpilot_worker_restarts",
                "restarts",
                "Runs resumed after their worker crashed or hung.",
            ),
            (
                "deskpilot_heartbeat_misses",
                "heartbeat_misses",
                "Workers killed for missing heartbeats.",
            ),
            ("deskpilot_workers_started", "workers_started", "Worker processes started."),
            ("deskpilot_runs_finished", "runs_finished", "Runs that ended in a worker."),
        )
        for name, key, text in counters:
            counter = CounterMetricFamily(name, text, labels=["machine"])
            counter.add_metric([machine], sup.counters.get(key, 0))
            yield counter
        now = sup.clock()
        breaker = GaugeMetricFamily(
            "deskpilot_breaker_open",
            "1 for each workflow whose circuit breaker (shared by the fleet) is open or half-open.",
            labels=["machine", "workflow"],
        )
        open_breakers = 0
        for name, breaker_state in sorted((n, b.state(now)) for n, b in sup.breakers.items()):
            if breaker_state is not BreakerState.CLOSED:
                breaker.add_metric([machine, name], 1)
                open_breakers += 1
        yield breaker
        yield self._gauge(
            "deskpilot_breakers_open", "Workflows paused by their circuit breaker.", open_breakers
        )
        yield self._gauge(
            "deskpilot_event_subscribers",
            "Subscribers of the live event bus (this endpoint's own follower included).",
            sup.bus.subscribers,
        )
        # started_at is the loop's clock, which is time.monotonic
        yield self._gauge(
            "deskpilot_uptime_seconds",
            "Seconds since the supervisor started.",
            time.monotonic() - self.parts.started_at,
        )

    def _fleet(self) -> Iterable[Metric]:
        fleet, machine = self.fleet, self.machine
        runs = GaugeMetricFamily(
            "deskpilot_runs",
            "Runs in the shared history, by status (the fleet's: the same on every machine).",
            labels=["machine", "status"],
        )
        for status in RunStatus:
            runs.add_metric([machine, status.value], fleet.run_counts.get(status, 0))
        yield runs
        supervisors = GaugeMetricFamily(
            "deskpilot_supervisors",
            "Supervisors sharing the database, by state (alive, late, gone), as seen from here.",
            labels=["machine", "state"],
        )
        for state in MachineState:
            supervisors.add_metric([machine, state.value], fleet.supervisors.get(state, 0))
        yield supervisors
        ages = GaugeMetricFamily(
            "deskpilot_supervisor_heartbeat_age_seconds",
            "Seconds since each running supervisor's last heartbeat in the database "
            "(the fleet's; 'host' is the supervisor's machine).",
            labels=["machine", "host", "supervisor"],
        )
        for (host, supervisor), age in sorted(fleet.heartbeat_ages.items()):
            ages.add_metric([machine, host, supervisor], age)
        yield ages
        oldest = GaugeMetricFamily(
            "deskpilot_oldest_queued_run_age_seconds",
            "Age of the oldest queued run, by the machine it waits for ('any': any machine); "
            "0 when none waits (the fleet's).",
            labels=["machine", "target"],
        )
        for target, age in sorted(fleet.oldest_queued.items()):
            oldest.add_metric([machine, target], age)
        yield oldest


class Metrics:
    """The registry behind ``/metrics`` and the task that feeds its step histogram."""

    def __init__(self, parts: DaemonParts, machine: str | None = None) -> None:
        self.parts = parts
        self.machine = machine or machine_host()
        self.registry = CollectorRegistry(auto_describe=False)
        self._state = _StateCollector(parts, self.machine)
        self.registry.register(self._state)
        self.step_duration = Histogram(
            "deskpilot_step_duration_seconds",
            "How long steps took, by block (successful attempts).",
            ["machine", "block"],
            registry=self.registry,
            buckets=STEP_BUCKETS,
        )
        self.runs_ended = Counter(
            "deskpilot_runs_ended",
            "Runs that ended here, by workflow and final status (failure rates come from it).",
            ["machine", "workflow", "status"],
            registry=self.registry,
        )
        self._blocks: dict[tuple[str, int], str] = {}
        #: run id -> workflow name, from its run_queued or run_started event until its end
        self._workflows: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def refresh(self) -> None:
        """Read the shared tables in a thread: a busy database delays ``/metrics``, not the loop."""
        store = self.parts.store
        self._state.fleet = await asyncio.to_thread(lambda: read_fleet(store, store.lease_time()))

    def observe(self, item: dict[str, Any]) -> None:
        kind = item.get("kind")
        run_id = str(item.get("run_id"))
        if kind in ("run_queued", "run_started"):
            self._workflows[run_id] = str(item.get("workflow") or "unknown")
        elif kind == "node_started":
            self._blocks[(run_id, int(item.get("step", 0)))] = str(item.get("block", "unknown"))
        elif kind == "node_finished":
            block = self._blocks.pop((run_id, int(item.get("step", 0))), "unknown")
            self.step_duration.labels(machine=self.machine, block=block).observe(
                float(item.get("duration", 0.0))
            )
        elif kind == "node_failed":
            self._blocks.pop((run_id, int(item.get("step", 0))), None)
        elif kind in _RUN_ENDS:
            for key in [k for k in self._blocks if k[0] == run_id]:
                del self._blocks[key]
            self._run_ended(run_id, item)

    def _run_ended(self, run_id: str, item: dict[str, Any]) -> None:
        """Count a run's final status; an interruption that will resume is not an end."""
        kind = item.get("kind")
        if kind == "run_interrupted" and item.get("will_resume"):
            return
        status = {
            "run_cancelled": RunStatus.CANCELLED.value,
            "run_interrupted": RunStatus.FAILED.value,
        }.get(str(kind)) or str(item.get("status") or "unknown")
        workflow = self._workflows.pop(run_id, None) or str(item.get("workflow") or "unknown")
        self.runs_ended.labels(machine=self.machine, workflow=workflow, status=status).inc()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self) -> None:
        bus = self.parts.supervisor.bus
        queue = bus.subscribe()
        try:
            while True:
                item = await queue.get()
                try:
                    self.observe(item)
                except (TypeError, ValueError):
                    logger.debug("metrics ignored a malformed event: %r", item)
        finally:
            bus.unsubscribe(queue)
