"""Whether the history file is still the one the store opened: deleted or replaced under it.

SQLite keeps writing through its open file descriptors after the file is
deleted or another file is moved over its path: every commit then succeeds
into a file nobody will ever open again, and a restart finds none of it.  So
the store remembers the file's identity (device and inode) when it opens it
and compares it before each write (each commit batch of the recorder, each
status change): a change makes the write fail with ``DatabaseGone``, and what
was not written stays in memory (the recorder's backlog) until the same file
is back or the supervisor stops and saves it to a recovery file
(``supervisor.store.recovery``).

The check is one ``stat`` (microseconds), cheap enough for every batch and
for ``/health``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from supervisor.store.errors import DatabaseGone

#: What a user does about it; the supervisor's stop writes the recovery file.
_WHAT_TO_DO = (
    "Runs in progress keep what they produce in memory. Put the file back, or stop the "
    "supervisor ('deskpilot supervisor stop') and start it again: the stop saves everything "
    "not yet written to a recovery file beside the database, and the next start imports it."
)


@dataclass(frozen=True)
class FileIdentity:
    """A SQLite file's path and the (device, inode) it had when the store opened it."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        info = os.stat(path)
        return cls(path=path, device=info.st_dev, inode=info.st_ino)

    def problem(self) -> str | None:
        """None while the path still names the opened file; else what happened to it."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return f"The history database {self.path} was deleted while Deskpilot was using it."
        except OSError as exc:
            return f"The history database {self.path} cannot be checked: {exc.strerror}."
        if (info.st_dev, info.st_ino) != (self.device, self.inode):
            return (
                f"The history database {self.path} was replaced by another file while "
                "Deskpilot was using it; nothing is written into the new file."
            )
        return None

    def check(self) -> None:
        """Raise ``DatabaseGone`` (saying what to do) if the file is not the opened one."""
        problem = self.problem()
        if problem is not None:
            raise DatabaseGone(f"{problem} {_WHAT_TO_DO}")
