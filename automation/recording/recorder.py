"""``Recorder``: capture input until stopped, then hand back the steps and their targets.

Threads while recording: XRecord's (events), the window poller, the frame
keeper (screenshots ahead of clicks) and the anchor worker, which works out
each click's target as soon as it happens (so frames need not be kept) while
the user goes on.  ``stop`` ends the capture, lets the anchor worker finish
and composes the steps.

``wait_idle`` returns once everything captured so far has been taken in (a
screenshot and a window poll after the last event, every click's target
worked out): tests pace their input on it instead of sleeping, and so can a
caller that wants to show a step as soon as it is final.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from automation.errors import DeskpilotError
from automation.recording.anchors import (
    ClickTarget,
    accessibility_anchor,
    accessibility_supported,
    find_target,
)
from automation.recording.compose import ClickStep, Step, compose
from automation.recording.events import ButtonEvent, Event, KeyEvent
from automation.recording.frames import SETTLE, Frame, FrameKeeper, grab_screen
from automation.recording.xcapture import CaptureError, XCapture

logger = logging.getLogger(__name__)


#: How long a click's accessibility look-up may take before the click goes without it.
ELEMENT_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Job:
    moment: float
    x: int
    y: int
    frame: Frame
    element: Future[dict[str, Any] | None] | None


class RecorderError(DeskpilotError):
    """Recording cannot start or cannot go on (no X display, no RECORD extension)."""


@dataclass
class Recording:
    """What a finished recording made: steps in order, and the targets of its clicks."""

    steps: list[Step]
    targets: dict[float, ClickTarget] = field(default_factory=dict)
    screen: tuple[int, int] | None = None
    events: int = 0
    dropped: int = 0

    def target_of(self, step: ClickStep) -> ClickTarget | None:
        return self.targets.get(step.start)


class Recorder:
    def __init__(
        self,
        *,
        display: str | None = None,
        exclude_pids: Collection[int] = (),
        text_anchors: bool = True,
        accessibility_anchors: bool = True,
        on_event: Callable[[Event], None] | None = None,
        grab: Callable[[], Frame] = grab_screen,
    ) -> None:
        self.text_anchors = text_anchors
        self.accessibility_anchors = accessibility_anchors
        self.on_event = on_event
        self._capture = XCapture(self._received, display=display, exclude_pids=exclude_pids)
        self._frames = FrameKeeper(grab)
        self._events: list[Event] = []
        self._targets: dict[float, ClickTarget] = {}
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._elements = ThreadPoolExecutor(1, thread_name_prefix="elements")
        self._lock = threading.Lock()
        self._last_input = 0.0
        self._worker = threading.Thread(target=self._work, name="anchors", daemon=True)
        self._running = False
        self._screen: tuple[int, int] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._capture.start()
        except CaptureError as exc:
            raise RecorderError(str(exc)) from None
        try:
            self._frames.start()
        except Exception as exc:
            self._capture.stop()
            raise RecorderError(f"cannot take screenshots to record clicks: {exc}") from None
        self._worker.start()
        self._running = True

    def stop(self, *, stopped_with_ctrl_c: bool = False) -> Recording:
        """Stop capturing and compose what was recorded (waits for pending click targets)."""
        if self._running:
            self._running = False
            self._capture.stop()
            self._jobs.put(None)
            self._worker.join(120.0)
            self._elements.shutdown(wait=False, cancel_futures=True)
            self._frames.stop()
        with self._lock:
            events = list(self._events)
            targets = dict(self._targets)
        steps = compose(events, stopped_with_ctrl_c=stopped_with_ctrl_c)
        inputs = sum(1 for e in events if isinstance(e, KeyEvent | ButtonEvent))
        return Recording(steps, targets, self._screen, inputs, self._capture.dropped)

    @property
    def running(self) -> bool:
        return self._running

    def input_count(self) -> int:
        with self._lock:
            return sum(1 for e in self._events if isinstance(e, KeyEvent | ButtonEvent))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once everything captured so far is taken in (see the module docstring).

        "Taken in" means: a window poll started after this call, a screenshot
        taken after it (and at least ``SETTLE`` after the last input event),
        and every click's target worked out.
        """
        asked = time.monotonic()
        deadline = asked + timeout
        while True:
            with self._lock:
                wanted = max(asked, self._last_input + SETTLE)
            fresh = self._frames.wait_fresh(wanted, 0.0)
            polled = self._capture.polled_at > asked
            if fresh and polled and self._jobs.unfinished_tasks == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    # -- events (X threads) ----------------------------------------------------------------
    def _received(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            if isinstance(event, KeyEvent | ButtonEvent):
                self._last_input = event.time
        self._frames.event_seen(event.time)  # input, or windows that changed: a new screen
        if isinstance(event, ButtonEvent) and event.pressed and event.button in (1, 2, 3):
            frame = self._frames.before(event.time)
            if frame is not None:
                element = None
                if self.accessibility_anchors and accessibility_supported():
                    # now, not in the worker: the element may be gone once the click is done
                    element = self._elements.submit(accessibility_anchor, event.x, event.y)
                self._jobs.put(_Job(event.time, event.x, event.y, frame, element))
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("the recording's event callback failed")

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                frame, x, y = job.frame, job.x, job.y
                self._screen = (int(frame.image.shape[1]), int(frame.image.shape[0]))
                try:
                    element = job.element.result(ELEMENT_TIMEOUT) if job.element else None
                except Exception as exc:  # no bus, a hung app: the click keeps its other anchors
                    logger.info("no accessibility anchor for the click at %d,%d: %s", x, y, exc)
                    element = None
                try:
                    target = find_target(
                        frame.image, frame.origin, x, y, text=self.text_anchors, element=element
                    )
                except Exception as exc:  # a click without anchors replays at its coordinates
                    logger.exception("finding the target of the click at %d,%d failed", x, y)
                    target = ClickTarget(x, y, notes=[f"finding its target failed: {exc}"])
                with self._lock:
                    self._targets[job.moment] = target
            finally:
                self._jobs.task_done()
