"""The step debugger over the API: a run's pause, commands to it, its breakpoints.

A run submitted with ``breakpoints`` pauses before those nodes; the pause
also arrives on the live event stream as a ``node_paused`` event (and its
end as ``node_resumed``), so clients need not poll.  Commands are answered
once the worker has them; the run's next events say what it did.

Every route takes any run of the fleet: one held by another supervisor is
read from the history and answered through it (``supervisor.debugrelay``).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from supervisor.api.deps import BEARER, Parts, require_run
from supervisor.api.models import BreakpointsRequest, DebugCommand, DebugState, ErrorBody
from supervisor.api.problems import Problem
from supervisor.debugrelay import RemoteDebugState
from supervisor.parts import DaemonParts
from supervisor.store.debug_requests import NotHeldElsewhere

router = APIRouter(
    tags=["debugger"],
    dependencies=BEARER,
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)


def _state(parts: DaemonParts, run_id: str) -> DebugState:
    supervisor = parts.supervisor
    pause = supervisor.paused(run_id)
    breakpoints = list(supervisor.breakpoints(run_id) or ())
    if pause is None:
        return DebugState(run_id=run_id, paused=False, breakpoints=breakpoints)
    event = pause.event
    left = max(0.0, event.timeout - (supervisor.clock() - pause.since))
    return DebugState(
        run_id=run_id,
        paused=True,
        breakpoints=breakpoints,
        node_id=event.node_id,
        step=event.step,
        reason=event.reason,
        pins=event.pins,
        inputs=event.inputs,
        vars=event.vars,
        seconds_left=round(left, 3),
    )


def _remote_answer(run_id: str, state: RemoteDebugState) -> DebugState:
    pause = state.pause
    if pause is None:
        return DebugState(run_id=run_id, paused=False, breakpoints=list(state.breakpoints))
    return DebugState(
        run_id=run_id,
        paused=True,
        breakpoints=list(state.breakpoints),
        node_id=pause.node_id,
        step=pause.step,
        reason=pause.reason,
        pins=pause.pins,
        inputs=pause.inputs,
        vars=pause.vars,
        seconds_left=pause.seconds_left,
    )


async def _any_state(parts: DaemonParts, run_id: str) -> DebugState:
    """The run's debugger state, from this supervisor or, for another's run, the history."""
    supervisor = parts.supervisor
    if supervisor.holds_run(run_id):
        return _state(parts, run_id)
    return _remote_answer(run_id, await supervisor.remote_debug_state(run_id))


async def _known(parts: DaemonParts, run_id: str) -> None:
    await asyncio.to_thread(require_run, parts, run_id)


@router.get(
    "/runs/{run_id}/debug",
    response_model=DebugState,
    summary="Whether the run is paused, where, and with which values",
)
async def debug_state(parts: Parts, run_id: str) -> DebugState:
    """Any run of the fleet: a run another machine holds is read from the history."""
    await _known(parts, run_id)
    return await _any_state(parts, run_id)


@router.post(
    "/runs/{run_id}/debug",
    response_model=DebugState,
    summary="Answer a paused run: continue, step or abort, with edited inputs or variables",
)
async def debug_command(parts: Parts, run_id: str, body: DebugCommand) -> DebugState:
    """A run paused on another machine gets the command through the store (``debugrelay``)."""
    await _known(parts, run_id)
    supervisor = parts.supervisor
    if supervisor.holds_run(run_id):
        if supervisor.paused(run_id) is None:
            raise Problem(409, f"run {run_id} is not paused; it takes commands at a breakpoint")
        await supervisor.debug_command(run_id, body.model_dump())
        return _state(parts, run_id)
    remote = await supervisor.remote_debug_state(run_id)
    if remote.pause is None:
        raise Problem(409, f"run {run_id} is not paused; it takes commands at a breakpoint")
    try:
        await supervisor.relay_debug(run_id, body.model_dump())
    except NotHeldElsewhere as exc:
        raise Problem(409, str(exc)) from None
    await supervisor.remote_pause_ended(run_id, remote.pause.seq)
    return await _any_state(parts, run_id)


@router.put(
    "/runs/{run_id}/breakpoints",
    response_model=DebugState,
    summary="Replace the breakpoints of a queued or running run",
)
async def put_breakpoints(parts: Parts, run_id: str, body: BreakpointsRequest) -> DebugState:
    """Also a run queued for or running on another machine (through the history)."""
    await _known(parts, run_id)
    supervisor = parts.supervisor
    if supervisor.holds_run(run_id):
        await supervisor.set_breakpoints(run_id, body.nodes)
        return _state(parts, run_id)
    await supervisor.breakpoints_elsewhere(run_id, body.nodes)
    return await _any_state(parts, run_id)
