"""The terminal side of ``deskpilot run --break``: show a paused node, read commands.

Commands, one per line: ``c`` (continue), ``s`` (step: run this node, pause
before the next), ``p [NAME]`` (print the inputs, pins and vars again, or one
value), ``set NAME=VALUE`` (an input of the paused node; ``vars.NAME`` for a
run variable), ``q`` (quit: cancel the run), ``h`` (help).

Lines are read straight from the file descriptor with ``select``, not
through Python's buffered reader, so that a pause can time out and piped
commands are taken one pause at a time.  At the end of piped input the run
continues: there is nobody left to answer.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Callable
from typing import Any, TextIO

from automation.engine.debugger import DebugAction, PauseSnapshot, Resume, parse_assignment

HELP = (
    "commands: c = continue, s = step, p [NAME] = print values, "
    "set NAME=VALUE (vars.NAME for a variable), q = quit (cancel the run)"
)
#: How often a waiting prompt looks whether the run was cancelled (Ctrl-C).
_POLL = 0.25


class _Lines:
    """Lines from a file descriptor, each within a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def readline(self, deadline: float, cancelled: Callable[[], bool]) -> str | None:
        """The next line; None when the deadline passed or the run was cancelled; '' at EOF."""
        while b"\n" not in self.buffer:
            if self.eof:
                line, self.buffer = self.buffer, b""
                return line.decode(errors="replace")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or cancelled():
                return None
            ready, _, _ = select.select([self.fd], [], [], min(remaining, _POLL))
            if not ready:
                continue
            chunk = os.read(self.fd, 4096)
            if not chunk:
                self.eof = True
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode(errors="replace") + "\n"


class TerminalPrompt:
    """A ``CommandSource`` reading debugger commands from a terminal or a pipe."""

    def __init__(
        self,
        stdin_fd: int,
        out: TextIO,
        *,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.lines = _Lines(stdin_fd)
        self.out = out
        self.cancelled = cancelled

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def next_command(self, snapshot: PauseSnapshot, timeout: float) -> Resume | None:
        deadline = time.monotonic() + timeout
        inputs: dict[str, Any] = {}
        variables: dict[str, Any] = {}
        self.say(
            f"\npaused before node '{snapshot.node_id}' ({snapshot.block}), step {snapshot.step}"
            f" [{snapshot.reason}]; continues by itself in {timeout:g} s"
        )
        self._show(snapshot, inputs, variables)
        self.say(HELP)
        while True:
            self.out.write("(debug) ")
            self.out.flush()
            line = self.lines.readline(deadline, self.cancelled)
            if line is None:
                if self.cancelled():
                    return Resume(action=DebugAction.ABORT)
                self.say(f"\nno command in {timeout:g} s: continuing without breakpoints")
                return None
            if line == "":
                self.say("(end of input: continuing)")
                return Resume(inputs=inputs, vars=variables)
            command, _, rest = line.strip().partition(" ")
            rest = rest.strip()
            if command in ("c", "continue"):
                return Resume(inputs=inputs, vars=variables)
            if command in ("s", "step", "n", "next"):
                return Resume(action=DebugAction.STEP, inputs=inputs, vars=variables)
            if command in ("q", "quit", "abort"):
                return Resume(action=DebugAction.ABORT)
            if command in ("p", "print"):
                self._print(snapshot, inputs, variables, rest)
            elif command == "set":
                try:
                    scope, name, value = parse_assignment(rest, snapshot)
                except ValueError as exc:
                    self.say(f"error: {exc}")
                    continue
                (variables if scope == "vars" else inputs)[name] = value
                self.say(f"{scope}.{name} = {_show(value)}")
            elif command in ("h", "help", "?"):
                self.say(HELP)
            elif command:
                self.say(f"unknown command '{command}'; {HELP}")

    def _show(
        self, snapshot: PauseSnapshot, inputs: dict[str, Any], variables: dict[str, Any]
    ) -> None:
        for title, values in (
            ("inputs", {**snapshot.inputs, **inputs}),
            ("pins", snapshot.pins),
            ("vars", {**snapshot.vars, **variables}),
        ):
            if not values:
                self.say(f"  {title}: (none)")
                continue
            self.say(f"  {title}:")
            for name, value in values.items():
                self.say(f"    {name} = {_show(value)}")

    def _print(
        self,
        snapshot: PauseSnapshot,
        inputs: dict[str, Any],
        variables: dict[str, Any],
        name: str,
    ) -> None:
        if not name:
            self._show(snapshot, inputs, variables)
            return
        scopes: dict[str, dict[str, Any]] = {
            "inputs": {**snapshot.inputs, **inputs},
            "pins": snapshot.pins,
            "vars": {**snapshot.vars, **variables},
            "nodes": snapshot.nodes,
        }
        scope, dot, rest = name.partition(".")
        if dot and scope in scopes and rest in scopes[scope]:
            self.say(f"{name} = {_show(scopes[scope][rest])}")
            return
        for scope, values in scopes.items():
            if name in values:
                self.say(f"{scope}.{name} = {_show(values[name])}")
                return
        self.say(f"no input, pin, variable or node named '{name}'")


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 400 else text[:400] + f"… ({len(text)} characters)"
