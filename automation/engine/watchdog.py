"""Enforcing step deadlines on blocks that do not cooperate.

Well-behaved blocks watch their deadline themselves (``ctx.sleep``,
``ctx.remaining()`` as a timeout).  For the rest, one watchdog thread per
engine first sets the step's cancel token at the deadline, then, after a
grace period, raises ``StepInterrupted`` inside the engine thread
(``PyThreadState_SetAsyncExc``).  That stops pure-Python code; a call blocked
inside C (a socket read without timeout) stops when it returns.  The
supervisor's worker kill is the last line behind this one.

The engine thread arms and disarms the watchdog on every step, so both are a
lock acquisition and nothing else; the watchdog thread is woken only when a
new deadline is earlier than the one it already sleeps towards.
"""

from __future__ import annotations

import ctypes
import threading
import time

from automation.blocks.context import CancelToken
from automation.errors import StepInterrupted


def _raise_in_thread(thread_id: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(StepInterrupted)
    )


class StepWatchdog:
    def __init__(self, grace: float = 2.0) -> None:
        self.grace = grace
        self._cond = threading.Condition()
        self._generation = 0
        # (thread id, real deadline, token, generation, phase) or None
        self._armed: tuple[int, float, CancelToken, int, int] | None = None
        self._waiting_until = float("inf")
        self._injected_generation = -1
        self._thread: threading.Thread | None = None
        self._closed = False

    def arm(self, seconds: float, token: CancelToken) -> None:
        """Watch the calling thread's current step for ``seconds`` of real time."""
        deadline = time.monotonic() + max(0.0, seconds)
        with self._cond:
            self._generation += 1
            self._armed = (threading.get_ident(), deadline, token, self._generation, 0)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="deskpilot-step-watchdog", daemon=True
                )
                self._thread.start()
            elif deadline < self._waiting_until - 0.005:
                # only an earlier deadline needs the thread awake; the same run
                # deadline recomputed each step must not wake it every time
                self._cond.notify()

    @property
    def armed(self) -> bool:
        """Whether the calling engine's step is watched now."""
        with self._cond:
            return self._armed is not None

    def disarm(self) -> bool:
        """Stop watching; True if the step was interrupted (an exception may be pending)."""
        with self._cond:
            injected = self._injected_generation == self._generation
            self._armed = None
        if injected:
            # The asynchronous exception fires at the next bytecode boundary: let it
            # fire here, where we expect it, rather than in the engine's bookkeeping.
            try:
                for _ in range(100_000):
                    pass
            except StepInterrupted:
                pass
        return injected

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                armed = self._armed
                if armed is None:
                    self._waiting_until = float("inf")
                    self._cond.wait()
                    continue
                thread_id, deadline, token, generation, phase = armed
                now = time.monotonic()
                if now < deadline:
                    self._waiting_until = deadline
                    self._cond.wait(deadline - now)
                    continue
                if phase == 0:
                    token.set("timeout")
                    self._armed = (thread_id, deadline + self.grace, token, generation, 1)
                else:
                    self._injected_generation = generation
                    self._armed = None
                    _raise_in_thread(thread_id)
