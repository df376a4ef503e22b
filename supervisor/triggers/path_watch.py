"""inotify on the folders of one path, for their own renames, deletions and unmounts only.

A watched folder is lost without any event in it when it, or a folder above
it, is renamed away.  Watching each folder above for changes among its
entries (what watchdog offers) would wake the process for every file
deleted or moved in the home folder or ``/tmp``; inotify's ``IN_MOVE_SELF``,
``IN_DELETE_SELF`` and ``IN_UNMOUNT`` on each folder of the path fire only
when that folder itself goes, which is all a folder watch needs to know.
watchdog does not report ``IN_MOVE_SELF``, so this asks the kernel directly
(``libc`` through ctypes) on one descriptor read by the asyncio loop: no
thread, and no wake-up unless the path changes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_UNMOUNT = 0x00002000
_IN_ONLYDIR = 0x01000000
#: What each folder of the path is watched for: itself going (and nothing among its entries).
_MASK = _IN_MOVE_SELF | _IN_DELETE_SELF | _IN_UNMOUNT | _IN_ONLYDIR
#: The inotify limits: a watch past them cannot be had at all (the caller polls instead).
LIMITS = (errno.ENOSPC, errno.EMFILE, errno.ENFILE)


@functools.cache
def _libc() -> Any:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return libc


def _failed(doing: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{doing}: {os.strerror(code)}")


class PathWatch:
    """Calls ``on_change()`` on the loop when any of ``folders`` is renamed, deleted or unmounted.

    Raises ``OSError`` when inotify cannot be had (an errno in ``LIMITS``, or
    no inotify at all).  A folder that refuses a watch (unreadable) is listed
    in ``blind``: a change to it goes unseen, and the caller checks for it.
    """

    def __init__(
        self,
        folders: Sequence[Path],
        *,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[], None],
    ) -> None:
        libc = _libc()
        descriptor = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if descriptor < 0:
            raise _failed("inotify_init1")
        self.blind: list[str] = []
        try:
            for folder in folders:
                if libc.inotify_add_watch(descriptor, os.fsencode(folder), _MASK) < 0:
                    error = _failed(f"watching {folder}")
                    if error.errno in LIMITS:
                        raise error
                    self.blind.append(f"{folder} ({os.strerror(error.errno or 0)})")
            loop.add_reader(descriptor, self._read)
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor: int | None = descriptor
        self._loop = loop
        self._on_change = on_change

    def _read(self) -> None:
        descriptor = self._descriptor
        if descriptor is None:
            return
        try:
            while os.read(descriptor, 4096):  # the events say nothing the caller does not look up
                pass
        except BlockingIOError:
            pass
        except OSError:
            self.close()
        self._on_change()

    def close(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            self._loop.remove_reader(descriptor)
            os.close(descriptor)
