"""Holding a running desktop run while the session cannot take input (locked screen, sleep).

Queued desktop runs do not start while the screen is locked; this module is
for the run that is already running when it locks.  Input sent then goes to
the lock screen: the step "succeeds" and nothing happened, the worst kind of
result.  Whoever watches the session (the supervisor, over D-Bus) tells the
worker, which sets a ``SessionHold``, given to the run in
``RunOptions.hold``.  The engine waits on it:

* before each attempt of a step whose block needs the ``desktop`` resource
  (no attempt is used, the step's timeout has not started);
* inside such a step, at the step's own check points (``ctx.check_cancelled``
  and ``ctx.sleep``: between the chunks of ``keyboard.type``, the motions of
  a drag), so a long action stops between two chunks and goes on after the
  unlock; the step's deadline moves back by the time held and the watchdog
  does not fire meanwhile;
* a step during which a hold began that it did not wait out itself (a click
  under way when the lock came, a wait for an image the lock screen hid) was
  interrupted by the lock: after the unlock its postcondition decides whether
  it runs again (``resume.settle_interrupted``, as after a worker's death),
  and the cut attempt is not counted against its retries.

Steps of other blocks (HTTP, files) go on while the desktop waits.  The time
a desktop step waits is not the run's time, as a debugger pause is not: the
run's deadline (and a loop's around the step) moves back by it, so a run held
longer than its time limit goes on after the unlock; the supervisor does not
count it either (``supervisor/desktop_gate.py``).  A run whose time was up
before the wait began fails at once, and the error names the lock.  The
history gets "held: <why> (since <when>)" when a wait starts and "released:
held for N s" when it ends; the supervisor reads those two to stop and start
the run's clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from automation.engine.events import LogEmitted
from automation.engine.failures import error_message
from automation.errors import SessionInterrupted

if TYPE_CHECKING:
    from automation.blocks.context import BlockContext
    from automation.engine.execution import Execution
    from automation.engine.plan import NodePlan

#: The resource of blocks that drive mouse and keyboard: their steps wait while the screen is locked.
DESKTOP = "desktop"

#: Longest single wait on the hold, in seconds: cancel, drain and the deadline are looked at
#: between waits as well as when they wake it.
SLICE = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    """Why desktop input waits, and since when (aware UTC)."""

    reason: str
    since: datetime

    def describe(self) -> str:
        return f"{self.reason} (since {self.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"


class SessionHold:
    """Whether desktop input must wait now; set from one thread, waited on in the run's.

    ``generation`` counts the holds begun so far: a step that reads it before
    it acts and finds it changed afterwards knows a lock came while it acted.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: Held | None = None
        self.generation = 0
        #: The latest hold begun (kept after its release: it names what cut a step short).
        self.last: Held | None = None

    def hold(self, reason: str, since: datetime | None = None) -> None:
        """The session is not usable: desktop steps wait from now on."""
        with self._cond:
            if self._held is None:
                self.generation += 1
                when = since or datetime.now(UTC)
            else:
                when = self._held.since  # a new reason (locked, then asleep): the same hold
            self._held = self.last = Held(reason=reason, since=when)
            self._cond.notify_all()

    def release(self) -> None:
        """The session is usable again: held steps go on."""
        with self._cond:
            self._held = None
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake a waiting run so it looks at its cancel token or drain again."""
        with self._cond:
            self._cond.notify_all()

    def current(self) -> Held | None:
        with self._cond:
            return self._held

    def settled(self) -> tuple[int, Held | None]:
        """The generation and the hold, read together."""
        with self._cond:
            return self.generation, self._held

    def wait(self, timeout: float) -> Held | None:
        """Wait up to ``timeout`` seconds for a release (or a wake); the hold after it."""
        with self._cond:
            if self._held is not None and timeout > 0:
                self._cond.wait(timeout)
            return self._held


def hold_before(run: Execution, node_id: str, step: int) -> int:
    """Before an attempt of a desktop step: wait while held; the generation the step starts in.

    Returns early (still held) only when the run is cancelled, drained or past
    its deadline; the caller's limit checks then end the run.
    """
    hold = run.hold
    if hold is None:
        return 0
    while True:
        generation, held = hold.settled()
        if held is None:
            return generation
        if not _wait_out(run, hold, held, node_id, step, inside=False):
            return generation


def hold_inside(run: Execution, ctx: BlockContext) -> None:
    """A desktop step's check point: wait here while held, the step's clock stopped.

    Only the run's own thread waits (a helper thread calling the check must
    not block on it); a step whose cancel token is set is left to raise.
    """
    hold = run.hold
    if hold is None or hold.current() is None or threading.get_ident() != run.thread:
        return
    if ctx.cancel.is_set():
        return
    watched = run.watchdog.armed
    if watched and run.watchdog.disarm():
        return  # the deadline passed just now: the check raises it
    clock = run.clock
    started = clock.monotonic()
    while True:
        generation, held = hold.settled()
        if held is None:
            break
        if not _wait_out(run, hold, held, ctx.node_id, ctx.step, inside=True):
            break
    run.lock_seen = generation  # the holds so far were waited out here, not missed
    waited = clock.monotonic() - started
    if ctx.deadline is not None:
        ctx.deadline = min(run.deadline, ctx.deadline + waited)
    if watched and ctx.deadline is not None:
        run.watchdog.arm(ctx.deadline - clock.monotonic(), ctx.cancel)


def lock_cut(
    run: Execution, plan: NodePlan, exc: BaseException | None
) -> SessionInterrupted | None:
    """The error that replaces a desktop step's outcome when a lock came while it acted.

    None when no hold began since the step started, or the step waited it out
    at one of its own check points (then its input stopped in time).  ``exc``
    is the step's own error, None when it returned.
    """
    hold = run.hold
    if hold is None or DESKTOP not in plan.block.resources or run.cancel.is_set():
        return None
    if hold.generation == run.lock_seen:
        return None
    held = hold.last
    reason = held.reason if held is not None else "the session was not usable"
    outcome = "finished" if exc is None else f"failed ({error_message(exc)})"
    return SessionInterrupted(
        f"node '{plan.node_id}' {outcome}, but {reason} began while it acted, "
        "so its input may have gone to the lock screen",
        reason=reason,
    )


def _wait_out(
    run: Execution, hold: SessionHold, held: Held, node_id: str, step: int, *, inside: bool
) -> bool:
    """Wait until released; True if it was, False if the run must stop waiting."""
    clock = run.clock
    started = clock.monotonic()
    where = f"inside step {step}" if inside else f"before step {step}"
    run.emit(
        LogEmitted,
        node_id=node_id,
        level="warning",
        message=(
            f"held: {held.describe()}; desktop input waits {where} "
            "until the session is usable again"
        ),
        data={
            "hold": "held",
            "session": held.reason,
            "since": held.since.isoformat(),
            "inside_step": inside,
        },
        step=step,
    )
    released = False
    if run.deadline <= started:  # its time was up before the wait: the caller ends the run
        run.held_at_deadline = held
    while run.deadline > started:
        if run.cancel.is_set():
            break
        if not inside and run.drain is not None and run.drain.is_set():
            break
        if hold.wait(SLICE) is None:
            released = True
            break
    waited = clock.monotonic() - started
    run.stop_clock(waited)  # not the run's time: see the module's docstring
    run.emit(
        LogEmitted,
        node_id=node_id,
        level="info",
        message=(
            f"released: held for {waited:.1f}s because {held.reason}; the step goes on"
            if released
            else f"stopped waiting after {waited:.1f}s, still held because {held.reason}"
        ),
        data={"hold": "released" if released else "gave_up", "held_seconds": round(waited, 3)},
        step=step,
    )
    return released
