"""Watching folders with watchdog: file triggers and the workflows folder.

``FolderWatch`` watches one folder with its own watchdog observer (one
thread, one inotify instance; sharing an observer would make removing one
watch remove every handler on that path).  Events reach the asyncio loop
through ``loop.call_soon_threadsafe``; everything else runs on the loop.

A watched folder may disappear (deleted, renamed away, on an unmounted
drive).  inotify then stops reporting, so the watch is re-armed:

* when the folder, or any folder above it, is deleted, renamed or
  unmounted (a watch on the folder hears nothing when it or a folder
  above is renamed: ``PathWatch`` watches each folder of the path for
  exactly that, and wakes for nothing else), the watch moves to the
  nearest existing parent folder and waits;
* any event in that parent that finds the folder back re-arms the watch on
  it, then calls ``on_rearmed`` so that files that arrived together with
  the folder are not missed: file triggers report each existing matching
  file as ``created``; the catalog rescans.

Nothing is polled where inotify works: an idle watch costs no wake-ups.
Where it cannot see every change (a network filesystem: NFS, SMB, sshfs,
whose changes made on another machine inotify never hears of) or cannot be
had (the user's inotify watches or instances used up), the watch falls
back to watchdog's polling observer and a check of the folder every
``poll_interval`` seconds, and says so once in the log (``method``,
``fallback``).  A folder above that cannot be watched (unreadable) keeps
the inotify watch on the folder, with the check standing in for the rename
it could hide.

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
from watchdog.observers.polling import PollingObserver

from automation.model import FileTrigger
from supervisor.triggers.path_watch import LIMITS, PathWatch

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
#: What the nearest existing folder is watched for while the folder is missing: the path
#: coming back.
_PATH_BACK: list[type[FileSystemEvent]] = [DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
#: Filesystems whose changes made on another machine inotify never reports (``mountinfo``
#: type names): watched by polling.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.davfs2",
        "fuse.rclone",
        "davfs",
    }
)

FileCallback = Callable[[str, Path, Path | None], None]
ObserverFactory = Callable[[], BaseObserver]


def _native_observer() -> BaseObserver:
    return Observer(timeout=_OBSERVER_TIMEOUT)


def _unescape_mount(field: str) -> str:
    """``/proc/self/mountinfo`` writes a space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The type of the filesystem ``path`` is on (``ext4``, ``nfs4``...); None if unknown."""
    try:
        target = path.resolve()
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except (OSError, RuntimeError):
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        before, sep, after = line.partition(" - ")
        fields = before.split()
        if not sep or len(fields) < 5 or not after.split():
            continue
        mount = Path(_unescape_mount(fields[4]))
        if (target == mount or mount in target.parents) and (
            best is None or len(mount.parts) >= best[0]
        ):
            # The last of equally deep mounts is the one on top.
            best = (len(mount.parts), after.split()[0])
    return None if best is None else best[1]


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
    """Runs in the observer thread: hand the event to the loop, tagged with its arming.

    A ``lookout`` watch (a folder above the watched one) forwards only events
    on the watched path, so that changes elsewhere in a busy folder (the home
    folder, ``/tmp``) never wake the loop.
    """

    def __init__(
        self,
        watch: FolderWatch,
        generation: int,
        waiting: bool,
        on_path: frozenset[str] = frozenset(),
    ) -> None:
        self.watch = watch
        self.generation = generation
        self.waiting = waiting
        self.on_path = on_path

    def on_any_event(self, event: FileSystemEvent) -> None:
        if self.on_path and not (
            os.fsdecode(event.src_path) in self.on_path
            or (event.dest_path and os.fsdecode(event.dest_path) in self.on_path)
        ):
            return
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
        observer: ObserverFactory = _native_observer,
        filesystem: Callable[[Path], str | None] = filesystem_type,
        path_watch: Callable[..., PathWatch] = PathWatch,
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
        #: "inotify" (the native observer; nothing polled) or "polling" (see ``fallback``).
        self.method = "inotify"
        #: Why this folder is polled rather than watched through inotify (None: it is not).
        self.fallback: str | None = None
        self._new_observer = observer
        self._new_path_watch = path_watch
        self._path_watch: PathWatch | None = None
        self._filesystem = filesystem
        self._observer: BaseObserver | None = None
        self._generation = 0
        self._identity: tuple[int, int] | None = None
        self._waiting_on: Path | None = None
        self._poll: asyncio.TimerHandle | None = None
        #: A folder above this one could not be watched (unreadable): the poll stands in.
        self._blind = False

    def start(self) -> None:
        kind = self._filesystem(nearest_existing(self.folder))
        if kind in NETWORK_FILESYSTEMS:
            self._fall_back(f"it is on a network filesystem ({kind})", arm=False)
        else:
            self._observer = self._started(self._new_observer())
        self._arm(announce=False)

    def _started(self, observer: BaseObserver) -> BaseObserver:
        observer.daemon = True
        observer.name = f"watch {self.folder}"
        observer.start()
        return observer

    async def stop(self) -> None:
        self.state = "stopped"
        self._generation += 1
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        if self._path_watch is not None:
            self._path_watch.close()
            self._path_watch = None
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            await asyncio.to_thread(observer.join, 5)

    def _fall_back(self, why: str, *, arm: bool = True) -> None:
        """Poll from now on: inotify cannot see, or cannot watch, this folder (see the module)."""
        logger.warning(
            "watching %s by polling every %g s: %s", self.folder, self.poll_interval, why
        )
        self.method = "polling"
        self.fallback = why
        if self._path_watch is not None:
            self._path_watch.close()
            self._path_watch = None
        old, self._observer = self._observer, None
        if old is not None:
            old.stop()  # not joined: its thread ends on its own, the loop does not wait
        self._observer = self._started(PollingObserver(timeout=self.poll_interval))
        if self._poll is None:
            self._schedule_poll()
        if arm:
            self._arm()

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
                    self._look_out(observer, self.folder, waiting=False)
                except OSError as exc:
                    if self._out_of_inotify(exc):
                        return
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
                self._look_out(observer, parent, waiting=True)
            except OSError as exc:
                if self._out_of_inotify(exc):
                    return
                logger.debug("cannot watch %s for %s to appear: %s", parent, self.folder, exc)
            self._waiting_on = parent
            if self.folder.is_dir():
                continue  # created between the check and the watch: arm on it
            self._wait(f"folder {self.folder} does not exist; waiting for it to be created")
            return

    def _look_out(self, observer: BaseObserver, below: Path, *, waiting: bool) -> None:
        """Watch ``below`` and the folders above it for the watched path going away (they
        are renamed, deleted, unmounted: ``PathWatch``) and, while ``waiting``, ``below``
        (the nearest existing folder) for the next folder of the path coming back.

        A polling observer needs no path watch: the poll checks the path itself.
        """
        if self._path_watch is not None:
            self._path_watch.close()
            self._path_watch = None
        if waiting:  # only what names the watched path reaches the loop (``_Forward``)
            on_path = frozenset(str(p) for p in (self.folder, *self.folder.parents))
            observer.schedule(
                _Forward(self, self._generation, waiting=True, on_path=on_path),
                str(below),
                recursive=False,
                event_filter=_PATH_BACK,
            )
        if self.method == "polling":
            return
        self._path_watch = self._new_path_watch(
            [below, *below.parents], loop=self.loop, on_change=self._look
        )
        blind = self._path_watch.blind
        # A folder that cannot be watched would hide a rename: the poll looks for it.
        if blind and not self._blind:
            logger.info(
                "checking %s every %g s: cannot watch %s",
                self.folder,
                self.poll_interval,
                ", ".join(blind),
            )
        self._blind = bool(blind)
        if self._blind and self._poll is None:
            self._schedule_poll()
        elif not self._blind and self._poll is not None:
            self._poll.cancel()
            self._poll = None

    def _out_of_inotify(self, exc: OSError) -> bool:
        """An inotify limit reached (watches: ENOSPC, instances: EMFILE, ENFILE): poll instead."""
        if self.method == "polling" or exc.errno not in LIMITS:
            return False
        self._fall_back(f"the inotify limits are reached ({exc.strerror or exc})")
        return True

    def _wait(self, problem: str) -> None:
        if self.state != "waiting" or self.problem != problem:
            logger.warning("%s", problem)
        self.state = "waiting"
        self.problem = problem

    def _schedule_poll(self) -> None:
        self._poll = self.loop.call_later(self.poll_interval, self._check)

    def _check(self) -> None:
        """Polling (or a folder above unwatchable): a rename away shows in no event."""
        self._poll = None
        if self.state == "stopped":
            return
        self._look()
        if self._poll is None and (self.method == "polling" or self._blind):
            self._schedule_poll()

    def _look(self) -> None:
        """Re-arm if the folder is gone, replaced, or back (a lookout's event, or the poll)."""
        if self.state == "armed":
            if _identity(self.folder) != self._identity:
                self._arm()
        elif self.folder.is_dir() or nearest_existing(self.folder) != self._waiting_on:
            self._arm()

    # -- events (on the loop) --------------------------------------------------------------
    def _on_event(self, generation: int, waiting: bool, event: FileSystemEvent) -> None:
        if generation != self._generation or self.state == "stopped":
            return
        if waiting:
            self._look()
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
