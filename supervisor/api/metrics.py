"""``/metrics``: Prometheus text built from the supervisor's state when scraped.

Gauges and counters are read from the supervisor and the store at scrape
time, so they can never drift from what ``/health`` and ``/runs`` say.  Step
durations need every step, not a snapshot, so a task follows the event bus
and feeds a histogram.  Everything lives in a registry of its own: nothing
process-global that tests would have to reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from automation.engine.events import RunStatus
from supervisor.breaker import BreakerState
from supervisor.workers import WorkerState

if TYPE_CHECKING:
    from supervisor.daemon import DaemonParts

logger = logging.getLogger(__name__)

STEP_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_RUN_ENDS = {"run_finished", "run_cancelled", "run_interrupted"}


class _StateCollector(Collector):
    def __init__(self, parts: DaemonParts) -> None:
        self.parts = parts
        #: Runs by status, counted off the loop just before each render (``Metrics.refresh``).
        self.run_counts: dict[RunStatus, int] = {}

    def collect(self) -> Iterable[Metric]:
        sup = self.parts.supervisor
        runs = GaugeMetricFamily(
            "deskpilot_runs", "Runs in the history, by status.", labels=["status"]
        )
        for status in RunStatus:
            runs.add_metric([status.value], self.run_counts.get(status, 0))
        yield runs
        yield GaugeMetricFamily(
            "deskpilot_queue_depth", "Runs waiting to start.", value=len(sup.queue)
        )
        yield GaugeMetricFamily(
            "deskpilot_runs_running", "Runs executing now.", value=len(sup.active)
        )
        workers = GaugeMetricFamily(
            "deskpilot_workers", "Worker processes, by state.", labels=["state"]
        )
        for state in WorkerState:
            count = sum(1 for w in sup.workers.values() if w.state is state)
            workers.add_metric([state.value], count)
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
            yield CounterMetricFamily(name, text, value=sup.counters.get(key, 0))
        now = sup.clock()
        open_breakers = sum(
            1 for b in sup.breakers.values() if b.state(now) is not BreakerState.CLOSED
        )
        yield GaugeMetricFamily(
            "deskpilot_breakers_open",
            "Workflows paused by their circuit breaker.",
            value=open_breakers,
        )
        yield GaugeMetricFamily(
            "deskpilot_event_subscribers",
            "Subscribers of the live event bus (this endpoint's own follower included).",
            value=sup.bus.subscribers,
        )
        # started_at is the loop's clock, which is time.monotonic
        yield GaugeMetricFamily(
            "deskpilot_uptime_seconds",
            "Seconds since the supervisor started.",
            value=time.monotonic() - self.parts.started_at,
        )


class Metrics:
    """The registry behind ``/metrics`` and the task that feeds its step histogram."""

    def __init__(self, parts: DaemonParts) -> None:
        self.parts = parts
        self.registry = CollectorRegistry(auto_describe=False)
        self._state = _StateCollector(parts)
        self.registry.register(self._state)
        self.step_duration = Histogram(
            "deskpilot_step_duration_seconds",
            "How long steps took, by block (successful attempts).",
            ["block"],
            registry=self.registry,
            buckets=STEP_BUCKETS,
        )
        self._blocks: dict[tuple[str, int], str] = {}
        self._task: asyncio.Task[None] | None = None

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def refresh(self) -> None:
        """Count runs by status in a thread: a busy database delays ``/metrics``, not the loop."""
        store = self.parts.store
        self._state.run_counts = await asyncio.to_thread(
            lambda: {status: store.count_runs(status=status) for status in RunStatus}
        )

    def observe(self, item: dict[str, Any]) -> None:
        kind = item.get("kind")
        run_id = str(item.get("run_id"))
        if kind == "node_started":
            self._blocks[(run_id, int(item.get("step", 0)))] = str(item.get("block", "unknown"))
        elif kind == "node_finished":
            block = self._blocks.pop((run_id, int(item.get("step", 0))), "unknown")
            self.step_duration.labels(block=block).observe(float(item.get("duration", 0.0)))
        elif kind == "node_failed":
            self._blocks.pop((run_id, int(item.get("step", 0))), None)
        elif kind in _RUN_ENDS:
            for key in [k for k in self._blocks if k[0] == run_id]:
                del self._blocks[key]

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
