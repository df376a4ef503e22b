"""Watching folders with watchdog: file triggers and the workflows folder.

``FolderWatch`` watches one folder with its own watchdog observer (one
thread, one inotify instance; sharing an observer would make removing one
watch remove every handler on that path).  Events reach the asyncio loop
through ``loop.call_soon_threadsafe``; everything else runs on the loop.

A watched folder may disappear (deleted, renamed away, on an unmounted
drive).  inotify then stops reporting, so the watch is re-armed:

* when the folder's own deletion is reported, or a poll every
  ``poll_interval`` seconds finds it missing or replaced by another folder
  (renaming the folder away is not reported as an event), the watch moves to
  the nearest existing parent folder and waits;
* any event in that parent (or the poll) that finds the folder back re-arms
  the watch on it, then calls ``on_rearmed`` so that files that arrived
  together with the folder are not missed: file triggers report each
  existing matching file as ``created``; the catalog rescans.

``Debouncer`` collapses a burst of events on one path (an editor writing a
file in several chunks, a copy in progress) into one call ``delay`` seconds
after the last of them.  A burst's event is ``deleted`` if the file is gone
at the end, else ``created`` if it was created, ``moved`` if it was moved
in, else ``modified``; a file created and deleted within one burst
reports nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from automation.model import FileTrigger

logger = logging.getLogger(__name__)

#: Events worth waking up for; opened/closed-without-writing/attribute changes are noise.
_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
#: Observer threads wait this long for an event before checking whether to stop.
_OBSERVER_TIMEOUT = 0.2

FileCallback = Callable[[str, Path, Path | None], None]


def _path(raw: bytes | str) -> Path:
    return Path(os.fsdecode(raw))


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        stat = folder.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def nearest_existing(folder: Path) -> Path:
    """The folder itself or its closest ancestor that exists."""
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            return candidate
    return Path(folder.anchor or "/")


class _Forward(FileSystemEventHandler):
    """Runs in the observer thread: hand the event to the loop, tagged with its arming."""

    def __init__(self, watch: FolderWatch, generation: int, waiting: bool) -> None:
        self.watch = watch
        self.generation = generation
        self.waiting = waiting

    def on_any_event(self, event: FileSystemEvent) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while we shut down
            self.watch.loop.call_soon_threadsafe(
                self.watch._on_event, self.generation, self.waiting, event
            )


class FolderWatch:
    """Watch ``folder`` for file events; survive it being deleted and created again."""

    def __init__(
        self,
        folder: Path,
        *,
        loop: asyncio.AbstractEventLoop,
        on_file: FileCallback,
        recursive: bool = False,
        on_rearmed: Callable[[], None] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.folder = folder
        self.loop = loop
        self.on_file = on_file
        self.recursive = recursive
        self.on_rearmed = on_rearmed
        self.poll_interval = poll_interval
        #: "armed" (watching the folder), "waiting" (folder missing) or "stopped".
        self.state = "stopped"
        #: Why the folder is not being watched, for the triggers list.
        self.problem: str | None = None
        self._observer: BaseObserver | None = None
        self._generation = 0
        self._identity: tuple[int, int] | None = None
        self._waiting_on: Path | None = None
        self._poll: asyncio.TimerHandle | None = None

    def start(self) -> None:
        observer = Observer(timeout=_OBSERVER_TIMEOUT)
        observer.daemon = True
        observer.name = f"watch {self.folder}"
        observer.start()
        self._observer = observer
        self._arm(announce=False)
        self._schedule_poll()

    async def stop(self) -> None:
        self.state = "stopped"
        self._generation += 1
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            await asyncio.to_thread(observer.join, 5)

    # -- arming ----------------------------------------------------------------------------
    def _arm(self, *, announce: bool = True) -> None:
        observer = self._observer
        if observer is None:
            return
        for _ in range(3):  # the folder may come and go while we look; do not chase it forever
            self._generation += 1
            observer.unschedule_all()
            if self.folder.is_dir():
                try:
                    observer.schedule(
                        _Forward(self, self._generation, waiting=False),
                        str(self.folder),
                        recursive=self.recursive,
                        event_filter=_EVENT_FILTER,
                    )
                except OSError as exc:
                    self._wait(f"cannot watch {self.folder}: {exc.strerror or exc}")
                    return
                was_waiting = self.state == "waiting"
                self.state = "armed"
                self.problem = None
                self._identity = _identity(self.folder)
                self._waiting_on = None
                if was_waiting:
                    logger.info("watching %s again", self.folder)
                if was_waiting and announce and self.on_rearmed is not None:
                    self.on_rearmed()
                return
            parent = nearest_existing(self.folder)
            try:
                observer.schedule(
                    _Forward(self, self._generation, waiting=True),
                    str(parent),
                    recursive=False,
                    event_filter=[DirCreatedEvent, DirMovedEvent],
                )
            except OSError as exc:
                logger.debug("cannot watch %s for %s to appear: %s", parent, self.folder, exc)
            self._waiting_on = parent
            if self.folder.is_dir():
                continue  # created between the check and the watch: arm on it
            self._wait(f"folder {self.folder} does not exist; waiting for it to be created")
            return

    def _wait(self, problem: str) -> None:
        if self.state != "waiting" or self.problem != problem:
            logger.warning("%s", problem)
        self.state = "waiting"
        self.problem = problem

    def _schedule_poll(self) -> None:
        self._poll = self.loop.call_later(self.poll_interval, self._check)

    def _check(self) -> None:
        """The backstop: a folder renamed away or replaced is not always reported."""
        if self.state == "stopped":
            return
        if self.state == "armed":
            if _identity(self.folder) != self._identity:
                self._arm()
        elif self.folder.is_dir() or nearest_existing(self.folder) != self._waiting_on:
            self._arm()
        self._schedule_poll()

    # -- events (on the loop) --------------------------------------------------------------
    def _on_event(self, generation: int, waiting: bool, event: FileSystemEvent) -> None:
        if generation != self._generation or self.state == "stopped":
            return
        if waiting:
            if self.folder.is_dir() or nearest_existing(self.folder) != self._waiting_on:
                self._arm()
            return
        src = _path(event.src_path)
        if event.is_directory:
            if src == self.folder and event.event_type in ("deleted", "moved"):
                self._arm()
            return
        dest = _path(event.dest_path) if event.dest_path else None
        kind = "modified" if event.event_type == "closed" else event.event_type
        self.on_file(kind, src, dest)


@dataclass
class _Burst:
    kinds: list[str] = field(default_factory=list)
    handle: asyncio.TimerHandle | None = None


def burst_event(kinds: list[str], exists: bool) -> str | None:
    """The one event a burst of events on one path amounts to (None: nothing happened)."""
    if not kinds:
        return None
    if not exists and kinds[-1] == "deleted":
        return None if "created" in kinds else "deleted"
    if "created" in kinds:
        return "created"
    if "moved" in kinds:
        return "moved"
    if kinds[-1] == "deleted":
        return "deleted"
    return "modified"


class Debouncer:
    """Calls ``settled(path, kinds)`` once per path, ``delay`` seconds after its last event."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        settled: Callable[[Path, list[str]], None],
    ) -> None:
        self.loop = loop
        self.delay = delay
        self.settled = settled
        self._pending: dict[Path, _Burst] = {}

    def add(self, path: Path, kind: str) -> None:
        burst = self._pending.setdefault(path, _Burst())
        burst.kinds.append(kind)
        if burst.handle is not None:
            burst.handle.cancel()
        burst.handle = self.loop.call_later(self.delay, self._flush, path)

    def _flush(self, path: Path) -> None:
        burst = self._pending.pop(path, None)
        if burst is not None:
            self.settled(path, burst.kinds)

    def cancel(self) -> None:
        for burst in self._pending.values():
            if burst.handle is not None:
                burst.handle.cancel()
        self._pending.clear()


def resolve_folder(trigger: FileTrigger, workflow_dir: Path) -> Path:
    """The watched folder: ``~`` and ``$VARS`` expanded, relative to the workflow file."""
    folder = Path(os.path.expandvars(trigger.path)).expanduser()
    if not folder.is_absolute():
        folder = workflow_dir / folder
    return Path(os.path.normpath(folder))


class FileTriggerWatch:
    """One file trigger: a folder watch, its glob, its events and its debounce.

    ``fire(event, path)`` is called on the loop once per settled burst whose
    event is one the trigger listens for.  The glob is matched against the
    file's name only (``fnmatch``: ``*.csv``, ``report-??.txt``), in
    subfolders too when ``recursive``.
    """

    def __init__(
        self,
        trigger: FileTrigger,
        folder: Path,
        *,
        loop: asyncio.AbstractEventLoop,
        fire: Callable[[str, Path], None],
        poll_interval: float = 1.0,
    ) -> None:
        self.trigger = trigger
        self.folder = folder
        self.fire = fire
        self.debouncer = Debouncer(loop, trigger.debounce, self._settled)
        self.watch = FolderWatch(
            folder,
            loop=loop,
            on_file=self._on_file,
            recursive=trigger.recursive,
            on_rearmed=self._replay,
            poll_interval=poll_interval,
        )

    @property
    def problem(self) -> str | None:
        return self.watch.problem

    def start(self) -> None:
        self.watch.start()

    async def stop(self) -> None:
        self.debouncer.cancel()
        await self.watch.stop()

    def matches(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, self.trigger.glob)

    def _on_file(self, kind: str, src: Path, dest: Path | None) -> None:
        if kind == "moved" and dest is not None:
            inside = dest.parent == self.folder or self.trigger.recursive
            if inside and (self.matches(dest) or self.matches(src)):
                self.debouncer.add(dest, kind)
            return
        if self.matches(src):
            self.debouncer.add(src, kind)

    def _settled(self, path: Path, kinds: list[str]) -> None:
        event = burst_event(kinds, path.exists())
        if event is not None and event in self.trigger.events:
            self.fire(event, path)

    def _replay(self) -> None:
        """The folder came back: files already in it were created while nobody watched."""
        if "created" not in self.trigger.events:
            return
        for path in self._existing():
            self.debouncer.add(path, "created")

    def _existing(self) -> Iterator[Path]:
        walk = self.folder.rglob("*") if self.trigger.recursive else self.folder.glob("*")
        try:
            for path in walk:
                if path.is_file() and self.matches(path):
                    yield path
        except OSError as exc:
            logger.warning("cannot list %s: %s", self.folder, exc)
