"""``deskpilot record``: record what you do on the desktop into a workflow file that replays.

Clicks, drags, scrolls, typing and key chords are captured from the X server
until Ctrl+C (or SIGTERM, or ``--duration``); each is shown as it happens.
The file is then written with its click images in ``<name>-images/`` next to
it; ``deskpilot run FILE`` replays it.  The Ctrl+C that stops the recording
is not part of it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from supervisor.cli import output

if TYPE_CHECKING:
    from automation.recording.events import Event


def _describe(event: Event) -> str | None:
    from automation.recording.events import ButtonEvent, KeyEvent

    where = ""
    window = getattr(event, "window", None)
    if window is not None and window.title:
        where = f" in '{window.title}'"
    if isinstance(event, ButtonEvent) and event.pressed:
        return f"  button {event.button} at {event.x},{event.y}{where}"
    if isinstance(event, KeyEvent) and event.pressed:
        return f"  key {event.keysym}{where}"
    return None


@click.command("record")
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Workflow file to write (default: recording-<date>.yaml here).",
)
@click.option("--name", help="The workflow's name (default: from the file name).")
@click.option("--duration", type=float, help="Stop after this many seconds (default: at Ctrl+C).")
@click.option("--no-text", is_flag=True, help="No OCR text anchors (faster, no tesseract).")
@click.option("--quiet", is_flag=True, help="Do not list the events as they come.")
def record_cmd(
    target: Path | None, name: str | None, duration: float | None, no_text: bool, quiet: bool
) -> None:
    """Record clicks, typing and chords on the X display into a workflow file."""
    from automation.recording import Recorder
    from automation.recording.compose import ClickStep
    from automation.recording.workflow import write_recording

    path = target or Path(f"recording-{datetime.now():%Y%m%d-%H%M%S}.yaml")
    stop = threading.Event()
    interrupted = {"ctrl_c": False}

    def on_signal(number: int, _frame: FrameType | None) -> None:
        interrupted["ctrl_c"] = number == signal.SIGINT
        stop.set()

    def on_event(event: Event) -> None:
        text = _describe(event)
        if text is not None and not quiet:
            output.line(text)

    recorder = Recorder(on_event=on_event, text_anchors=not no_text)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        recorder.start()
        display = os.environ.get("DISPLAY", "")
        until = f"for {duration:g}s" if duration else "until Ctrl+C"
        output.line(f"recording on display {display} {until}; work in your applications now")
        sys.stdout.flush()
        stop.wait(duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    output.line("stopping: working out the targets of the clicks...")
    recording = recorder.stop(stopped_with_ctrl_c=interrupted["ctrl_c"])
    if not recording.steps:
        output.error("nothing was recorded; no file written")
        sys.exit(1)
    workflow = write_recording(recording, path, name)
    clicks = [s for s in recording.steps if isinstance(s, ClickStep)]
    fixed = sum(1 for c in clicks if not (t := recording.target_of(c)) or not t.anchors)
    output.line(
        f"wrote {path}: {len(workflow.nodes)} steps, {len(clicks)} clicks"
        + (f" ({fixed} at fixed coordinates: see their notes)" if fixed else "")
    )
    output.line(f"replay it with: deskpilot run {path}")
