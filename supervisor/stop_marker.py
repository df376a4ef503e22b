"""Remembering that a person stopped the supervisor, so nothing starts it behind their back.

The window starts a supervisor that is not running, because a user who opens
Deskpilot expects schedules to run.  But a user who just ran ``deskpilot
supervisor stop`` (to free the desktop, to upgrade, to look at the database)
meant it: the window must offer to start it, not do so by itself.  ``stop``
leaves a small file in the state folder saying who stopped it and when; any
supervisor that starts removes it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

#: In the state folder.
MARKER = "stopped-by-user"


def mark_stopped(state_dir: Path, by: str) -> None:
    """Record that ``by`` (e.g. "deskpilot supervisor stop") stopped the supervisor now."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    (state_dir / MARKER).write_text(f"{by} at {stamp}\n", encoding="utf-8")


def clear_stopped(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / MARKER).unlink()


def stopped_by_user(state_dir: Path) -> str | None:
    """Who stopped the supervisor and when ("deskpilot supervisor stop at ..."), or None."""
    try:
        return (state_dir / MARKER).read_text(encoding="utf-8").strip() or "a user"
    except OSError:
        return None
