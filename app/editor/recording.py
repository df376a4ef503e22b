"""The editor's Record button: record the desktop into the open workflow.

The capture is ``automation.recording.Recorder`` (no Qt there); this module
only starts it, stops it, and inserts what it made as one undoable edit.
Deskpilot's own windows are never recorded: the recorder drops every event
that goes to a window of this process (the Stop click included).

Stopping waits for the targets of the last clicks (image crops, OCR), which
can take a second or two, so it happens in a thread; the nodes arrive on the
GUI thread through a signal.  The template images are written next to the
workflow file (``<file>-images/``), which is why a workflow must be saved
once before it can record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from automation.errors import DeskpilotError
from automation.model import Link

if TYPE_CHECKING:
    from automation.recording import Recorder, Recording

log = logging.getLogger(__name__)


class RecordingSession(QObject):
    """Starts and stops one recording; ``finished`` carries it (or ``failed`` a reason)."""

    started = Signal()
    #: the recording, as an object (a Python ``Recording``)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._recorder: Recorder | None = None
        self._stopping = False

    @property
    def active(self) -> bool:
        return self._recorder is not None

    def start(self) -> None:
        """Start recording; raise DeskpilotError (no X display...) with what to do."""
        from automation.recording import Recorder

        if self._recorder is not None:
            return
        recorder = Recorder(exclude_pids={os.getpid()})
        recorder.start()
        self._recorder = recorder
        self.started.emit()

    def stop(self) -> None:
        """Stop; the result comes through ``finished`` (or ``failed``) once the targets are done."""
        recorder, self._recorder = self._recorder, None
        if recorder is None or self._stopping:
            return
        self._stopping = True

        def finish() -> None:
            try:
                recording = recorder.stop()
            except Exception as exc:  # a bug: say it in the window, keep the traceback in the log
                log.exception("stopping the recording failed")
                outcome: tuple[Any, object] = (self.failed, f"recording failed: {exc}")
            else:
                outcome = (self.finished, recording)
            self._stopping = False
            with contextlib.suppress(RuntimeError):  # the editor closed meanwhile
                outcome[0].emit(outcome[1])

        threading.Thread(target=finish, name="recording-stop", daemon=True).start()


def recorded_fragment(
    recording: Recording,
    workflow_path: Path,
    taken: set[str],
    origin: tuple[float, float],
    after: str | None,
) -> tuple[dict[str, dict[str, Any]], list[Link]]:
    """Nodes and links to insert for ``recording``; images go next to the workflow file.

    ``after`` is a node the recording continues from (linked to its first node).
    """
    from automation.recording.workflow import recorded_nodes

    images = workflow_path.with_name(f"{workflow_path.stem}-images")
    try:
        nodes, links = recorded_nodes(
            recording, images, workflow_path.parent, taken=taken, origin=origin
        )
    except OSError as exc:
        raise DeskpilotError(f"cannot write the recorded images to {images}: {exc}") from None
    parsed = [Link.model_validate(text) for text in links]
    if after is not None and nodes:
        parsed.insert(0, Link.model_validate(f"{after} -> {next(iter(nodes))}"))
    return nodes, parsed
