"""Clipboard blocks: xsel on Linux, pbcopy/pbpaste on macOS, each call with a time limit.

On Linux the clipboard is served by whichever program owns the X selection,
so reading it means asking that program; a frozen owner never answers.  Every
helper call therefore goes through ``tools.run_tool`` with a time limit, and a
read that gets no answer fails the step with ``ToolTimedOut`` instead of
hanging it (``xsel -b -o`` through pyperclip once held a step eight minutes).
pyperclip is used only on Windows, where it calls the clipboard API in
process and starts no helper.

xsel rather than xclip: xclip leaves a process holding the output pipe of
whoever ran it, which hangs a step whose output is captured.

``keyboard.type`` does not paste through these: it owns the selection itself
(``selection.py``) so that it can see the target window take the text.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.desktop.tools import CLIPBOARD_TIMEOUT, ToolFailed, run_tool
from automation.errors import BlockError

_SETTLE_TIMEOUT = 2.0
_SETTLE_POLL = 0.01


def _helper(verb: str) -> list[str] | None:
    """The command that reads (``out``) or writes (``in``) the clipboard; None: use pyperclip."""
    if sys.platform == "darwin":
        return ["pbpaste"] if verb == "out" else ["pbcopy"]
    if sys.platform.startswith("win"):
        return None
    xsel = shutil.which("xsel")
    if xsel is None:
        raise BlockError(
            "the clipboard needs xsel on Linux: install it (apt-get install xsel)",
            retryable=False,
        )
    if verb == "out":
        # xsel's own selection timeout (ms) ends a wait for a frozen owner cleanly;
        # run_tool's limit is the backstop for an xsel that hangs anyway
        return [xsel, "--clipboard", "--output", "--selectionTimeout", "4000"]
    return [xsel, "--clipboard", "--input"]


def write_clipboard(
    text: str, ctx: BlockContext | None = None, settle: float = _SETTLE_TIMEOUT
) -> None:
    """Put ``text`` on the clipboard and wait until the clipboard serves it.

    xsel hands the selection to a background copy of itself; until that copy
    owns it, a paste gets the previous content (or nothing), so a Ctrl+V sent
    right after would paste the wrong text.
    """
    command = _helper("in")
    if command is None:
        _pyperclip().copy(text)
        return
    # xsel -i forks the copy that serves the selection: it must outlive the call
    done = run_tool(
        command,
        timeout=CLIPBOARD_TIMEOUT,
        ctx=ctx,
        input=text.encode("utf-8"),
        what="putting text on the clipboard (xsel)",
        keep_children=True,
    )
    if done.returncode != 0:
        raise ToolFailed(f"xsel could not set the clipboard: {_err(done.stderr)}")
    deadline = time.monotonic() + settle
    while read_clipboard(ctx) != text:
        if time.monotonic() >= deadline:
            raise BlockError(f"the clipboard did not take the new text within {settle:g}s")
        if ctx is not None:
            ctx.sleep(_SETTLE_POLL)  # a cancelled run or the step's deadline ends the wait
        else:
            time.sleep(_SETTLE_POLL)


def read_clipboard(ctx: BlockContext | None = None) -> str:
    """The clipboard's text ("" when it is empty or holds no text)."""
    command = _helper("out")
    if command is None:
        return str(_pyperclip().paste())
    done = run_tool(
        command, timeout=CLIPBOARD_TIMEOUT, ctx=ctx, what=f"reading the clipboard ({command[0]})"
    )
    if done.returncode != 0:
        # xsel exits non-zero when nobody owns the clipboard or its selection timeout
        # passed; an empty clipboard is not an error, a silent owner is
        message = _err(done.stderr)
        if "timeout" in message.lower():
            raise BlockError(f"the clipboard's owner did not answer: {message}")
        return ""
    return done.stdout.decode("utf-8", "replace")


def _err(stderr: bytes) -> str:
    return stderr.decode(errors="replace").strip()[-300:] or "no message"


def _pyperclip() -> Any:
    import pyperclip  # type: ignore[import-untyped]

    return pyperclip


class ClipboardText(BlockOutput):
    text: str = Field(description="the clipboard's text")


class ClipboardGet(DesktopBlock[BlockInput]):
    """Read the text on the clipboard."""

    id = "clipboard.get"
    title = "Read clipboard"
    idempotent = True
    Output = ClipboardText

    def perform(self, inputs: BlockInput, ctx: BlockContext, evidence: Evidence) -> ClipboardText:
        return ClipboardText(text=read_clipboard(ctx))


class SetInput(BlockInput):
    text: str = Field(description="the text to put on the clipboard")


class ClipboardSet(DesktopBlock[SetInput]):
    """Put text on the clipboard."""

    id = "clipboard.set"
    title = "Set clipboard"
    idempotent = True
    Input = SetInput

    def perform(self, inputs: SetInput, ctx: BlockContext, evidence: Evidence) -> None:
        write_clipboard(inputs.text, ctx)


BLOCKS = (ClipboardGet, ClipboardSet)
