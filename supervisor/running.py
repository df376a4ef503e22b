"""Runs on workers: their messages, ends, interruptions, deadlines and the debugger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from automation.engine.debugger import resume_from
from automation.engine.events import (
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodePaused,
    NodeResumed,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStatus,
)
from automation.errors import DeskpilotError
from supervisor.bus import (
    HeartbeatMissed,
    RunInterrupted,
    WorkerExited,
    WorkerStarted,
)
from supervisor.debugging import Pause
from supervisor.errors import IllegalTransition, SupervisorError
from supervisor.leases import LeaseVerdict, check_lease
from supervisor.protocol import (
    Debug,
    Drained,
    EngineEvent,
    Fatal,
    Heartbeat,
    Hello,
    ProtocolError,
    SetBreakpoints,
    decode,
    from_worker,
)
from supervisor.runqueue import (
    ActiveRun,
    node_ids,
    run_options,
)
from supervisor.runtime import SupervisorBase
from supervisor.settlement import Settlement, describe_exit, run_deadline, settlement
from supervisor.workers import (
    ExitReason,
    WorkerHandle,
    WorkerState,
    request_stack_dump,
)

logger = logging.getLogger(__name__)

#: The ``hold`` of the engine's log lines on a locked screen's wait (``automation.engine.hold``):
#: the first stops the run's clock, the others start it again.
HOLD_CLOCK = frozenset({"held", "released", "gave_up"})


class Running(SupervisorBase):
    # -- workers ---------------------------------------------------------------------
    def _ensure_spares(self) -> None:
        if not self.accepting:
            return
        # A worker reserved for a run being handed over counts as busy, not as a spare.
        reserved = {worker.id for _, worker in self._starting.values()}
        idle = sum(
            1
            for w in self.workers.values()
            if w.state in (WorkerState.STARTING, WorkerState.IDLE) and w.id not in reserved
        )
        want = self.config.spare_workers + max(
            0, min(len(self.queue), self.config.worker_limit) - idle
        )
        busy = sum(
            1 for w in self.workers.values() if w.state is WorkerState.BUSY or w.id in reserved
        )
        want = min(want, self.config.worker_limit + self.config.spare_workers - busy)
        for _ in range(max(0, want - idle - self._spawning)):
            self._spawning += 1
            self._spawn_task(self._start_worker())

    async def _start_worker(self) -> None:
        try:
            from supervisor.workers import _ids

            worker_id = next(_ids)
            process = await self.launcher.spawn(worker_id)
        except OSError as exc:
            logger.error("could not start a worker: %s", exc)
            self._spawning -= 1
            self._wake_in(1.0)
            return
        self._spawning -= 1
        if not self.accepting:
            # stop() began while this worker started: nobody would ever stop it
            self.kill_process(process.pid)
            await process.wait()
            return
        worker = WorkerHandle(process=process, id=worker_id)
        worker.lease_expires = self.clock() + self._start_timeout()
        self.workers[worker.id] = worker
        self.counters["workers_started"] += 1
        self.publish(WorkerStarted(worker_id=worker.id, pid=worker.pid))
        self._spawn_task(self._read(worker))
        self._arm(worker)

    def _start_timeout(self) -> float:
        """How long a new worker may take to say hello (imports can be slow on a busy machine)."""
        return self.worker_start_timeout

    async def _read(self, worker: WorkerHandle) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                logger.error("worker %s sent an over-long line; stopping it", worker.pid)
                self.kill_process(worker.pid)
                break
            if not line:
                break
            try:
                message = decode(line)
            except ProtocolError as exc:
                logger.warning("worker %s: %s", worker.pid, exc)
                continue
            try:
                self._on_message(worker, message)
            except Exception:
                # This task is the only one that notices the worker's exit: whatever went
                # wrong with one message, it must go on reading.
                logger.exception(
                    "worker %s: could not handle a %r message", worker.pid, message.get("type")
                )
        returncode = await worker.process.wait()
        try:
            self._on_exit(worker, returncode)
        except Exception:
            logger.exception("worker %s: could not handle its exit", worker.pid)
            self._dispatch()

    def _on_message(self, worker: WorkerHandle, raw: dict[str, Any]) -> None:
        now = self.clock()
        if worker.state is WorkerState.BUSY:
            worker.lease_expires = now + self.config.lease  # any line is a sign of life
        try:
            message = from_worker(raw)
        except ProtocolError as exc:
            logger.warning("worker %s: %s", worker.pid, exc)
            return
        if isinstance(message, Hello):
            if worker.state is WorkerState.STARTING:
                if worker.timer is not None:  # the start-up deadline is met
                    worker.timer.cancel()
                    worker.timer = None
                worker.move(WorkerState.IDLE)
                worker.ready.set()
                self._dispatch()
        elif isinstance(message, Heartbeat):
            worker.heartbeats += 1
            worker.last_heartbeat = datetime.now(UTC)
        elif isinstance(message, EngineEvent):
            if worker.kill_reason is ExitReason.LOST:
                return  # its run is someone else's now: nothing more is written for it
            if not self._lease_holds():
                # Woken past its lease (frozen, or cut off): its runs may be resuming elsewhere.
                self._fence("its lease on them lapsed")
                return
            event = message.event
            if isinstance(event, NodeRetrying | NodePaused) and self.membership.shared:
                # The engine stamps another machine compares with its own "now": a
                # supervisor that takes the run over waits out what is left of this
                # retry's backoff (``Supervisor._mark_running``), and any machine's API
                # says how long this pause has left (``debugrelay``), so they are
                # recorded on the store's clock, not this machine's.
                event = replace(event, at=self.store_time.from_wall(event.at))
            self.recorder(event)
            worker.last_seq = max(worker.last_seq, event.seq)
            if event.run_id == worker.run_id:
                worker.start_due = float("inf")  # the hand-over reached the engine
            if isinstance(event, NodeStarted):
                self._watch_step(worker, event)
            elif isinstance(event, NodePaused | NodeResumed):
                self._paused_or_resumed(worker, event)
            elif isinstance(event, LogEmitted) and event.data.get("hold") in HOLD_CLOCK:
                self._held_or_released(worker, event)
            elif isinstance(event, NodeFinished | NodeFailed):
                self._unwatch_step(worker)
            if isinstance(event, RunFinished) and event.run_id == worker.run_id:
                worker.finished_run = True
                self._run_ended(worker, event)
        elif isinstance(message, Fatal):
            self._fatal(worker, message.message)
        elif isinstance(message, Drained):
            worker.drained = True

    def _fatal(self, worker: WorkerHandle, reason: str) -> None:
        """The worker could not run its run at all: the run fails, as if its engine had said so.

        Its end goes through the recorder like any engine's ``run_finished``, so
        the history, the live stream (API, GUI), chained triggers and the breaker
        all learn of it the one way they learn of every other end.
        """
        run_id = worker.run_id
        logger.error("worker %s could not run %s: %s", worker.pid, run_id, reason)
        if run_id is None:
            return
        active = self.active.get(run_id)
        started = active.started if active is not None else self.clock()
        event = RunFinished(
            run_id=run_id,
            seq=worker.last_seq + 1,
            at=datetime.now(UTC),
            status=RunStatus.FAILED,
            duration=max(0.0, self.clock() - started),
            error=reason,
        )
        worker.last_seq = event.seq
        self.recorder(event)
        worker.finished_run = True
        self._run_ended(worker, event)

    def _watch_step(self, worker: WorkerHandle, event: NodeStarted) -> None:
        active = self.active.get(event.run_id)
        if active is None:
            return
        timeout = active.entry.step_timeouts.get(event.node_id)
        if timeout is not None and not active.cancel_requested:
            # a step's deadline never extends the run's, nor a cancel's kill deadline
            step_deadline = self.clock() + timeout + 2 * self.config.kill_grace + 1.0
            worker.hard_deadline = min(step_deadline, self._run_deadline(active))
            worker.hard_deadline_reason = ExitReason.TIMED_OUT
            self._arm(worker)

    def _unwatch_step(self, worker: WorkerHandle) -> None:
        active = self.active.get(worker.run_id or "")
        if active is not None and not active.cancel_requested:
            worker.hard_deadline = self._run_deadline(active)
            worker.hard_deadline_reason = ExitReason.TIMED_OUT

    def _run_deadline(self, active: ActiveRun) -> float:
        return run_deadline(
            active.entry,
            started=active.started,
            pause=active.pause_clock,
            now=self.clock(),
            kill_grace=self.config.kill_grace,
            held=active.hold_clock is not None,
        )

    # -- the step debugger ---------------------------------------------------------
    def _paused_or_resumed(self, worker: WorkerHandle, event: NodePaused | NodeResumed) -> None:
        active = self.active.get(event.run_id)
        if active is None:
            return
        if isinstance(event, NodePaused):
            active.pause = active.pause_clock = Pause(
                event=event, since=self.clock(), breakpoints=active.entry.debug.breakpoints
            )
        else:
            # however it ended: a command (which cleared ``pause`` already) or its timeout
            active.stop_pause_clock(self.clock())
            active.pause = None
        if not active.cancel_requested:
            worker.hard_deadline = self._run_deadline(active)
            worker.hard_deadline_reason = ExitReason.TIMED_OUT
            self._arm(worker)

    def _held_or_released(self, worker: WorkerHandle, event: LogEmitted) -> None:
        """The engine began or ended a locked screen's hold: the run's clock stops or goes on."""
        active = self.active.get(event.run_id)
        if active is None:
            return
        if active.cancel_requested:
            return  # its kill deadline is the cancel's
        if event.data.get("hold") == "held":
            if active.hold_clock is None:
                active.hold_clock = self.clock()
            worker.hard_deadline = self._run_deadline(active)  # only the unlock ends it
        else:
            active.stop_hold_clock(self.clock())
            # the gate's release set the held step's own kill deadline again: keep it
            worker.hard_deadline = min(worker.hard_deadline, self._run_deadline(active))
        worker.hard_deadline_reason = ExitReason.TIMED_OUT
        self._arm(worker)

    def paused(self, run_id: str) -> Pause | None:
        """The run's pause, if the debugger holds it before a node now."""
        active = self.active.get(run_id)
        return None if active is None else active.pause

    def breakpoints(self, run_id: str) -> tuple[str, ...] | None:
        """The breakpoints of a queued or running run; None if it is neither."""
        entry = self.queue.get(run_id)
        if entry is None:
            active = self.active.get(run_id)
            entry = active.entry if active is not None else None
        return None if entry is None else entry.debug.breakpoints

    async def debug_command(self, run_id: str, command: Mapping[str, Any]) -> None:
        """Send a paused run's command (continue, step, abort; edits) to its worker."""
        active = self.active.get(run_id)
        if active is None or active.pause is None:
            raise SupervisorError(
                f"run {run_id} is not paused; commands are for a run stopped at a breakpoint"
            )
        resume = resume_from(command)  # refuse a bad command here, with its reason
        active.pause = None  # one command per pause: the next pause event sets it again
        message = Debug(action=str(resume.action), inputs=resume.inputs, vars=resume.vars)
        if not await active.worker.send(message):
            raise SupervisorError(f"run {run_id}'s worker went away")

    async def set_breakpoints(self, run_id: str, nodes: Sequence[str]) -> tuple[str, ...]:
        """Replace a queued or running run's breakpoints; what it has now."""
        entry = self.queue.get(run_id)
        active = self.active.get(run_id)
        if active is not None:
            entry = active.entry
        if entry is None:
            raise SupervisorError(f"run {run_id} is not queued or running")
        loaded_nodes = node_ids(entry.text)
        unknown = [node for node in nodes if node not in loaded_nodes]
        if unknown:
            raise SupervisorError(
                f"no node {', '.join(map(repr, unknown))} in workflow '{entry.workflow}'"
            )
        entry.debug = replace(entry.debug, breakpoints=tuple(dict.fromkeys(nodes)))
        # Kept with the run too: a takeover, or the machine that claims it, pauses there.
        self._spawn_task(self._in_store(self.store.set_run_options, run_id, run_options(entry)))
        if active is not None:
            await active.worker.send(SetBreakpoints(nodes=entry.debug.breakpoints))
        return entry.debug.breakpoints

    def _run_ended(self, worker: WorkerHandle, event: RunFinished) -> None:
        active = self.active.pop(event.run_id, None)
        worker.run_id = None
        if worker.state is WorkerState.BUSY:
            worker.move(WorkerState.STOPPING)
        self.counters["runs_finished"] += 1
        if active is not None:
            # Listeners read the final status from history: they hear of the end once it is
            # committed (_publish_many), rather than the loop waiting here for the disk.
            self._finishing[event.run_id] = (active.entry.workflow, event.status)
        self._ensure_spares()
        self._dispatch()

    def _on_exit(self, worker: WorkerHandle, returncode: int | None) -> None:
        self.workers.pop(worker.id, None)
        if worker.state is not WorkerState.EXITED:
            worker.move(WorkerState.EXITED)
        run_id = worker.run_id
        reason = worker.kill_reason or (
            ExitReason.FINISHED if worker.finished_run or run_id is None else ExitReason.CRASHED
        )
        self.publish(
            WorkerExited(
                worker_id=worker.id,
                pid=worker.pid,
                run_id=run_id,
                reason=str(reason),
                returncode=returncode,
            )
        )
        if run_id is not None and not worker.finished_run:
            self._interrupted(run_id, reason, returncode, pid=worker.pid, seq=worker.last_seq + 1)
        self._ensure_spares()
        self._dispatch()

    def _interrupted(
        self, run_id: str, reason: ExitReason, returncode: int | None, *, pid: int, seq: int
    ) -> None:
        active = self.active.pop(run_id, None)
        if active is None:
            return
        entry = active.entry
        detail = describe_exit(reason, returncode)
        entry.last_seq = max(entry.last_seq, seq)
        # The run's error is cleared when it resumes; this note keeps what happened to the
        # worker (crashed, hung, timed out) in the run's history for good.
        self._note(
            run_id,
            seq,
            detail,
            {"reason": str(reason), "returncode": returncode, "pid": pid},
        )
        self._spawn_task(self._settle(active, reason, detail))

    async def _settle(self, active: ActiveRun, reason: ExitReason, detail: str) -> None:
        """Record how an interrupted run ends or resumes: on the store lane, then here.

        Until it is settled the run is held in ``_settling``, so that neither
        ``_settle_strays`` nor a cancel takes it for lost.
        """
        entry = active.entry
        run_id = entry.run_id
        self._settling[run_id] = entry
        run_limit_hit = (
            reason is ExitReason.TIMED_OUT and self.clock() >= self._run_deadline(active) - 1e-6
        )
        active.stop_pause_clock(self.clock())  # paused when its worker ended: not its time
        active.stop_hold_clock(self.clock())
        plan = settlement(
            reason,
            cancelled=active.cancel_requested,
            restarts=entry.restarts,
            max_restarts=self.config.max_restarts,
            run_limit_hit=run_limit_hit,
            detail=detail,
        )
        # The restart delay is decided before the write: the history keeps its end, so
        # whichever supervisor claims the run next (this one, or another after a takeover)
        # starts it no earlier.
        delay = 0.0
        resume_at: datetime | None = None
        if plan.outcome is None and plan.statuses[-1][0] is RunStatus.QUEUED:
            delay = self.config.restart_backoff(plan.restarts, self.rng.random())
            if delay > 0:
                # On the store's clock: any supervisor's claim compares it with the database's.
                resume_at = self.store_now() + timedelta(seconds=delay)
        decided = self.clock()
        try:
            await self._in_store(self._write_settlement, run_id, plan, resume_at)
        except IllegalTransition as exc:
            # Its lease lapsed and another supervisor took it back (or it was changed
            # under us): how it goes on is not ours to record.
            logger.warning("run %s is no longer this supervisor's to settle: %s", run_id, exc)
            self._cancel_pending.discard(run_id)
            return
        except DeskpilotError as exc:
            # The run is still 'running' (or 'interrupted') in the history and nowhere here:
            # _settle_strays resumes it once the history takes writes again.
            self._store_failed(f"record how run {run_id} stopped", exc)
            return
        finally:
            self._settling.pop(run_id, None)
        self._store_ok()
        if plan.statuses[-1][0] is RunStatus.INTERRUPTED:  # a shutdown: the next start resumes it
            self._cancel_pending.discard(run_id)
            return
        if plan.outcome is RunStatus.CANCELLED:
            self._cancel_pending.discard(run_id)
            self._finished(entry.workflow, run_id, RunStatus.CANCELLED)
            return
        entry.restarts = plan.restarts
        self.counters["restarts"] += 1
        self.publish(
            RunInterrupted(
                run_id=run_id,
                workflow=entry.workflow,
                reason=str(reason),
                detail=detail,
                restarts=entry.restarts,
                will_resume=plan.outcome is None,
            )
        )
        if plan.outcome is not None:
            self._cancel_pending.discard(run_id)
            self._finished(entry.workflow, run_id, plan.outcome)
            return
        entry.not_before = decided + delay
        entry.resume = True
        self.queue[run_id] = entry
        logger.warning("run %s interrupted (%s); resuming in %.2fs", run_id, detail, delay)
        if run_id in self._cancel_pending:
            self._cancel_pending.discard(run_id)
            self._spawn_task(self.cancel_off_loop(run_id))
        self._dispatch()

    def _write_settlement(
        self, run_id: str, plan: Settlement, resume_at: datetime | None = None
    ) -> None:
        """Store lane: the run's last events first (in order), then its status changes.

        A run queued again keeps ``resume_at``, the end of its restart delay, in its row.
        """
        try:
            self.recorder.flush(timeout=10)
        except (DeskpilotError, TimeoutError) as exc:
            logger.error("could not record the last events of run %s: %s", run_id, exc)
        for status, error in plan.statuses:
            self.store.set_run_status(
                run_id,
                status,
                error=error,
                owner=self.membership.id,
                not_before=resume_at if status is RunStatus.QUEUED else None,
            )

    def _note(self, run_id: str, seq: int, message: str, data: dict[str, Any]) -> None:
        """Add a warning to a run's event log, written in order with the worker's events."""
        event = LogEmitted(
            run_id=run_id,
            seq=seq,
            at=datetime.now(UTC),
            node_id=None,
            level="warning",
            message=message,
            data=data,
        )
        try:
            self.recorder(event)
        except DeskpilotError as exc:
            logger.error("could not record why run %s stopped: %s", run_id, exc)

    # -- leases and deadlines ---------------------------------------------------------------
    def _arm(self, worker: WorkerHandle) -> None:
        """Wake up at the worker's next deadline (lease or hard deadline)."""
        loop = self._loop
        if loop is None:
            return
        when = min(worker.lease_expires, worker.hard_deadline, worker.start_due)
        if when == float("inf"):
            return
        # One timer per worker: an earlier one re-arms itself when it fires, so arming on
        # every step must not pile up timers that each wake the loop for the whole run.
        if worker.timer is not None:
            if worker.timer_due <= when:
                return
            worker.timer.cancel()
        worker.timer_due = when
        worker.timer = loop.call_later(max(0.0, when - self.clock()), self._check_worker, worker)

    def _check_worker(self, worker: WorkerHandle) -> None:
        """The worker's timer: act on what ``check_lease`` finds."""
        worker.timer = None
        if worker.kill_reason is not None:
            return
        now = self.clock()
        verdict = check_lease(
            worker.state,
            now=now,
            due=worker.timer_due,
            lease_expires=worker.lease_expires,
            hard_deadline=worker.hard_deadline,
            start_due=worker.start_due,
        )
        if verdict is LeaseVerdict.STALLED:
            logger.warning(
                "the supervisor was stalled for %.1fs; giving worker %s a fresh lease",
                now - worker.timer_due,
                worker.pid,
            )
            worker.lease_expires = now + (
                self.config.lease if worker.state is WorkerState.BUSY else self._start_timeout()
            )
            if worker.start_due <= now:  # its run's first events may be waiting unread too
                worker.start_due = now + self.config.lease
            self._arm(worker)
        elif verdict is LeaseVerdict.WAIT:
            self._arm(worker)
        elif verdict is LeaseVerdict.NEVER_STARTED:
            # Never said hello (frozen, or stuck importing).  Counted as a coming spare, it
            # would hold back the workers the queue needs for ever.
            logger.warning("worker %s did not start within its time; killing it", worker.pid)
            self._kill(worker, ExitReason.HUNG)
        elif verdict is LeaseVerdict.DEADLINE_PASSED:
            self._kill(worker, worker.hard_deadline_reason)
        elif verdict is LeaseVerdict.LEASE_EXPIRED:
            self.counters["heartbeat_misses"] += 1
            silent = now - (worker.lease_expires - self.config.lease)
            self.publish(
                HeartbeatMissed(
                    worker_id=worker.id, pid=worker.pid, run_id=worker.run_id, silent_for=silent
                )
            )
            self._kill(worker, ExitReason.HUNG)
        elif verdict is LeaseVerdict.START_NOT_REPORTED:
            self._start_not_reported(worker)

    def _start_not_reported(self, worker: WorkerHandle) -> None:
        """A worker beats but the run handed to it never began: stop it; the run resumes.

        The start never reached its engine (lost on the pipe, or the run
        thread stuck before its first event).  The worker is killed like a
        hung one and its run goes through the interruption path once it has
        exited: whatever it reported until then is recorded first, so a
        start that comes late is not run a second time past what it did.
        """
        run_id = worker.run_id
        deadline = self.config.handover_deadline
        logger.warning(
            "worker %s was handed run %s but did not report it started within %.1f s; "
            "killing it, the run resumes",
            worker.pid,
            run_id,
            deadline,
        )
        self.counters["handovers_lost"] = self.counters.get("handovers_lost", 0) + 1
        self._kill(worker, ExitReason.NOT_STARTED)

    def _kill(self, worker: WorkerHandle, reason: ExitReason) -> None:
        worker.kill_reason = reason
        if worker.state is WorkerState.BUSY:
            worker.move(WorkerState.STOPPING)
        if reason in (ExitReason.HUNG, ExitReason.NOT_STARTED):
            request_stack_dump(worker.pid)
        self._spawn_task(self._collect_and_kill(worker, reason))
