"""The terminal side of ``deskpilot run --break``: show a paused node, read commands.

Commands, one per line: ``c`` (continue), ``s`` (step: run this node, pause
before the next), ``p [NAME]`` (print the inputs, pins and vars again, or one
value), ``show NAME`` (one value in full, as far as a pause shows it),
``set NAME=VALUE`` (an input of the paused node; ``vars.NAME`` for a run
variable), ``q`` (quit: cancel the run), ``h`` (help).

Values are shown as the window and the API show a pause: the event's display
copies (``pause_values``), masked of secrets and then cut to a bounded size,
never the values the node holds, which may be a 100 MB file read into a
variable.  ``deskpilot run --break`` gets the node's values (masked) from the
engine in this process and makes those copies here; ``deskpilot submit
--wait`` gets them made by the supervisor.  A terminal line shows the first
``LINE_LIMIT`` characters of each, saying how to see the rest with ``show``.

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
from automation.engine.pause_values import ITEM_LIMIT, STRING_LIMIT, shown_values

HELP = (
    "commands: c = continue, s = step, p [NAME] = print values, show NAME = one value in "
    "full, set NAME=VALUE (vars.NAME for a variable), q = quit (cancel the run)"
)
#: Characters of a value's JSON on a line of the pause's summary (``p``); ``show`` prints more.
LINE_LIMIT = 200
_SCOPES = ("inputs", "pins", "vars", "nodes")
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
        values_shown: bool = False,
    ) -> None:
        """``values_shown``: the snapshots hold display copies already (the supervisor's)."""
        self.lines = _Lines(stdin_fd)
        self.out = out
        self.cancelled = cancelled
        self.values_shown = values_shown

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
            elif command == "show":
                self._show_one(snapshot, inputs, variables, rest)
            elif command == "set":
                try:
                    scope, name, value = parse_assignment(rest, snapshot)
                except ValueError as exc:
                    self.say(f"error: {exc}")
                    continue
                (variables if scope == "vars" else inputs)[name] = value
                shown = shown_values({scope: {name: value}})[scope][name]
                self.say(f"{scope}.{name} = {_line(f'{scope}.{name}', shown)}")
            elif command in ("h", "help", "?"):
                self.say(HELP)
            elif command:
                self.say(f"unknown command '{command}'; {HELP}")

    def _display(
        self, snapshot: PauseSnapshot, inputs: dict[str, Any], variables: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """The values as a pause shows them, by scope: display copies, never the values held.

        Made as the pause event's are (one budget for pins, inputs and vars), so
        the terminal shows what the window shows; edits typed here are cut alike.
        """
        if self.values_shown:
            edits = shown_values({"inputs": inputs, "vars": variables})
            return {
                "inputs": {**snapshot.inputs, **edits["inputs"]},
                "pins": dict(snapshot.pins),
                "vars": {**snapshot.vars, **edits["vars"]},
                "nodes": dict(snapshot.nodes),
            }
        shown = shown_values(
            {
                "inputs": {**snapshot.inputs, **inputs},
                "pins": snapshot.pins,
                "vars": {**snapshot.vars, **variables},
            }
        )
        shown["nodes"] = shown_values({"nodes": snapshot.nodes})["nodes"]
        return shown

    def _show(
        self, snapshot: PauseSnapshot, inputs: dict[str, Any], variables: dict[str, Any]
    ) -> None:
        display = self._display(snapshot, inputs, variables)
        for title in ("inputs", "pins", "vars"):
            values = display[title]
            if not values:
                self.say(f"  {title}: (none)")
                continue
            self.say(f"  {title}:")
            for name, value in values.items():
                self.say(f"    {name} = {_line(f'{title}.{name}', value)}")

    def _find(self, display: dict[str, dict[str, Any]], name: str) -> tuple[str, Any] | None:
        """``NAME`` or ``SCOPE.NAME``: its full name and display copy; None if there is none."""
        scope, dot, rest = name.partition(".")
        if dot and scope in display and rest in display[scope]:
            return name, display[scope][rest]
        for scope in _SCOPES:
            if name in display[scope]:
                return f"{scope}.{name}", display[scope][name]
        if name in _SCOPES:
            return name, display[name]
        return None

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
        found = self._find(self._display(snapshot, inputs, variables), name)
        if found is None:
            self.say(f"no input, pin, variable or node named '{name}'")
            return
        full_name, value = found
        self.say(f"{full_name} = {_line(full_name, value)}")

    def _show_one(
        self,
        snapshot: PauseSnapshot,
        inputs: dict[str, Any],
        variables: dict[str, Any],
        name: str,
    ) -> None:
        """One value in full as the pause shows it: masked, at most the display copy's size."""
        if not name:
            self.say("show what? e.g. 'show inputs.text' (p lists the names)")
            return
        found = self._find(self._display(snapshot, inputs, variables), name)
        if found is None:
            self.say(f"no input, pin, variable or node named '{name}'")
            return
        full_name, value = found
        text = json.dumps(value, default=str, ensure_ascii=False, indent=2)
        self.say(f"{full_name} =\n{text}")
        if _was_cut(value):
            self.say(
                f"(a pause shows {STRING_LIMIT} characters of a text and {ITEM_LIMIT} items of "
                "a list or mapping, secrets masked; the node runs with the whole value)"
            )


def _line(name: str, value: Any) -> str:
    """A value's JSON on one summary line, cut at ``LINE_LIMIT`` with the way to see more."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= LINE_LIMIT:
        return text
    return text[:LINE_LIMIT] + f"… (cut at {LINE_LIMIT} of {len(text)} characters; 'show {name}')"


def _was_cut(value: Any) -> bool:
    """Whether a display copy says it left part of the value out (``pause_values``' notes)."""
    return "…" in json.dumps(value, default=str, ensure_ascii=False)
