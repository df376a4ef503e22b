"""Helper programs (xsel, xclip, xdotool) run with a time limit, and killed whole.

A helper that never answers must not hold a step for ever: ``xsel -b -o``
waits for the clipboard's owner, and an owner that is frozen (or a window that
grabbed the selection and hung) made one step wait eight minutes while the
worker's heartbeats kept flowing.  Every call here has a deadline, the
smaller of the helper's own limit and the step's time left, and on expiry,
cancellation or an interrupt from the engine's watchdog the helper's whole
process group is killed, so nothing it started is left behind.

Each helper starts in its own session (``start_new_session``): killing the
group then reaches a child the helper forked (a shell script's ``sleep``, a
wrapper's real program), and a signal meant for the worker does not reach it
by accident.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from automation.blocks.context import BlockContext
from automation.errors import BlockError

#: Seconds a clipboard helper may take: a live owner answers in milliseconds.
CLIPBOARD_TIMEOUT = 5.0
_MARGIN = 0.2


class ToolTimedOut(BlockError):
    """A helper program did not finish within its time limit and was killed.

    Retryable: the usual cause (a clipboard owner busy for a moment) passes.
    """

    retryable = True


class ToolFailed(BlockError):
    """A helper program could not start or exited with an error."""


@dataclass(frozen=True)
class ToolResult:
    stdout: bytes
    stderr: bytes
    returncode: int
    seconds: float


def run_tool(
    argv: Sequence[str],
    *,
    timeout: float,
    ctx: BlockContext | None = None,
    input: bytes | None = None,
    what: str | None = None,
    keep_children: bool = False,
) -> ToolResult:
    """Run ``argv`` for at most ``timeout`` seconds (less if the step's deadline is nearer).

    ``keep_children``: a helper that leaves a child behind on purpose (``xsel -i``
    forks the copy that serves the selection) must not have it killed once the
    helper itself has exited; on a timeout the whole group still goes.
    Raises ``ToolTimedOut`` with the command and the limit, ``ToolFailed`` when the
    program is missing.  A non-zero exit is returned, not raised: callers know
    what it means for their tool.
    """
    name = what or " ".join(argv)
    limit = timeout
    if ctx is not None and ctx.deadline is not None:
        # end a little before the step's deadline, so the step fails with this
        # error (what hung, and that it was killed) rather than a bare timeout
        limit = max(0.05, min(timeout, (ctx.remaining() or 0.0) - _MARGIN))
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolFailed(f"{argv[0]} is not installed", retryable=False) from None
    except OSError as exc:
        raise ToolFailed(f"cannot start {argv[0]}: {exc}", retryable=False) from None
    try:
        stdout, stderr = process.communicate(input, timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise ToolTimedOut(
            f"{name} did not answer within {limit:.3g}s and was killed "
            "(for the clipboard: the program that owns it may be frozen)"
        ) from None
    except BaseException:
        # cancellation, or the watchdog's StepInterrupted arriving while we waited
        _kill_group(process)
        raise
    if not keep_children:
        _kill_group(process, wait=False)
    return ToolResult(stdout, stderr, int(process.returncode), time.monotonic() - started)


def _kill_group(process: subprocess.Popen[bytes], *, wait: bool = True) -> None:
    """SIGKILL the helper's process group (it leads its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    if wait:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=2.0)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
