"""The trigger manager: every trigger of every workflow in the catalog, kept running.

It follows the catalog (a trigger appears, changes or goes with its file),
fires schedules through APScheduler with explicit misfire handling (see
``schedules`` and ``misfire``), watches folders for file triggers, checks
webhook calls against the keyring, chains workflows after one another, and
pauses a workflow's triggers while its circuit breaker is open.

Pausing: a trigger paused by the user stays paused across restarts (the
``paused`` column); one paused by its workflow's breaker resumes when the
breaker closes or half-opens (to let the probe run through); that pause is
not saved with the trigger: it follows the breaker, which the store keeps for
every supervisor on the database (``supervisor.breaker_link``).  While paused, disabled or absent from
the catalog a trigger does not fire, and those fire times are not misfires:
not firing is what was asked for.  When it becomes active again, schedules
count from that moment.

Schedules of workflows that drive the desktop wait while the screen is locked
or the machine is going to sleep, then follow their misfire policy
(``deferral``).

Everything runs on the supervisor's asyncio loop; watchdog threads and the
hotkey listener (started with the first hotkey trigger) hand their events
over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from automation.errors import DeskpilotError
from automation.hotkeys import parse_hotkey
from automation.loader import LoadedWorkflow
from automation.model import (
    FileTrigger,
    HotkeyTrigger,
    ScheduleTrigger,
    Trigger,
    WebhookTrigger,
    WorkflowFinishedTrigger,
)
from automation.secrets import SecretStore, secret_store_from_env
from supervisor.breaker import BreakerState
from supervisor.rate import RunRate
from supervisor.session import SessionProbe, default_probe
from supervisor.triggers.active import ActiveTrigger
from supervisor.triggers.breaker_pause import BreakerPauses
from supervisor.triggers.catalog import WorkflowCatalog
from supervisor.triggers.chain import CHAIN_WINDOW, chain_sources, drain_chains, run_finished
from supervisor.triggers.deferral import DEFAULT_POLL, DesktopDeferral
from supervisor.triggers.errors import TriggerError
from supervisor.triggers.files import FileTriggerWatch, resolve_folder
from supervisor.triggers.hotkeys import HotkeyBindings
from supervisor.triggers.passes import SchedulePasses
from supervisor.triggers.schedules import (
    ScheduleJobs,
    account_fires,
    build_schedule,
    new_scheduler,
)
from supervisor.triggers.specs import (
    fit,
    hotkey_label,
    spec_dump,
    spec_hash,
    trigger_key,
)
from supervisor.triggers.state import UNKNOWN_HISTORY, NotRun, TriggerState, TriggerStateStore
from supervisor.triggers.store_clock import TriggerClock
from supervisor.triggers.user_pause import UserPauses
from supervisor.triggers.webhooks import admit_call, bind_webhooks, webhook_secret
from supervisor.triggers.writes import TriggerWrites
from supervisor.webhook_signature import ReplayCache

if TYPE_CHECKING:
    from automation.blocks.registry import BlockRegistry
    from supervisor.core import Supervisor
    from supervisor.paths import DeskpilotPaths
    from supervisor.session_watch import SessionWatch
    from supervisor.store.store import HistoryStore

logger = logging.getLogger(__name__)


class TriggerHost(Protocol):
    """What the triggers use of their daemon (``supervisor.parts.DaemonParts`` has it)."""

    paths: DeskpilotPaths
    supervisor: Supervisor
    store: HistoryStore
    registry: BlockRegistry
    #: Whether the screen is locked or the machine going to sleep; None: probe it here.
    session: SessionWatch | None


class TriggerManager(UserPauses, BreakerPauses):
    """Runs the triggers of the workflows folder for one supervisor (its ``TriggerHost``)."""

    def __init__(
        self,
        parts: TriggerHost,
        *,
        now: Callable[[], datetime] | None = None,
        scheduler: Any = None,
        secrets: Callable[[], SecretStore] = secret_store_from_env,
        chain_window: float = CHAIN_WINDOW,
        poll_interval: float = 1.0,
        catalog_debounce: float = 0.2,
        session: SessionProbe | None = None,
        session_poll: float = DEFAULT_POLL,
    ) -> None:
        self.parts = parts
        self.supervisor = parts.supervisor
        self.store = parts.store
        #: "Now" for trigger state: the store's clock in a fleet (``store_clock``); ``now`` is
        #: this machine's wall clock, the one APScheduler wakes up on.
        self.clock = TriggerClock(parts.supervisor, now or (lambda: datetime.now(UTC)))
        self.now = self.clock.now
        self.secrets = secrets
        self.chain_window = chain_window
        self.poll_interval = poll_interval
        self.state_store = TriggerStateStore(
            parts.store,
            self.now,
            self.clock.name,
            holder=parts.supervisor.membership.id,
            shift=self.clock.shift,
        )
        self.writes = TriggerWrites(parts.supervisor, parts.store, self.state_store)
        self.jobs = ScheduleJobs(
            scheduler if scheduler is not None else new_scheduler(),
            self._schedule_woke,
            self._schedule_account,
            self.clock.schedule,
        )
        self.catalog = WorkflowCatalog(
            parts.paths.workflows_dir,
            parts.registry,
            parts.store,
            on_change=self._workflow_changed,
            debounce=catalog_debounce,
            poll_interval=poll_interval,
        )
        self._triggers: dict[str, ActiveTrigger] = {}
        self._states: dict[str, TriggerState] = {}
        self._webhooks: dict[str, str] = {}
        self._replays = ReplayCache(parts.supervisor.config.webhook_window)
        self.rate = RunRate(parts.supervisor.config.rate_limits)
        self._hotkeys = HotkeyBindings(self._hotkey_pressed, self._set_problem)
        self._breaker_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Schedules being activated: their history is read on the store lane first.
        self._activations: set[asyncio.Task[Any]] = set()
        #: Schedules whose job woke up this loop turn (key -> generation), handled together.
        self._due: dict[str, int] = {}
        #: While schedules fire in a batch: (trigger, run id) to log once the runs are durable.
        self._fired: builtins.list[tuple[str, str]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self.passes = SchedulePasses(self)
        #: Desktop schedules wait while the screen is locked or the machine goes to sleep.
        probe = session or parts.session or default_probe()
        self.deferral = DesktopDeferral(self, probe, poll=session_poll)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._states = await self.supervisor.store_behind(self.state_store.load_all)
        self.jobs.start()
        self.supervisor.on_run_finished.append(self._run_finished)
        self.supervisor.on_breaker.append(self._breaker_changed)
        self.supervisor.on_renewed.append(self._drain_left_chains)
        await self.catalog.start(self._loop)
        now = self.now()
        for state in self._states.values():
            if state.key not in self._triggers and state.removed_at is None:
                # Absent here (its workflow went away while we were stopped, or another
                # supervisor's): were it loaded later, the time till then is not a misfire.
                state.removed_at = now
        # In the store, only the triggers this supervisor held and no longer loads are
        # released, and retired if no other supervisor loads them (``TriggerRows``).
        self.writes.release_unloaded(self._holder, [t.state for t in self._triggers.values()])
        # The catch-up of fires missed while stopped, and every write queued so far, done.
        while self._activations:
            await asyncio.gather(*list(self._activations), return_exceptions=True)
        await self.passes.idle()
        await self.supervisor.store_behind(lambda: None)
        # Chains left waiting by a supervisor that stopped (this one, or another) fire now.
        self._spawn(drain_chains(self))
        logger.info(
            "triggers started: %d workflows, %d triggers",
            len(self.catalog.names()),
            len(self._triggers),
        )

    async def stop(self) -> None:
        """Stop firing; nothing is marked removed, so the next start picks up where we left."""
        await self.passes.idle()  # the pass being written, and those waiting for it
        self._stopped = True
        await self.catalog.stop()
        if self._run_finished in self.supervisor.on_run_finished:
            self.supervisor.on_run_finished.remove(self._run_finished)
        if self._breaker_changed in self.supervisor.on_breaker:
            self.supervisor.on_breaker.remove(self._breaker_changed)
        if self._drain_left_chains in self.supervisor.on_renewed:
            self.supervisor.on_renewed.remove(self._drain_left_chains)
        for handle in self._breaker_timers.values():
            handle.cancel()
        self._breaker_timers.clear()
        self.jobs.shutdown()
        await self.deferral.stop()
        for trigger in self._triggers.values():
            if trigger.watch is not None:
                self._spawn(trigger.watch.stop())
                trigger.watch = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._hotkeys.close()
        await asyncio.sleep(0)  # let the scheduler's shutdown (queued on the loop) run

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        return [
            trigger.info(
                self.jobs.next_fire(trigger.key)
                if isinstance(trigger.spec, ScheduleTrigger) and trigger.active
                else None
            )
            for trigger in sorted(self._triggers.values(), key=lambda t: (t.workflow, t.index))
        ]

    def _reactivate(self, trigger: ActiveTrigger) -> None:
        """A trigger that becomes active again counts its schedule from now."""
        if not trigger.active:
            return
        trigger.state.checked_through = self.now()
        self._save(trigger.state)
        self._activate(trigger)

    # -- following the catalog -------------------------------------------------------------
    def _workflow_changed(self, name: str, loaded: LoadedWorkflow | None) -> None:
        if self._stopped:
            return
        wanted: dict[str, tuple[int, Trigger]] = {}
        if loaded is not None:
            for index, spec in enumerate(loaded.workflow.triggers):
                wanted[trigger_key(name, index)] = (index, spec)
        for key in [k for k, t in self._triggers.items() if t.workflow == name]:
            if key not in wanted:
                self._remove(key)
        for key, (index, spec) in wanted.items():
            assert loaded is not None
            current = self._triggers.get(key)
            if (
                current is not None
                and current.spec == spec
                and current.workflow_dir == loaded.directory
            ):
                continue
            if current is not None:
                self._remove(key, replaced=True)
            self._add(key, name, index, spec, loaded)
        self._sync_webhooks()

    def _add(self, key: str, name: str, index: int, spec: Trigger, loaded: LoadedWorkflow) -> None:
        now = self.now()
        digest = spec_hash(spec)
        state = self._states.get(key)
        if state is None or state.spec_hash != digest:
            if state is not None:
                logger.info("trigger %s changed its timing; it starts afresh", key)
            state = TriggerState(
                workflow=name,
                key=key,
                spec=spec_dump(spec),
                spec_hash=digest,
                paused=state.paused if state is not None else False,
                anchor=now.replace(microsecond=0),
                checked_through=now,
            )
        elif state.removed_at is not None or not state.enabled:
            # back after being removed or disabled: that absence is not a misfire
            state.checked_through = now
            state.removed_at = None
        state.spec = spec_dump(spec)
        state.enabled = spec.enabled
        state.unchained = False
        self._states[key] = state
        trigger = ActiveTrigger(
            key=key,
            workflow=name,
            index=index,
            spec=spec,
            state=state,
            workflow_dir=loaded.directory,
        )
        self._triggers[key] = trigger
        if isinstance(spec, WorkflowFinishedTrigger):
            self.store.chain_sources = chain_sources(self._triggers.values())
        if spec.on is not None and spec.on != self.supervisor.membership.host:
            from supervisor.triggers.machines import check_machine  # only for another machine's

            self._spawn(
                check_machine(
                    self.supervisor,
                    trigger,
                    loaded.path,
                    still_loaded=lambda: self._triggers.get(key) is trigger,
                    save=self._save,
                )
            )
        breaker = self.supervisor.breakers.get(name)
        if breaker is not None and breaker.state(self.supervisor.clock()) is BreakerState.OPEN:
            trigger.breaker_paused = True
            self._arm_breaker_timer(name)
        self.writes.save(state, holder=self._holder)
        if trigger.active:
            self._activate(trigger)

    def _remove(self, key: str, *, replaced: bool = False) -> None:
        trigger = self._triggers.pop(key, None)
        if trigger is not None and isinstance(trigger.spec, WorkflowFinishedTrigger):
            self.store.chain_sources = chain_sources(self._triggers.values())
        if trigger is None:
            return
        self._deactivate(trigger)
        if not replaced:
            trigger.state.removed_at = self.now()
            trigger.state.unchained = True
            # Retired in the store only if no other supervisor loads it.
            self.writes.release(self._holder, trigger.state)
            logger.info("trigger %s removed", key)

    def _sync_webhooks(self) -> None:
        """Bind each webhook name to one trigger (see ``webhooks.bind_webhooks``)."""
        ordered = sorted(self._triggers.values(), key=lambda t: (t.workflow, t.index))
        self._webhooks, problems = bind_webhooks(self._webhooks, {t.key: t.spec for t in ordered})
        for key, problem in problems.items():
            self._set_problem(key, problem)

    def _activate(self, trigger: ActiveTrigger) -> None:
        trigger.generation += 1
        spec = trigger.spec
        if isinstance(spec, ScheduleTrigger):
            trigger.problem = None
            anchor = trigger.state.anchor or self.now().replace(microsecond=0)
            try:
                trigger.schedule = build_schedule(spec, anchor, trigger.state.checked_through)
            except TriggerError as exc:
                trigger.problem = str(exc)
                logger.warning("schedule %s cannot run: %s", trigger.key, exc)
                return
            task = self._spawn(self._activate_schedule(trigger, spec, trigger.generation))
            self._activations.add(task)
            task.add_done_callback(self._activations.discard)
        elif isinstance(spec, FileTrigger):
            assert self._loop is not None
            folder = resolve_folder(spec, trigger.workflow_dir)
            key = trigger.key
            trigger.watch = FileTriggerWatch(
                spec,
                folder,
                loop=self._loop,
                fire=lambda event, path: self._file_fired(key, event, path),
                poll_interval=self.poll_interval,
            )
            trigger.watch.start()
        elif isinstance(spec, HotkeyTrigger):
            problem = self._hotkeys.bind(trigger.key, parse_hotkey(spec.keys))
            self._set_problem(trigger.key, problem)

    async def _activate_schedule(
        self, trigger: ActiveTrigger, spec: ScheduleTrigger, generation: int
    ) -> None:
        """Account for a schedule's missed fires and arm it, once the history (read on the
        store lane) has said which of its fires it already holds."""
        try:
            newest = await self.supervisor.store_behind(
                self.state_store.newest_fire, trigger.workflow, trigger.key
            )
            anchor = None
            if spec.interval is not None:
                anchor = await self.supervisor.store_behind(
                    self.state_store.stored_anchor,
                    trigger.workflow,
                    trigger.key,
                    trigger.state.spec_hash,
                )
        except DeskpilotError as exc:
            logger.error("cannot read the fires of schedule %s: %s", trigger.key, exc)
            newest, anchor = UNKNOWN_HISTORY, None
        if self._stopped or trigger.generation != generation:
            return  # deactivated meanwhile: its next activation reads again
        if anchor is not None and anchor != trigger.state.anchor:
            # Another supervisor on this database anchored it first: fire on its phase,
            # so both compute the same slots and each slot runs once (its fire key).
            trigger.state.anchor = anchor
            trigger.schedule = build_schedule(spec, anchor, trigger.state.checked_through)
        trigger.history_through = newest
        if self.deferral.needs_desktop(trigger.key):
            self._spawn(self.deferral.reconcile_when_usable(trigger))
        else:
            self._reconcile(trigger, live=False)
        loaded = self.catalog.get(trigger.workflow)
        if loaded is not None:
            # Save its version now, not in its first fire's batch: one write per workflow
            # there made the first second after a start tens of milliseconds late.
            self._spawn(self._prepare(trigger.workflow, loaded))
        if spec.at is not None and not self._date_ahead(trigger):
            if trigger.state.last_fire_at is None:
                logger.info("schedule %s: its date has passed; it will not run", trigger.key)
            return
        self.jobs.arm(trigger.key, trigger.schedule, trigger.generation)

    async def _prepare(self, name: str, loaded: LoadedWorkflow) -> None:
        try:
            await self.supervisor.prepare_off_loop(loaded)
        except DeskpilotError as exc:
            logger.warning("could not record workflow %s: %s", name, exc)

    def _date_ahead(self, trigger: ActiveTrigger) -> bool:
        run_date = trigger.schedule.get_next_fire_time(None, self.now())
        checked = trigger.state.checked_through
        return run_date is not None and (checked is None or run_date > checked)

    def _deactivate(self, trigger: ActiveTrigger) -> None:
        trigger.generation += 1
        if isinstance(trigger.spec, ScheduleTrigger):
            self.jobs.disarm(trigger.key)
            self.deferral.forget(trigger.key)
        if trigger.watch is not None:
            self._spawn(trigger.watch.stop())
            trigger.watch = None
        self._hotkeys.release(trigger.key)

    # -- schedules -------------------------------------------------------------------------
    async def _schedule_woke(self, key: str, generation: int) -> None:
        """APScheduler's job: a coroutine, so its executor runs it on our loop, not in a thread.

        Schedules on a common grid (every second, every hour on the hour) wake
        up together, one job each.  Their fires are handled in one pass just
        after, with one write for all their states: handled one job at a time,
        each paying its own writes, the last of twenty was late by all the
        others' work.
        """
        if await self.deferral.holds(key):
            return  # accounted for when the session is usable again
        if not self._due:
            asyncio.get_running_loop().call_soon(self._handle_due)
        self._due[key] = generation

    def _handle_due(self) -> None:
        if self.passes.writing:
            return  # handled once the pass being written is done
        due, self._due = self._due, {}
        work = [
            trigger
            for key, generation in due.items()
            if (trigger := self._triggers.get(key)) is not None
            and trigger.generation == generation
            and trigger.active
        ]
        self.passes.run(work, live=True)

    def _schedule_account(self, key: str, generation: int) -> None:
        trigger = None if self.deferral.is_deferred(key) else self._triggers.get(key)
        if self._stopped:
            return
        if trigger is not None and trigger.generation == generation and trigger.active:
            self.passes.run([trigger], live=True)

    def _reconcile(self, trigger: ActiveTrigger, *, live: bool, cause: str | None = None) -> None:
        """Account for every fire of ``trigger`` due since ``checked_through`` (see ``_account``)."""
        self.passes.run([trigger], live=live, cause=cause)

    def _labels_recorded(self, trigger: ActiveTrigger, after: datetime) -> Callable[..., set[str]]:
        """Which due fires' labels the history already holds, asked only when it may hold any.

        A label can be there only for a fire up to ``history_through``: the
        newest one in the history when the trigger was activated, moved
        forward before this process writes any.  Live fires come after it,
        so the look-up (an index read, but a read on the loop all the same)
        is only made after a restart or a failure.
        """
        known = trigger.history_through
        if known is None or known <= after:
            return lambda _labels: set()
        return lambda labels: self.state_store.recorded(trigger.workflow, labels)

    def _account(self, trigger: ActiveTrigger, *, live: bool, cause: str | None = None) -> bool:
        """Account for every fire due since ``checked_through``: run it or record it as missed.

        The run (or the missed record) of each fire carries the label
        ``schedule:<key>@<time>`` and is durable before ``checked_through``
        moves past that time; after a crash in between, the label found in
        the history stops the fire from running twice.  The caller (``_pass``)
        saves the state after this returns True: it changed.
        """
        if self._stopped:
            return False  # left for the next start, which enumerates from the same mark
        spec = trigger.spec
        assert isinstance(spec, ScheduleTrigger)
        now = self.now()
        after = trigger.state.checked_through or now
        batch = account_fires(
            trigger.schedule,
            key=trigger.key,
            workflow=trigger.workflow,
            spec=spec,
            after=after,
            now=now,
            live=live,
            recorded=self._labels_recorded(trigger, after),
            cause=cause,
        )
        if batch is None:
            early = self.clock.early_wake(trigger.schedule, after, now) if live else None
            if early is not None and self._loop is not None:  # woken a hair before its slot
                key, generation = trigger.key, trigger.generation
                self._loop.call_later(early, self._schedule_account, key, generation)
            return False
        known = trigger.history_through
        if known is None or known < batch.checked_through:
            trigger.history_through = batch.checked_through
        loaded = self.catalog.get(trigger.workflow)
        if batch.records:
            logger.warning(
                "schedule %s: %d fire(s) did not run and were recorded as missed",
                trigger.key,
                len(batch.records),
            )
            self._record(loaded, batch.records)
        for fire, label in batch.runs:
            self._submit(trigger, loaded, dict(spec.inputs), label, at=fire, save=False)
        trigger.state.checked_through = batch.checked_through
        return True

    # -- file triggers ---------------------------------------------------------------------
    def _file_fired(self, key: str, event: str, path: Path) -> None:
        """Inputs ``path`` and ``event`` are added only if the workflow declares them."""
        trigger = self._triggers.get(key)
        if trigger is None or not trigger.active:
            return
        loaded = self.catalog.get(trigger.workflow)
        inputs = dict(trigger.spec.inputs)
        if loaded is not None:
            declared = loaded.workflow.inputs
            if "path" in declared:
                inputs["path"] = str(path)
            if "event" in declared:
                inputs["event"] = event
        label = fit(f"file:{key}:{event}:{path.name}")
        self._submit(trigger, loaded, inputs, label, at=self.now())

    # -- hotkeys ---------------------------------------------------------------------------
    def _set_problem(self, key: str, problem: str | None) -> None:
        trigger = self._triggers.get(key)
        if trigger is not None:
            if problem is not None and problem != trigger.problem:
                logger.warning("trigger %s: %s", key, problem)
            trigger.problem = problem

    def _hotkey_pressed(self, key: str) -> None:
        trigger = self._triggers.get(key)
        if trigger is None or not trigger.active or not isinstance(trigger.spec, HotkeyTrigger):
            return
        label = hotkey_label(trigger.spec.keys)
        loaded = self.catalog.get(trigger.workflow)
        self._submit(trigger, loaded, dict(trigger.spec.inputs), label, at=self.now())

    # -- webhooks --------------------------------------------------------------------------
    def _webhook(self, name: str) -> ActiveTrigger | None:
        trigger = self._triggers.get(self._webhooks.get(name, ""))
        return trigger if trigger is not None and isinstance(trigger.spec, WebhookTrigger) else None

    def webhook(self, name: str, header: str | None, body: bytes) -> str | None:
        """Start the workflow behind webhook ``name`` if ``header`` signs ``body`` (see
        ``webhooks.verify_call``); on the supervisor's loop.  None: paused or disabled.

        Raises the ``webhooks`` errors, SecretError (keyring unreachable), WorkflowError
        (payload values that do not fit the inputs) or SupervisorError (shutting down).
        """
        admitted = admit_call(self, name, header, body, webhook_secret(self, name))
        if admitted is None:
            return None
        trigger, loaded, inputs, label = admitted
        run_id = self.supervisor.submit(loaded, inputs, trigger=label, on=trigger.spec.on)
        return self._webhook_started(trigger, run_id)

    async def call_webhook(self, name: str, header: str | None, body: bytes) -> str | None:
        """``webhook`` with the keyring read in a thread (D-Bus takes tens of milliseconds)
        and the run's write on the store lane: a locked database delays the answer, not
        the loop."""
        expected = await asyncio.to_thread(webhook_secret, self, name)
        admitted = admit_call(self, name, header, body, expected)
        if admitted is None:
            return None
        trigger, loaded, inputs, label = admitted
        run_id = await self.supervisor.submit_off_loop(loaded, inputs, trigger=label)
        return self._webhook_started(trigger, run_id)

    def _webhook_started(self, trigger: ActiveTrigger, run_id: str) -> str:
        trigger.state.last_fire_at = self.now()
        trigger.state.last_error = None
        self._save(trigger.state)
        return run_id

    # -- chaining (``chain``) ----------------------------------------------------------------
    def _run_finished(self, workflow: str, run_id: str, status: str) -> None:
        """Called by the supervisor as a run ends: its chains fire (``chain.run_finished``)."""
        run_finished(self, workflow, run_id, status)

    def _drain_left_chains(self) -> None:
        """Called with each lease renewal: fire chains another supervisor left waiting."""
        if self._loop is not None and not self._stopped and self.store.chain_sources:
            self._spawn(drain_chains(self))

    # -- effects ---------------------------------------------------------------------------
    def _skip(
        self,
        trigger: ActiveTrigger,
        loaded: LoadedWorkflow | None,
        inputs: dict[str, Any],
        label: str,
        at: datetime,
        reason: str,
    ) -> None:
        """A fire past a run-rate ceiling: recorded as not run, once a second per trigger."""
        note = trigger.skip_note(reason, self.supervisor.clock())
        if note is not None:
            logger.warning("trigger %s: %s", trigger.key, note)
            trigger.state.last_error = note
            row = NotRun(workflow=trigger.workflow, trigger=label, error=note, at=at, inputs=inputs)
            self._record(loaded, [row])

    def _submit(
        self,
        trigger: ActiveTrigger,
        loaded: LoadedWorkflow | None,
        inputs: dict[str, Any],
        label: str,
        *,
        at: datetime,
        save: bool = True,
        run_id: str | None = None,
    ) -> str | None:
        """Submit a run; a fire that cannot become a run is recorded with the reason.

        ``save=False`` leaves saving the trigger's state to the caller;
        ``run_id`` is a chained run's fire key (``chain.chained_run_id``).
        """
        if self._stopped:
            return None  # fires after stop() are the next start's to account for
        refused = self.rate.admit(trigger.key, self.supervisor.clock())
        if refused is not None:
            self._skip(trigger, loaded, inputs, label, at, refused)
            return None
        if loaded is None:
            self._not_started(
                trigger,
                loaded,
                inputs,
                label,
                at,
                f"workflow {trigger.workflow} is not loaded",
                save,
            )
            return None
        try:
            # Written behind, on the store lane; inside a schedules' pass, in its transaction.
            with self.supervisor.batch_behind() as batch:
                run_id = self.supervisor.submit(
                    loaded, inputs, trigger=label, on=trigger.spec.on, run_id=run_id
                )
                trigger.state.last_fire_at = at
                trigger.state.last_error = None
                if save:
                    batch.save_with_runs(self.writes.state_store.rows_of([trigger.state]))
        except DeskpilotError as exc:
            self._not_started(trigger, loaded, inputs, label, at, str(exc), save)
            return None
        if self._fired is not None:
            self._fired.append((trigger.key, run_id))  # logged once they are durable
        else:
            assert batch.written is not None
            batch.written.add_done_callback(
                functools.partial(self._submit_written, trigger, loaded, inputs, label, at, run_id)
            )
        return run_id

    def _submit_written(
        self,
        trigger: ActiveTrigger,
        loaded: LoadedWorkflow,
        inputs: dict[str, Any],
        label: str,
        at: datetime,
        run_id: str,
        written: asyncio.Future[Any],
    ) -> None:
        error = written.exception() if not written.cancelled() else asyncio.CancelledError()
        if error is None:
            logger.info("trigger %s started run %s", trigger.key, run_id)
        else:
            self._not_started(trigger, loaded, inputs, label, at, str(error), True)

    def _not_started(
        self,
        trigger: ActiveTrigger,
        loaded: LoadedWorkflow | None,
        inputs: dict[str, Any],
        label: str,
        at: datetime,
        error: str,
        save: bool,
    ) -> None:
        """A fire that could not become a run: recorded with the reason."""
        logger.warning("trigger %s could not start a run: %s", trigger.key, error)
        trigger.state.last_error = error
        if save:
            self._save(trigger.state)
        self._record(
            loaded,
            [
                NotRun(
                    workflow=trigger.workflow,
                    trigger=label,
                    error=f"not started: {error}",
                    at=at,
                    inputs=inputs,
                )
            ],
        )

    def _record(self, loaded: LoadedWorkflow | None, items: builtins.list[NotRun]) -> None:
        self.writes.record(loaded, items)

    @property
    def _holder(self) -> str:
        """This supervisor, as a holder of the triggers it loads (``TriggerRows.release``)."""
        return self.supervisor.membership.id

    def _save(self, state: TriggerState) -> None:
        self.writes.save(state)
