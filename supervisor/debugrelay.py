"""The step debugger across machines: a paused run answered through any supervisor's API.

A run paused on machine B is answered through machine A's API (or the window
connected to A) by way of the database they share, not by A calling B:

* A writes a request for the supervisor holding the run
  (``HistoryStore.request_debug``), which on PostgreSQL sends ``NOTIFY
  deskpilot_debug`` with B's id in the same transaction;
* B's watcher hears it (``supervisor.store.notify``) and B carries it out as
  if it had been asked through its own API (``debug_command``,
  ``set_breakpoints``), then answers in the row; while B holds a paused run it
  also looks every ``PAUSED_POLL`` seconds, in case a notification was lost;
* A waits for the answer (a refusal comes back as B's reason) and deletes
  the row.

A supervisor alone with a SQLite history has nobody to relay to or from: it
neither writes requests nor looks for them (``Membership.shared``).

Why the store and not a call to B's advertised API: every supervisor can
already reach the database, while B's API may listen on its own machine only
(the default), and calling it would need B's token on A.  The request takes a
NOTIFY's round trip, a few milliseconds, so stepping stays interactive.

What the pause shows (node, step, pins, inputs, variables, time left) is read
from the history's ``node_paused`` event, which the worker masked of secrets
like every event, so every machine's API shows the same pause.  The event's
time is on the store's clock (its owner records it so), and so is the "now"
its time left is counted to: whatever the clocks of the owner, of the machine
answering and of the one asking say, they all show the same time left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from automation.engine.events import RunStatus
from automation.errors import DeskpilotError
from supervisor.errors import SupervisorError
from supervisor.runqueue import node_ids
from supervisor.runtime import SupervisorBase
from supervisor.store.debug_requests import (
    BREAKPOINTS,
    COMMAND,
    DebugRequestRecord,
    NotHeldElsewhere,
)

logger = logging.getLogger(__name__)

#: While it holds a paused run, a supervisor looks for requests this often even unannounced.
PAUSED_POLL = 0.5
#: How long a request waits for the supervisor holding the run to answer.
ANSWER_TIMEOUT = 10.0
#: How often the asking side looks for the answer.
ANSWER_POLL = 0.05
#: An answer nobody read for this long is deleted (its asker stopped while it waited).
UNREAD_ANSWER_AGE = 6 * ANSWER_TIMEOUT


@dataclass(frozen=True, kw_only=True)
class RemotePause:
    """A pause as the history shows it, for a run held by another supervisor."""

    node_id: str | None
    step: int | None
    reason: str | None
    pins: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    seconds_left: float | None = None
    #: The event's number: a later pause of the same run has a higher one.
    seq: int = 0


@dataclass(frozen=True, kw_only=True)
class RemoteDebugState:
    """A run's breakpoints and pause, read from the history."""

    breakpoints: tuple[str, ...] = ()
    pause: RemotePause | None = None


class DebugRelay(SupervisorBase):
    """Both ends of a debugger request through the store (see the module)."""

    # -- which runs are this supervisor's to answer itself ---------------------------------
    def holds_run(self, run_id: str) -> bool:
        """Whether the debugger's commands for ``run_id`` are carried out here."""
        return run_id in self.active or run_id in self.queue or run_id in self._starting

    # -- the owner's side ---------------------------------------------------------------------
    async def _serve_debug_requests(self) -> None:
        """Carry out the requests other machines write for this supervisor's runs."""
        while True:  # until ``_leave`` cancels it
            paused = any(active.pause is not None for active in self.active.values())
            wait = PAUSED_POLL if paused else self.membership.renew_every
            watcher = self.watcher
            if watcher is not None:
                await watcher.wait_debug(wait)
            else:
                await asyncio.sleep(wait)
            if not self.active and not self._starting:
                continue  # nothing it runs can be paused: requests for it are stale
            try:
                pending = await asyncio.to_thread(
                    self.store.pending_debug_requests, self.membership.id
                )
                for request in pending:
                    await self._carry_out(request)
                if pending:  # answers their askers never read (they stopped meanwhile)
                    await asyncio.to_thread(
                        self.store.drop_answered_debug_requests,
                        self.membership.id,
                        UNREAD_ANSWER_AGE,
                    )
            except DeskpilotError as exc:
                logger.warning("could not read the debugger's requests: %s", exc)
            except Exception:
                logger.exception("carrying out a debugger request failed")

    async def _carry_out(self, request: DebugRequestRecord) -> None:
        payload = request.payload or {}
        outcome: str | None = None
        try:
            if request.kind == COMMAND:
                await self.debug_command(request.run_id, payload)
            elif request.kind == BREAKPOINTS:
                await self.set_breakpoints(
                    request.run_id, [str(node) for node in payload.get("nodes") or ()]
                )
            else:
                outcome = (
                    f"this supervisor does not know debugger requests of kind {request.kind!r}"
                )
        except (DeskpilotError, ValueError) as exc:
            outcome = str(exc)
        logger.info(
            "run %s: carried out a debugger %s asked through another machine%s",
            request.run_id,
            request.kind,
            "" if outcome is None else f" (refused: {outcome})",
        )
        await asyncio.to_thread(self.store.answer_debug_request, request.id, outcome)

    # -- the asking side ----------------------------------------------------------------------
    async def relay_debug(self, run_id: str, command: Mapping[str, Any]) -> None:
        """Send a paused run's command to the supervisor running it; its refusal raises."""
        await self._relay(run_id, COMMAND, dict(command))

    async def relay_breakpoints(self, run_id: str, nodes: Sequence[str]) -> None:
        """Replace the breakpoints of a run another supervisor runs; its refusal raises."""
        await self._relay(run_id, BREAKPOINTS, {"nodes": list(nodes)})

    async def breakpoints_elsewhere(self, run_id: str, nodes: Sequence[str]) -> None:
        """New breakpoints for a run this supervisor does not hold: queued, or running elsewhere.

        A queued run keeps them in its row, which whichever supervisor claims
        it reads at the claim; a running one hears them from its supervisor.
        """
        record = await asyncio.to_thread(self.store.get_run, run_id)
        if record is None or record.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            raise SupervisorError(f"run {run_id} is not queued or running")
        if record.status is RunStatus.RUNNING:
            await self.relay_breakpoints(run_id, nodes)
            return
        text = (
            None
            if record.version_id is None
            else await asyncio.to_thread(self.store.version_content, record.version_id)
        )
        if text is not None:
            known = node_ids(text)
            unknown = [node for node in nodes if node not in known]
            if unknown:
                raise SupervisorError(
                    f"no node {', '.join(map(repr, unknown))} in workflow '{record.workflow_name}'"
                )
        options = {**(record.options or {}), "breakpoints": list(dict.fromkeys(nodes))}
        await asyncio.to_thread(self.store.set_run_options, run_id, options)
        after = await asyncio.to_thread(self.store.get_run, run_id)
        if after is not None and after.status is RunStatus.RUNNING:
            # Claimed while they were written: the claim may have read the old ones.
            with contextlib.suppress(NotHeldElsewhere):
                await self.relay_breakpoints(run_id, nodes)

    async def _relay(self, run_id: str, kind: str, payload: dict[str, Any]) -> None:
        if not self.membership.shared:
            # Alone with its history (SQLite) nobody else runs anything: a run it does not
            # hold is ending, and no supervisor would read the request.
            raise NotHeldElsewhere(run_id)
        request = await asyncio.to_thread(self.store.request_debug, run_id, kind, payload)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT
        answer: DebugRequestRecord | None = None
        while loop.time() < deadline:
            answer = await asyncio.to_thread(self.store.debug_request, request.id)
            if answer is None or answer.answered_at is not None:
                break
            await asyncio.sleep(ANSWER_POLL)
        else:
            if await asyncio.to_thread(self.store.withdraw_debug_request, request.id):
                raise SupervisorError(
                    f"the supervisor running run {run_id} did not answer within "
                    f"{ANSWER_TIMEOUT:g} s; 'deskpilot machines' shows whether it is alive"
                )
            answer = await asyncio.to_thread(self.store.debug_request, request.id)
        with contextlib.suppress(DeskpilotError):
            await asyncio.to_thread(self.store.forget_debug_request, request.id)
        if answer is None:
            raise SupervisorError(f"run {run_id} ended before its supervisor saw the request")
        if answer.outcome is not None:
            raise SupervisorError(answer.outcome)

    async def remote_debug_state(self, run_id: str) -> RemoteDebugState:
        """The run's breakpoints and pause as the history holds them (any machine's run)."""
        record, event = await asyncio.to_thread(self._read_remote, run_id)
        options = (record.options if record is not None else None) or {}
        breakpoints = tuple(str(node) for node in options.get("breakpoints") or ())
        if event is None:
            return RemoteDebugState(breakpoints=breakpoints)
        data = event.data or {}
        timeout = data.get("timeout")
        left = None
        if isinstance(timeout, int | float):
            # The pause began at ``event.at`` on the store's clock (its owner restamped it,
            # ``running``): measured on this machine's clock, a viewer minutes ahead of the
            # owner would call every pause over, and one behind it would add minutes.
            waited = (self.store_now() - event.at).total_seconds()
            left = round(max(0.0, float(timeout) - waited), 3)
        return RemoteDebugState(
            breakpoints=breakpoints,
            pause=RemotePause(
                node_id=event.node_id,
                step=event.step,
                reason=data.get("reason"),
                pins=dict(data.get("pins") or {}),
                inputs=dict(data.get("inputs") or {}),
                vars=dict(data.get("vars") or {}),
                seconds_left=left,
                seq=event.seq,
            ),
        )

    def _read_remote(self, run_id: str) -> tuple[Any, Any]:
        return self.store.get_run(run_id), self.store.run_pause(run_id)

    async def remote_pause_ended(self, run_id: str, seq: int, timeout: float = 3.0) -> None:
        """Wait (up to ``timeout``) until the history shows the pause numbered ``seq`` is over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            state = await self.remote_debug_state(run_id)
            if state.pause is None or state.pause.seq != seq:
                return
            await asyncio.sleep(ANSWER_POLL)

    # -- what the other parts provide (``Supervisor`` joins them) ----------------------------
    async def debug_command(self, run_id: str, command: Mapping[str, Any]) -> None:
        """Send a paused run's command to its worker (``running``)."""
        raise NotImplementedError

    async def set_breakpoints(self, run_id: str, nodes: Sequence[str]) -> tuple[str, ...]:
        """Replace a queued or running run's breakpoints (``running``)."""
        raise NotImplementedError
