"""``FolderWatch``: inotify where it works, nothing polled; polling where it cannot see or watch.

Real folders, the real inotify and polling observers.  The inotify cases
give the watch a poll interval of an hour: what they see, inotify told them.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from watchdog.observers.api import BaseObserver

from supervisor.triggers.files import FolderWatch, _native_observer, filesystem_type
from supervisor.triggers.path_watch import PathWatch

AN_HOUR = 3600.0


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within the deadline")
        await asyncio.sleep(0.01)


class Seen:
    """What the watch reported: file events and re-armings."""

    def __init__(self) -> None:
        self.files: list[tuple[str, Path]] = []
        self.rearmed = 0

    def on_file(self, kind: str, src: Path, dest: Path | None) -> None:
        self.files.append((kind, dest or src))

    def on_rearmed(self) -> None:
        self.rearmed += 1

    def saw(self, path: Path) -> bool:
        return any(seen == path for _kind, seen in self.files)


def watching(
    folder: Path, body: Callable[[FolderWatch, Seen], Awaitable[None]], **options: Any
) -> None:
    async def main() -> None:
        seen = Seen()
        watch = FolderWatch(
            folder,
            loop=asyncio.get_running_loop(),
            on_file=seen.on_file,
            on_rearmed=seen.on_rearmed,
            **options,
        )
        watch.start()
        try:
            await body(watch, seen)
        finally:
            await watch.stop()

    asyncio.run(main())


def test_inotify_sees_the_folder_and_the_folders_above_it_go_and_come_back(
    tmp_path: Path,
) -> None:
    top = tmp_path / "top"
    folder = top / "inbox"
    folder.mkdir(parents=True)

    async def body(watch: FolderWatch, seen: Seen) -> None:
        assert (watch.method, watch.fallback, watch.state) == ("inotify", None, "armed")
        assert watch._poll is None  # no timer: an idle watch never wakes
        # One watchdog watch, the folder's: files come and go in the folders above (the home
        # folder, /tmp) without waking anything; their own renames reach the path watch.
        assert watch._observer is not None and len(watch._observer.emitters) == 1
        (top / "beside").mkdir()
        (top / "beside").rmdir()
        (folder / "a.txt").write_text("a")
        await until(lambda: seen.saw(folder / "a.txt"))

        folder.rename(top / "elsewhere")  # the folder itself renamed away: no event of its own
        await until(lambda: watch.state == "waiting")
        (top / "elsewhere").rename(folder)
        await until(lambda: watch.state == "armed" and seen.rearmed == 1)

        top.rename(tmp_path / "moved-top")  # a folder above it renamed away
        await until(lambda: watch.state == "waiting")
        (tmp_path / "moved-top").rename(top)
        await until(lambda: watch.state == "armed" and seen.rearmed == 2)
        (folder / "b.txt").write_text("b")
        await until(lambda: seen.saw(folder / "b.txt"))
        assert watch._poll is None

    watching(folder, body, poll_interval=AN_HOUR)


def test_inotify_waits_for_a_missing_folder_without_polling(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet"

    async def body(watch: FolderWatch, seen: Seen) -> None:
        assert watch.state == "waiting" and watch._poll is None
        folder.mkdir(parents=True)
        await until(lambda: watch.state == "armed")
        (folder / "c.txt").write_text("c")
        await until(lambda: seen.saw(folder / "c.txt"))

    watching(folder, body, poll_interval=AN_HOUR)


def out_of_watches() -> BaseObserver:
    """The native observer of a user whose inotify watches are all taken."""
    observer = _native_observer()

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    observer.schedule = refuse  # type: ignore[method-assign]
    return observer


def test_a_watch_past_the_inotify_limits_polls_instead(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()

    async def body(watch: FolderWatch, seen: Seen) -> None:
        assert watch.method == "polling" and "inotify limits" in (watch.fallback or "")
        assert watch.state == "armed" and watch.problem is None
        assert watch._poll is not None
        (folder / "d.txt").write_text("d")
        await until(lambda: seen.saw(folder / "d.txt"))
        folder.rename(tmp_path / "gone")  # the poll notices it
        await until(lambda: watch.state == "waiting")

    watching(folder, body, poll_interval=0.05, observer=out_of_watches)


def test_a_folder_above_that_cannot_be_watched_is_checked_by_the_poll(tmp_path: Path) -> None:
    top = tmp_path / "locked"
    folder = top / "inbox"
    folder.mkdir(parents=True)

    def unreadable_top(
        folders: list[Path], *, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]
    ) -> PathWatch:
        watch = PathWatch([f for f in folders if f != top], loop=loop, on_change=on_change)
        watch.blind.append(f"{top} (Permission denied)")
        return watch

    async def body(watch: FolderWatch, seen: Seen) -> None:
        assert (watch.method, watch.state, watch.problem) == ("inotify", "armed", None)
        assert watch._poll is not None  # standing in for the folder it cannot watch
        (folder / "f.txt").write_text("f")
        await until(lambda: seen.saw(folder / "f.txt"))
        top.rename(tmp_path / "moved")  # only the check can see this one
        await until(lambda: watch.state == "waiting")

    watching(folder, body, poll_interval=0.05, path_watch=unreadable_top)


def test_a_folder_on_a_network_filesystem_is_polled(tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    asked: list[Path] = []

    def nfs(path: Path) -> str:
        asked.append(path)
        return "nfs4"

    async def body(watch: FolderWatch, seen: Seen) -> None:
        assert watch.method == "polling" and "network filesystem (nfs4)" in (watch.fallback or "")
        assert asked == [folder]
        (folder / "e.txt").write_text("e")
        await until(lambda: seen.saw(folder / "e.txt"))

    watching(folder, body, poll_interval=0.05, filesystem=nfs)


def test_the_filesystem_type_is_read_from_the_deepest_mount(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:40 / /mnt/team\\040share rw shared:20 - nfs4 server:/share rw,vers=4.2\n"
        "41 22 0:41 / /mnt/team rw shared:21 - cifs //server/team rw\n"
    )

    assert filesystem_type(Path("/mnt/team share/inbox"), mountinfo) == "nfs4"
    assert filesystem_type(Path("/mnt/team/inbox"), mountinfo) == "cifs"
    assert filesystem_type(Path("/home/me/inbox"), mountinfo) == "ext4"
    assert filesystem_type(Path("/home"), tmp_path / "no-such-file") is None
    assert filesystem_type(tmp_path) is not None  # this machine's own table
