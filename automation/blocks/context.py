"""What a block sees of the run while it executes.

The context is how a block logs, sleeps (cancellably), reads the time left
before its deadline, reads and sets run variables, reads secrets, saves
artifacts and, for control blocks, evaluates templates or runs a subflow.
Everything with a side effect outside the block goes through here, so the
engine can redact it, record it, and replace it in tests.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from automation.clock import SYSTEM_CLOCK, Clock
from automation.errors import StepCancelled, StepTimeout
from automation.redaction import Redactor

LogLevel = Literal["debug", "info", "warning", "error"]
_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class CancelToken:
    """Set once, with a reason, to ask running steps to stop.

    ``reason`` is ``"cancelled"`` for the user or the supervisor, and
    ``"timeout"`` when a step deadline or the run's time limit passed.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: str | None = None
        self._listeners: list[Callable[[str], None]] = []

    def set(self, reason: str = "cancelled") -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()
            for listener in list(self._listeners):
                listener(reason)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` when set (at once if already set): chains tokens."""
        self._listeners.append(listener)
        if self.event.is_set() and self.reason is not None:
            listener(self.reason)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def is_set(self) -> bool:
        return self.event.is_set()


class RunHooks:
    """The parts of a context that need the engine; the harness supplies stand-ins."""

    def log(self, node_id: str | None, level: LogLevel, message: str, data: dict[str, Any]) -> None:
        logging.getLogger("automation.run").log(_LEVELS[level], "%s", message)

    def artifact(self, node_id: str, path: Path, kind: str, description: str) -> None:
        """Record a file a step produced (a screenshot, a report)."""

    def evaluate(self, source: str) -> Any:
        raise NotImplementedError("templates cannot be evaluated outside a run")

    def subflow(self, path: Path, inputs: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        raise NotImplementedError("subflows need the engine")

    def stop(self, reason: str) -> None:
        raise NotImplementedError("stopping a run needs the engine")

    def secret(self, name: str) -> str:
        raise NotImplementedError("no secret store")


@dataclass(kw_only=True)
class BlockContext:
    run_id: str
    node_id: str
    step: int = 1
    attempt: int = 1
    workflow_dir: Path = field(default_factory=Path.cwd)
    artifacts_dir: Path = field(default_factory=Path.cwd)
    clock: Clock = SYSTEM_CLOCK
    random: random.Random = field(default_factory=random.Random)
    cancel: CancelToken = field(default_factory=CancelToken)
    #: clock.monotonic() value by which the step must be done, or None.
    deadline: float | None = None
    redactor: Redactor = field(default_factory=Redactor)
    hooks: RunHooks = field(default_factory=RunHooks)
    run_vars: dict[str, Any] = field(default_factory=dict)
    #: Variables this step set, recorded with the step so a resumed run replays them.
    vars_set: dict[str, Any] = field(default_factory=dict)
    #: The engine's hold point for a step that drives the desktop: ``input_pause`` waits in
    #: it while the screen is locked (``automation.engine.hold``); None elsewhere.
    hold: Callable[[BlockContext], None] | None = None
    #: What blocks remember from one step of the run to the next (the window the last
    #: desktop step acted on): shared by the run's steps, never shown to templates.  Its
    #: values are JSON values: each finished step records what it changed, and a resumed
    #: run replays that (``automation.engine.run_state``).
    run_state: dict[str, Any] = field(default_factory=dict)

    # -- variables -------------------------------------------------------------
    @property
    def vars(self) -> Mapping[str, Any]:
        return MappingProxyType(self.run_vars)

    def set_var(self, name: str, value: Any) -> None:
        self.run_vars[name] = value
        self.vars_set[name] = value

    # -- time and cancellation ---------------------------------------------------
    def remaining(self, default: float | None = None) -> float | None:
        """Seconds left before the deadline (never below a small floor), else ``default``."""
        if self.deadline is None:
            return default
        left = max(0.001, self.deadline - self.clock.monotonic())
        return left if default is None else min(left, default)

    def check_cancelled(self) -> None:
        """Raise if the run was cancelled or the deadline passed; long loops call this."""
        if self.cancel.is_set():
            if self.cancel.reason == "timeout":
                raise StepTimeout(f"node '{self.node_id}' ran past its deadline")
            raise StepCancelled(f"node '{self.node_id}' was cancelled")
        if self.deadline is not None and self.clock.monotonic() >= self.deadline:
            raise StepTimeout(f"node '{self.node_id}' ran past its deadline")

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake and raise at once on cancellation or at the deadline."""
        self.check_cancelled()
        if self.deadline is not None:
            left = self.deadline - self.clock.monotonic()
            if seconds >= left:
                self.clock.sleep(max(0.0, left), self.cancel.event)
                self.check_cancelled()
                raise StepTimeout(f"node '{self.node_id}' ran past its deadline")
        self.clock.sleep(seconds, self.cancel.event)
        self.check_cancelled()

    def input_pause(self, seconds: float = 0.0) -> None:
        """Between two pieces of input (key chunks, the motions of a drag): a safe place to stop.

        A desktop step waits here while the screen is locked, with its clock
        stopped, and goes on after the unlock; no input is sent meanwhile.
        Then it sleeps ``seconds`` (cancellably) or checks for cancellation.
        """
        if self.hold is not None:
            self.hold(self)
        if seconds > 0:
            self.sleep(seconds)
        else:
            self.check_cancelled()

    def wait_until(
        self, condition: Callable[[], bool], *, timeout: float, interval: float = 0.1
    ) -> bool:
        """Poll ``condition`` until it holds or ``timeout`` passes; True if it held."""
        end = self.clock.monotonic() + timeout
        while True:
            if condition():
                return True
            now = self.clock.monotonic()
            if now >= end:
                return False
            self.sleep(min(interval, end - now))

    # -- side channels ---------------------------------------------------------
    def log(self, message: str, level: LogLevel = "info", **data: Any) -> None:
        self.hooks.log(self.node_id, level, self.redactor.text(message), self.redactor.value(data))

    def save_artifact(self, path: Path, kind: str = "file", description: str = "") -> None:
        self.hooks.artifact(self.node_id, path, kind, self.redactor.text(description))

    def secret(self, name: str) -> str:
        value = self.hooks.secret(name)
        self.redactor.add(value)
        return value

    def evaluate(self, source: str) -> Any:
        """Render a template against the run's current scope (for raw inputs)."""
        return self.hooks.evaluate(source)

    def run_subflow(self, path: Path, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.hooks.subflow(path, inputs, self.deadline)

    def stop_run(self, reason: str) -> None:
        self.hooks.stop(reason)
