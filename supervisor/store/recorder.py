"""Record engine events in the history from one writer thread, committing in groups.

``Recorder`` is an ``EventSink``: calling it only appends the event to a
queue, so a step rarely waits for the disk.  The writer thread takes whatever
has queued up (at most ``MAX_BATCH`` events) and commits it in one
transaction: while the disk is busy events pile up and the next commit takes
them all.  Two bounds keep that honest.  A batch smaller than ``MIN_BATCH``
lingers up to ``LINGER`` seconds for company, so a fast producer does not
buy a commit every two events; and at most ``MAX_PENDING`` events may wait
uncommitted, after which the producer waits for the writer, so what a
``kill -9`` can lose (events nobody was shown) stays bounded.

``on_committed`` is called with each committed batch, in order, from the
writer thread.  Whatever reports progress to people (the GUI, the API) should
hang off it, so that a step is only shown as finished once it is durable: a
``kill -9`` afterwards cannot lose it.

A failed commit (locked database, full disk) is not dropped: the batch and
everything queued after it stay in memory, in order, ``on_error`` is told,
and the writer retries with a growing delay.  ``flush()`` retries at once
and raises the ``StoreError`` if that fails too, and so does ``close()``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from automation.engine.events import Event
from supervisor.store.errors import ConstraintViolated, StoreError

logger = logging.getLogger(__name__)

#: A commit never holds more events than this; the rest go in the next one.
MAX_BATCH = 500
#: A smaller batch waits up to LINGER seconds for more events before committing.
MIN_BATCH = 64
LINGER = 0.002
#: Events that may wait uncommitted before producers are made to wait.
MAX_PENDING = 2 * MAX_BATCH
#: After a failed commit the writer retries on its own, waiting this long, then twice as
#: long each time up to the maximum; ``flush()`` retries at once.
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0


class EventStore(Protocol):
    """What the recorder needs from a store."""

    def record(self, batch: list[Event]) -> None: ...


class _Flush:
    """A marker in the queue: set once everything queued before it is committed (or not)."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: StoreError | None = None


class _Stop:
    __slots__ = ()


_STOP = _Stop()


class Recorder:
    """An event sink that writes to a store from a single group-committing thread."""

    def __init__(
        self,
        store: EventStore,
        *,
        on_committed: Callable[[list[Event]], None] | None = None,
        on_error: Callable[[StoreError], None] | None = None,
        max_batch: int = MAX_BATCH,
        min_batch: int = MIN_BATCH,
        linger: float = LINGER,
        max_pending: int = MAX_PENDING,
        name: str = "history-writer",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_pending < max_batch:
            raise ValueError(
                f"max_pending ({max_pending}) must be at least max_batch ({max_batch})"
            )
        self._store = store
        self._on_committed = on_committed
        self._on_error = on_error
        self._max_batch = max_batch
        self._min_batch = min(min_batch, max_batch)
        self._linger = linger
        self._slots = threading.Semaphore(max_pending)
        self._queue: queue.SimpleQueue[Event | _Flush | _Stop] = queue.SimpleQueue()
        # Events that failed to commit, plus everything queued behind them.
        self._backlog: list[Event] = []
        self._failure: StoreError | None = None
        self._retry_delay = FIRST_RETRY_DELAY
        self._retry_at = 0.0
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        if self._closed:
            raise StoreError("the history recorder is closed; this event was not recorded")
        self._slots.acquire()  # back-pressure: wait while MAX_PENDING events are uncommitted
        self._queue.put(event)

    @property
    def failure(self) -> StoreError | None:
        """The last commit error still waiting for a successful retry, if any."""
        return self._failure

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event queued before this call is committed.

        Retries a batch that failed earlier.  Raises ``StoreError`` if it
        cannot be committed, and ``TimeoutError`` if ``timeout`` passes first.
        """
        if not self._thread.is_alive():
            if self._failure is not None:
                raise self._failure
            return
        marker = _Flush()
        self._queue.put(marker)
        if not marker.done.wait(timeout):
            raise TimeoutError(f"the history was not written within {timeout} s")
        if marker.error is not None:
            raise marker.error

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the writer thread.  Raises what ``flush`` raises, after stopping."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush(timeout)
        finally:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        limit = self._max_batch
        while True:
            try:
                item = get(timeout=self._until_retry())
            except queue.Empty:
                self._retry()
                continue
            batch: list[Event] = []
            linger_until: float | None = None
            while True:
                if isinstance(item, Event):
                    batch.append(item)
                    if len(batch) >= limit:
                        self._commit(batch)
                        batch = []
                elif isinstance(item, _Flush):
                    if batch:
                        self._commit(batch)
                        batch = []
                    self._retry(now=True)
                    item.error = self._failure
                    item.done.set()
                else:
                    if batch:
                        self._commit(batch)
                    return
                try:
                    item = get_nowait()
                except queue.Empty:
                    if not batch or len(batch) >= self._min_batch:
                        break
                    if linger_until is None:
                        linger_until = time.monotonic() + self._linger
                    left = linger_until - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        item = get(timeout=left)
                    except queue.Empty:
                        break
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[Event]) -> None:
        try:
            self._write(batch)
        finally:
            # committed, or kept in the backlog for a retry: either way no longer pending
            self._slots.release(len(batch))

    def _write(self, batch: list[Event]) -> None:
        if self._failure is not None:
            # Keep the order: nothing is written past a batch that failed.
            self._backlog.extend(batch)
            self._retry()
            return
        try:
            self._store.record(batch)
        except Exception as exc:
            self._backlog.extend(batch)
            self._fail(exc)
            return
        self._committed(batch)

    def _until_retry(self) -> float | None:
        """Seconds until the next retry of a failed commit (None: nothing to retry)."""
        if self._failure is None:
            return None
        return max(0.0, self._retry_at - time.monotonic())

    def _retry(self, *, now: bool = False) -> None:
        """Commit the backlog if a commit failed earlier and a retry is due (or ``now``)."""
        if self._failure is None or (not now and time.monotonic() < self._retry_at):
            return
        backlog, self._backlog = self._backlog, []
        for start in range(0, len(backlog), self._max_batch):
            chunk = backlog[start : start + self._max_batch]
            try:
                self._store.record(chunk)
            except Exception as exc:
                self._backlog = backlog[start:]
                self._fail(exc)
                return
            self._committed(chunk)
        logger.warning("history writes resumed: %d delayed events committed", len(backlog))
        self._failure = None
        self._retry_delay = FIRST_RETRY_DELAY

    def _fail(self, exc: Exception) -> None:
        # A constraint the events break is a bug in what was recorded, not the environment:
        # its traceback goes to the log, as for any other bug.
        if isinstance(exc, StoreError) and not isinstance(exc, ConstraintViolated):
            error = exc
        else:
            logger.exception("recording events in the history failed")
            error = StoreError(f"recording events in the history failed: {exc!r}")
            error.__cause__ = exc
        if self._failure is None:
            logger.error("%s (events are kept in memory and retried)", error)
        self._failure = error
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                logger.exception("the history error callback failed")

    def _committed(self, batch: list[Event]) -> None:
        if self._on_committed is None:
            return
        try:
            self._on_committed(batch)
        except Exception:
            logger.exception("the history commit callback failed")
