"""The supervisor: a durable run queue, worker processes, and what to do when they fail.

It runs on one asyncio loop.  Runs wait in the ``runs`` table (status
``queued``) and in memory, ordered by priority then arrival; the dispatcher
starts them on warm spare workers, respecting the worker limit, the
``desktop`` resource (one run at a time drives mouse and keyboard) and each
workflow's circuit breaker.

Faults and what follows (DESIGN.md's table):

* worker exits or is killed → the run is ``interrupted`` and re-queued with a
  checkpoint of its finished steps, after a restart delay that grows with
  each restart; past ``max_restarts`` it fails for good;
* no heartbeat within the lease → stack dump requested, process tree and log
  tail saved as evidence, the whole tree killed; then as above, as ``hung``;
* a step or the run outlives its deadline plus grace (the engine failed to
  stop it) → killed, as ``timed_out``;
* the supervisor itself died → on start, runs still ``running`` are
  interrupted and resumed the same way.

Only this process writes the database; worker events arrive over pipes and
are group-committed by a ``Recorder`` before clients see them.

The decisions are pure functions, each in its module and tested with plain
numbers for the clock: which runs start now (``dispatch.plan_dispatch``),
what follows a run's interruption (``settlement.settlement``), when a run
times out (``settlement.run_deadline``) and what a worker's lease timer
finds (``leases.check_lease``).  ``Supervisor`` is the async shell that
carries them out; its parts, one per noun, share its state
(``runtime.SupervisorBase``):

* ``core``: start, stop, dispatch and the hand-over of a run to a worker;
* ``submitting``: new runs, batches, re-runs and cancels;
* ``running``: workers' messages, ends, interruptions, deadlines, the debugger;
* ``debugrelay``: debugger commands for runs other supervisors hold, and theirs;
* ``evidence``: what is saved of a worker before it is killed;
* ``reconcile``: runs the history holds that nothing here does (after a
  restart, or a refused write).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from automation.engine.events import RunFinished, RunStatus
from automation.errors import DeskpilotError
from supervisor.breaker_link import BreakerLink
from supervisor.breaker_sync import Change
from supervisor.debugging import cut_checkpoint
from supervisor.debugrelay import DebugRelay
from supervisor.dispatch import DESKTOP, plan_dispatch
from supervisor.errors import IllegalTransition
from supervisor.errors import SupervisorError as SupervisorError  # re-exported: older imports
from supervisor.evidence import Evidence
from supervisor.fleetlink import FleetLink
from supervisor.protocol import DoneStep, Drain, Start, StepInFlight
from supervisor.reconcile import Reconciling
from supervisor.resume import interrupted_step, spent_attempts
from supervisor.running import Running
from supervisor.runqueue import ActiveRun, QueuedRun, apply_options
from supervisor.runqueue import resources_of as resources_of  # re-exported: older imports
from supervisor.runtime import STORE_RETRY_SECONDS, SupervisorBase
from supervisor.settlement import Settlement as Settlement  # re-exported: older imports
from supervisor.settlement import settlement as settlement  # re-exported: older imports
from supervisor.store.breaker_rows import BreakerRow
from supervisor.store.errors import StoreError
from supervisor.store.records import ClaimMiss, RunRecord, StepRecord
from supervisor.submitting import Submitting
from supervisor.workers import (
    ExitReason,
    WorkerHandle,
    WorkerState,
)

logger = logging.getLogger(__name__)

#: A run its machine's desktop could not take yet (another supervisor's run has it) is
#: tried again this much later.
NOT_CLAIMED_RETRY = 1.0


class Supervisor(
    Running,
    Evidence,
    Submitting,
    Reconciling,
    DebugRelay,
    FleetLink,
    BreakerLink,
    SupervisorBase,
):
    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        reap = getattr(self.launcher, "reap_strays", None)
        if callable(reap):
            stray = reap()
            if stray:
                logger.warning(
                    "killed %d worker processes a previous supervisor left behind", len(stray)
                )
        self._join()
        self._load_breakers()
        self._reconcile()
        self.accepting = True
        self._start_link()
        if self.membership.shared:  # alone on SQLite, every debugger command comes through its API
            self._link_tasks.append(
                self._loop.create_task(self._serve_debug_requests(), name="debug-requests")
            )
        self._ensure_spares()
        self._dispatch()

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work, let running runs finish within ``grace``, then interrupt them.

        If the history file was deleted or replaced meanwhile, everything from here
        on (and everything waiting in memory) is written to a recovery file that
        the next start imports (``HistoryStore.divert``).
        """
        self.accepting = False
        if self.store.problem() is not None:
            try:
                target = await self._in_store(self.store.divert)
            except (OSError, DeskpilotError) as exc:
                logger.error("could not save what is pending to a recovery file: %s", exc)
            else:
                logger.warning(
                    "the history database is gone; what this run of the supervisor could not "
                    "write is saved in %s and imported at the next start",
                    target,
                )
        grace = self.config.shutdown_grace if grace is None else grace
        deadline = self.clock() + grace
        # Running steps may finish; no run starts another.  A run held between two steps
        # (drained) is interrupted there and resumed at the next start.
        for active in list(self.active.values()):
            self._spawn_task(active.worker.send(Drain()))
        while self.clock() < deadline and any(
            not active.worker.drained for active in self.active.values()
        ):
            await asyncio.sleep(0.05)
        for active in list(self.active.values()):
            active.worker.kill_reason = ExitReason.SHUTDOWN
            self.kill_process(active.worker.pid)
        for worker in list(self.workers.values()):
            if worker.state is not WorkerState.BUSY:
                worker.kill_reason = ExitReason.SHUTDOWN
                self.kill_process(worker.pid)
        waiting = [w.process.wait() for w in self.workers.values()]
        if waiting:
            await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=5)
        # Tasks may start more (a worker's exit settles its run): wait until none is left.
        for _ in range(5):
            if not self._tasks:
                break
            for task in list(self._tasks):
                try:
                    await asyncio.wait_for(task, timeout=2)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
        # Leases were renewed until here, so the settlements above were still its to write.
        await self._leave()
        if self._wake is not None:
            self._wake.cancel()
        if self._strays is not None:
            self._strays.cancel()
        try:
            self.recorder.close()
        finally:
            self._store_lane.shutdown(wait=True)

    def _dispatch(self) -> None:
        """Carry out the dispatch plan (``supervisor.dispatch``) for the queue as it is now."""
        if not self.accepting or not self._lease_holds():
            return  # past its lease it claims nothing until a renewal gets through
        now = self.clock()
        gate = self.desktop_gate
        plan = plan_dispatch(
            self.queue.values(),
            now=now,
            holding=len(self.active) + len(self._starting),
            worker_limit=self.config.worker_limit,
            desktop_busy=any(DESKTOP in e.resources for e in self._holding()),
            idle_workers=list(self._idle_workers()),
            breaker=self.breaker,
            # the gate wakes the dispatch when the session is usable again
            desktop_held=None if gate is None else gate.holds,
            # a fleet counts starts in the store, where every supervisor's are (``_claim``)
            count_starts=not self.membership.shared,
        )
        for start in plan.starts:
            self._start_run(start.entry, start.worker, probe=start.probe)
            if start.opened_breaker:
                self._breaker_opened(start.entry.workflow, now)
                self._share_breaker(start.entry.workflow, Change.RATE_OPENED)
        if plan.wake_at is not None:
            self._wake_in(max(0.0, plan.wake_at - now))
        self._ensure_spares()

    def _holding(self) -> Iterator[QueuedRun]:
        """Runs on workers, and runs being handed to one."""
        yield from (active.entry for active in self.active.values())
        yield from (entry for entry, _ in self._starting.values())

    def _idle_workers(self) -> Iterator[WorkerHandle]:
        reserved = {worker.id for _, worker in self._starting.values()}
        return (
            w for w in self.workers.values() if w.state is WorkerState.IDLE and w.id not in reserved
        )

    def _start_run(self, entry: QueuedRun, worker: WorkerHandle, *, probe: bool = False) -> None:
        """Hand a queued run to an idle worker, once the history has it running.

        The worker is reserved and the history's part (the checkpoint, the
        ``running`` status) is queued on the store lane at once, so that any
        later write about this run comes after it; the loop goes on meanwhile.
        If the write fails (disk full, database locked) the run goes back to
        the queue, to be tried again, rather than half-started on a worker
        that never hears of it.
        """
        del self.queue[entry.run_id]
        self._starting[entry.run_id] = (entry, worker)
        warm = getattr(self.launcher, "warm", None)  # ``PythonWorkerLauncher.warm``
        if entry.blocks and callable(warm):
            warm(entry.blocks)  # before the spare that replaces this worker is asked for
        loop = asyncio.get_running_loop()
        written = loop.run_in_executor(self._store_lane, self._mark_running, entry, probe)
        self._spawn_task(self._hand_over(entry, worker, written))

    def _mark_running(self, entry: QueuedRun, probe: bool = False) -> Handover:
        """Store lane: claim the run (now ``running``, this supervisor's), then what it resumes from.

        The claim is a compare-and-set on ``queued`` in the store: of any
        number of supervisors that chose this run, one gets it; the others
        hear ``NotClaimed``.  A ``probe`` of a half-open breaker first claims
        the probe in the breaker's row: if another run probes it already (on
        any supervisor), this one waits (``NotClaimed`` with the row).
        """
        breaker: BreakerRow | None = None
        if probe:
            holds, breaker = self._claim_probe(entry.workflow, entry.run_id)
            if not holds:
                raise NotClaimed(True, self.clock() + NOT_CLAIMED_RETRY, breaker=breaker)
        claimed, rate_opened, miss = self._claim(entry)
        if claimed is None:
            raise NotClaimed(miss.queued, self._local_time(miss.not_before))
        # Breakpoints set through any machine while it waited are in the row it claimed.
        apply_options(entry, claimed.options)
        checkpoint: dict[str, Any] = {}
        attempts_used: dict[str, int] = {}
        attempts_spent: dict[str, int] = {}
        interrupted: dict[str, Any] | None = None
        retry_waits: dict[int, float] = {}
        seq_after = entry.last_seq  # notes written while it waited (``desktop_gate``)
        if entry.resume:
            source = entry.checkpoint_from
            if source is not None:
                # "Run from here" (or from the failed node): the earlier run's steps before
                # the node, on every attempt, whichever machine runs it.
                checkpoint = _as_checkpoint(self.store.reusable_steps(source))
                if entry.debug.run_from is not None:
                    checkpoint = cut_checkpoint(checkpoint, entry.debug.run_from)
            # Its events number on after the earlier attempts' (and the notes about
            # why they stopped), so the run's log stays one ordered, unique sequence.
            seq_after = max(entry.last_seq, self.store.last_seq(entry.run_id))
            checkpoint.update(_as_checkpoint(self.store.checkpoint(entry.run_id)))
            records = self.store.steps(entry.run_id)
            for record in records:
                if str(record.step) not in checkpoint:
                    attempts_used[str(record.step)] = max(
                        attempts_used.get(str(record.step), 0), record.attempt
                    )
            interrupted = interrupted_step(records, {int(s) for s in checkpoint})
            spent = spent_attempts(records, {int(s) for s in checkpoint})
            attempts_spent = {str(step): n for step, n in spent.items()}
            # A step its last worker left waiting out a retry's backoff waits out the rest
            # (its wait was recorded on the clock every machine reads, ``running``).
            now = self.store_now()
            for step, until in self.store.retry_waits(entry.run_id).items():
                left = (until - now).total_seconds()
                if left > 0 and str(step) not in checkpoint:
                    retry_waits[step] = left
        return Handover(
            checkpoint,
            attempts_used,
            seq_after,
            interrupted,
            breaker,
            retry_waits,
            rate_opened,
            attempts_spent=attempts_spent,
        )

    def _claim(self, entry: QueuedRun) -> tuple[RunRecord | None, bool, ClaimMiss]:
        """Store lane: claim the run; whether its start took its workflow past the ceiling; and
        why it was not claimed (two columns read, not the whole row).

        Alone (SQLite) the dispatch plan counts starts in the breaker's
        ledger.  In a fleet each supervisor sees only its own starts, so the
        store counts the workflow's first starts within the window, every
        supervisor's, in the claim's transaction: the start that passes the
        ceiling goes and opens the breaker; one after it is not claimed.
        """
        member = self.membership
        if not member.shared:
            claimed = self.store.claim_queued(
                member.id, host=member.host, lease_seconds=None, run_ids=(entry.run_id,)
            )
            if claimed:
                return claimed[0], False, ClaimMiss()
            return None, False, self.store.claim_miss(entry.run_id)
        policy = self.config.breaker
        claim = self.store.claim_counted(
            member.id,
            entry.run_id,
            max_starts=policy.max_starts,
            rate_window=policy.rate_window,
            host=member.host,
            lease_seconds=member.lease_seconds,
        )
        first_starts = claim.first_starts
        past = first_starts is not None and first_starts > policy.max_starts
        if claim.record is None and past:  # an earlier start passed the ceiling: it waits
            raise NotClaimed(True, self.clock() + NOT_CLAIMED_RETRY, rate_opened=True)
        return claim.record, past, claim.miss

    async def _hand_over(
        self, entry: QueuedRun, worker: WorkerHandle, written: asyncio.Future[Handover]
    ) -> None:
        run_id = entry.run_id
        try:
            handover = await written
        except NotClaimed as exc:
            self._starting.pop(run_id, None)
            if exc.breaker is not None:
                self._adopt_breaker(exc.breaker)
            if exc.rate_opened:
                self._rate_opened(entry.workflow)
            if exc.still_queued:
                # Its machine's desktop is taken by another supervisor's run (wait a moment),
                # or it waits out a restart delay another supervisor gave it (until its end).
                now = self.clock()
                waits = exc.not_before or 0.0
                entry.not_before = waits if waits > now else now + NOT_CLAIMED_RETRY
                self.queue[run_id] = entry
                self._wake_in(max(0.0, entry.not_before - now))
            else:  # another supervisor took it, or it was cancelled: not ours to run
                self._cancel_pending.discard(run_id)
                self._claim_lost(run_id)
            self._dispatch()
            return
        except StoreError as exc:
            self._starting.pop(run_id, None)
            self.queue[run_id] = entry  # still queued in the history: it waits its turn again
            self._store_failed(f"start run {run_id}", exc)
            self._wake_in(STORE_RETRY_SECONDS)
            return
        except IllegalTransition as exc:
            # The history has this run in another state (cancelled meanwhile, or taken by
            # another process): it is not this supervisor's to start, nor to retry.
            self._starting.pop(run_id, None)
            self._cancel_pending.discard(run_id)
            logger.warning("run %s was not started: %s", run_id, exc)
            self._dispatch()
            return
        except Exception as exc:
            # A bug, not the environment: this run fails with the error, and the worker it
            # held goes back to the others, so one run cannot jam the queue.
            self._starting.pop(run_id, None)
            self._cancel_pending.discard(run_id)
            logger.exception("run %s could not be started", run_id)
            self._spawn_task(self._fail_unstarted(entry, exc))
            self._dispatch()
            return
        self._starting.pop(run_id, None)
        self._store_ok()
        if handover.breaker is not None:
            self._adopt_breaker(handover.breaker)
        if handover.rate_opened:
            self._rate_opened(entry.workflow)
        if worker.state is not WorkerState.IDLE or worker.id not in self.workers:
            # The worker died while the history was written: the run is 'running' with no
            # worker, so it goes back through the interruption path, as after a crash.
            reason = ExitReason.CRASHED if self.accepting else ExitReason.SHUTDOWN
            self._spawn_task(
                self._settle(
                    ActiveRun(entry=entry, worker=worker, started=self.clock()),
                    reason,
                    "its worker exited before the run reached it",
                )
            )
            return
        worker.move(WorkerState.BUSY)
        worker.run_id = run_id
        worker.last_seq = handover.seq_after  # a note on how this attempt ends numbers on from here
        now = self.clock()
        if entry.first_started is None:
            entry.first_started = now
        time_left = entry.time_left(now)
        worker.lease_expires = now + self.config.lease
        # Its first event must come within this, or the hand-over was lost (``leases``).
        worker.start_due = now + self.config.handover_deadline
        active = ActiveRun(entry=entry, worker=worker, started=now)
        self.active[run_id] = active
        worker.hard_deadline = self._run_deadline(active)
        debug = entry.debug
        message = Start(
            run_id=run_id,
            workflow_path=entry.path,
            workflow_text=entry.text,
            inputs=entry.inputs,
            checkpoint={
                int(step): DoneStep.from_dict(d) for step, d in handover.checkpoint.items()
            },
            attempts_used={int(step): used for step, used in handover.attempts_used.items()},
            attempts_spent={int(step): n for step, n in handover.attempts_spent.items()},
            interrupted=(
                None
                if handover.interrupted is None
                else StepInFlight.from_dict(handover.interrupted)
            ),
            seq_after=handover.seq_after,
            retry_waits=handover.retry_waits,
            trigger=entry.trigger,
            artifacts_dir=str(self.artifacts_dir),
            # what is left of the run's time limit (a resumed run does not get it afresh)
            deadline_seconds=None if time_left is None else max(time_left, 0.001),
            breakpoints=tuple(debug.breakpoints),
            pause_timeout=(
                self.config.pause_timeout if debug.pause_timeout is None else debug.pause_timeout
            ),
        )
        self._spawn_task(self._send_start(worker, message))
        self._arm(worker)
        if self.desktop_gate is not None:  # locked since the dispatch: it holds at once
            self.desktop_gate.started(active)
        if run_id in self._cancel_pending:
            self._cancel_pending.discard(run_id)
            self._cancel_active(active)

    async def _fail_unstarted(self, entry: QueuedRun, exc: Exception) -> None:
        """End a run that could not be handed to its worker as failed, with the error.

        Its end goes through the recorder as a ``run_finished``, the way every
        other end reaches the history, the live stream, the breaker and chains.
        """
        run_id = entry.run_id
        try:
            seq = max(entry.last_seq, await self._in_store(self.store.last_seq, run_id))
        except Exception:  # the history is what failed: number on from what is known here
            seq = entry.last_seq
        event = RunFinished(
            run_id=run_id,
            seq=seq + 1,
            at=datetime.now(UTC),
            status=RunStatus.FAILED,
            duration=0.0,
            error=f"the supervisor could not start this run: {type(exc).__name__}: {exc}",
        )
        self._finishing[run_id] = (entry.workflow, RunStatus.FAILED)
        try:
            self.recorder(event)
        except DeskpilotError as error:
            self._finishing.pop(run_id, None)
            logger.error("could not record that run %s failed to start: %s", run_id, error)

    async def _send_start(self, worker: WorkerHandle, message: Start) -> None:
        if not await worker.send(message):
            logger.warning("worker %s went away before its start message", worker.pid)


class NotClaimed(Exception):
    """The store did not give this supervisor the run it chose (another claimed it first)."""

    def __init__(
        self,
        still_queued: bool,
        not_before: float | None = None,
        *,
        breaker: BreakerRow | None = None,
        rate_opened: bool = False,
    ) -> None:
        super().__init__("the run was not claimed")
        #: Its workflow passed the fleet's run-rate ceiling: the breaker opens, if not yet.
        self.rate_opened = rate_opened
        #: The breaker's row, when another run probes it.
        self.breaker = breaker
        #: Still queued (its machine's desktop is busy): it may be claimed a little later.
        self.still_queued = still_queued
        #: When its restart delay ends, on the supervisor's clock (0 or None: not waiting).
        self.not_before = not_before


def _as_checkpoint(steps: dict[int, StepRecord]) -> dict[str, Any]:
    """Recorded steps as the worker's checkpoint: step -> what the step emitted and set."""
    return {
        str(step): {
            "node_id": rec.node_id,
            "emissions": rec.emissions or [],
            "vars_set": rec.vars_set or {},
        }
        for step, rec in steps.items()
    }


@dataclass(frozen=True)
class Handover:
    """What the history says a starting run resumes from (read on the store lane)."""

    checkpoint: dict[str, Any]
    attempts_used: dict[str, int]
    seq_after: int
    interrupted: dict[str, Any] | None
    #: The breaker's row, when this run claimed its probe.
    breaker: BreakerRow | None = None
    #: Steps waiting out a retry's backoff when the last worker stopped: step -> seconds left.
    retry_waits: dict[int, float] = field(default_factory=dict)
    #: This start took its workflow past the fleet's run-rate ceiling (counted in the store).
    rate_opened: bool = False
    #: Attempts that count against each unfinished step's retries (``attempt_budget``).
    attempts_spent: dict[str, int] = field(default_factory=dict)
