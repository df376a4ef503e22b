"""Screenshots kept while recording, so each click's anchors come from the screen before it.

XRecord reports a press after the X server handled it, and a button may
already look pressed by then.  So the screen is grabbed ahead of time: a
short while after every input event and window change (once the application
has redrawn, ``SETTLE``) and every ``INTERVAL`` seconds besides, keeping the
last few frames.  A
click's anchors are cut from the newest frame taken before its press.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Image

logger = logging.getLogger(__name__)

SETTLE = 0.15
INTERVAL = 0.25
KEEP = 6


@dataclass(frozen=True)
class Frame:
    time: float  # monotonic, when the grab finished
    image: Image  # BGRA, the whole virtual desktop
    origin: tuple[int, int]  # virtual-desktop position of the image's top-left pixel


def grab_screen() -> Frame:
    from automation.blocks.desktop.display import grab_raw

    image, box = grab_raw(None)
    return Frame(time.monotonic(), image.copy(), (box.x, box.y))


class FrameKeeper:
    def __init__(
        self,
        grab: Callable[[], Frame] = grab_screen,
        *,
        settle: float = SETTLE,
        interval: float = INTERVAL,
    ) -> None:
        self.grab = grab
        self.settle = settle
        self.interval = interval
        self._frames: deque[Frame] = deque(maxlen=KEEP)
        self._lock = threading.Condition()
        self._due: float | None = None
        self._last_try = 0.0
        self._failures = 0
        self._stop = False
        self._thread = threading.Thread(target=self._main, name="frames", daemon=True)

    def start(self) -> None:
        """Take a first frame (its error, such as no display, is raised) and go on in a thread."""
        first = self.grab()
        with self._lock:
            self._frames.append(first)
            self._last_try = first.time
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        self._thread.join(5.0)

    def event_seen(self, at: float) -> None:
        """Input arrived or windows changed: grab again once the application has redrawn."""
        with self._lock:
            due = at + self.settle
            if self._due is None or due > self._due:
                self._due = due
            self._lock.notify_all()

    def before(self, moment: float) -> Frame | None:
        """The newest frame taken before ``moment``."""
        with self._lock:
            earlier = [f for f in self._frames if f.time < moment]
            return earlier[-1] if earlier else None

    def wait_fresh(self, after: float, timeout: float) -> bool:
        """Wait until a frame newer than ``after`` exists (tests and callers pace on this)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self._frames and self._frames[-1].time > after):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def _take(self) -> None:
        try:
            frame = self.grab()
        except Exception as exc:  # a failed grab leaves the older frames; said once per streak
            if not self._failures:
                logger.warning("screen grab while recording failed: %s", exc)
            self._failures += 1
            return
        self._failures = 0
        with self._lock:
            self._frames.append(frame)
            self._lock.notify_all()

    def _main(self) -> None:
        while True:
            with self._lock:
                if self._stop:
                    return
                now = time.monotonic()
                wake = self._last_try + self.interval
                if self._due is not None:
                    wake = min(wake, self._due)
                if wake > now:
                    self._lock.wait(wake - now)
                    continue
                if self._due is not None and self._due <= now:
                    self._due = None
                self._last_try = now
            self._take()
