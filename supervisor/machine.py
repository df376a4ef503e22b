"""Who this supervisor is in a fleet: a stable id per Deskpilot home, and its machine's name.

The id is made once and kept in the data folder (``supervisor-id``), so a
supervisor that restarts is the same row of the ``supervisors`` table and
finds its own runs.  The host is ``socket.gethostname()`` unless
``DESKPILOT_HOST`` names it: runs that need a desktop are routed by it, and
tests run several "machines" on one box by giving each its own.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path

HOST_VARIABLE = "DESKPILOT_HOST"
ID_FILE = "supervisor-id"
_ID = re.compile(r"^[0-9a-f]{32}$")


def machine_host(environ: Mapping[str, str] = os.environ) -> str:
    """This machine's name in the fleet: ``DESKPILOT_HOST``, else the host name."""
    name = environ.get(HOST_VARIABLE, "").strip() or socket.gethostname()
    if len(name) > 255:
        raise ValueError(f"{HOST_VARIABLE} is at most 255 characters, got {len(name)}")
    return name


def supervisor_id(data_dir: Path) -> str:
    """The id kept in ``data_dir/supervisor-id``, made (32 hex digits) on first use.

    Written with ``O_EXCL``: two processes starting in the same home at once
    agree on the first one written.  A damaged file is replaced, with a new id.
    """
    path = data_dir / ID_FILE
    for _attempt in range(3):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError):
            text = "unreadable"
        if _ID.match(text):
            return text
        if text:
            path.unlink(missing_ok=True)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = uuid.uuid4().hex
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process wrote it first: read theirs
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(new + "\n")
        return new
    raise OSError(f"cannot make a supervisor id in {path}")
