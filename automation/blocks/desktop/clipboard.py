"""Clipboard blocks, through pyperclip.

On Linux pyperclip is pinned to ``xsel``: ``xclip`` leaves a process holding
the output pipe of whoever ran it, which hangs a step whose output is captured.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import Any

from pydantic import Field

from automation.blocks.base import BlockInput, BlockOutput
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.errors import BlockError

_SETTLE_TIMEOUT = 2.0
_SETTLE_POLL = 0.01
_lock = threading.Lock()
_configured = False


def _pyperclip() -> Any:
    global _configured
    import pyperclip  # type: ignore[import-untyped]

    with _lock:
        if not _configured:
            if sys.platform.startswith("linux") and shutil.which("xsel"):
                pyperclip.set_clipboard("xsel")
            _configured = True
    return pyperclip


def write_clipboard(text: str, settle: float = _SETTLE_TIMEOUT) -> None:
    """Put ``text`` on the clipboard and wait until the clipboard serves it.

    xsel hands the selection to a background copy of itself; until that copy
    owns it, a paste gets the previous content (or nothing), so a Ctrl+V sent
    right after would paste the wrong text.
    """
    clip = _pyperclip()
    try:
        clip.copy(text)
        deadline = time.monotonic() + settle
        while clip.paste() != text:
            if time.monotonic() >= deadline:
                raise BlockError("the clipboard did not take the new text in time")
            time.sleep(_SETTLE_POLL)
    except clip.PyperclipException as exc:
        raise BlockError(
            f"cannot use the clipboard: {exc}. On Linux install xsel", retryable=False
        ) from None


def read_clipboard() -> str:
    clip = _pyperclip()
    try:
        return str(clip.paste())
    except clip.PyperclipException as exc:
        raise BlockError(
            f"cannot use the clipboard: {exc}. On Linux install xsel", retryable=False
        ) from None


class ClipboardText(BlockOutput):
    text: str = Field(description="the clipboard's text")


class ClipboardGet(DesktopBlock[BlockInput]):
    """Read the text on the clipboard."""

    id = "clipboard.get"
    title = "Read clipboard"
    idempotent = True
    Output = ClipboardText

    def perform(self, inputs: BlockInput, ctx: BlockContext, evidence: Evidence) -> ClipboardText:
        return ClipboardText(text=read_clipboard())


class SetInput(BlockInput):
    text: str = Field(description="the text to put on the clipboard")


class ClipboardSet(DesktopBlock[SetInput]):
    """Put text on the clipboard."""

    id = "clipboard.set"
    title = "Set clipboard"
    idempotent = True
    Input = SetInput

    def perform(self, inputs: SetInput, ctx: BlockContext, evidence: Evidence) -> None:
        write_clipboard(inputs.text)


BLOCKS = (ClipboardGet, ClipboardSet)
