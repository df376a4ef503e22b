"""The API token file: made once, readable by the user only, refused when it is not.

The token is a random string in ``<config_dir>/api-token``, readable by the
user only.  It is made once and kept, so clients that cached it keep working
across restarts.

A token file that other users could read is refused, not repaired: its token
may already have been copied, and tightening the mode would keep a leaked
credential valid.  The message tells the user to delete the file, which
rotates the token on the next start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from supervisor.errors import SupervisorError

TOKEN_FILE = "api-token"
SOCKET_NAME = "api.sock"
_MIN_TOKEN_LENGTH = 32


class TokenFileError(SupervisorError):
    """The API token file is missing, unsafe or damaged."""


def token_path(config_dir: Path) -> Path:
    return config_dir / TOKEN_FILE


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def ensure_token(path: Path) -> str:
    """The token in ``path``, made (0600, atomically) if there is none yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        token = secrets.token_urlsafe(32)
        draft = path.with_name(f".{path.name}.{os.getpid()}.new")
        draft.unlink(missing_ok=True)
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (token + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() never replaces: if another process made the file meanwhile, theirs wins.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return read_token(path)


def read_token(path: Path) -> str:
    """Read the token, refusing a file other users could read or replace."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise TokenFileError(
            f"no API token at {path}: the supervisor makes it when it first starts; "
            "start it with 'deskpilot supervisor start'"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(
            f"the API token {path} is not a regular file; delete it and start again"
        )
    if os.name == "posix":
        if info.st_uid != os.getuid():
            raise TokenFileError(
                f"the API token {path} belongs to another user (uid {info.st_uid}); "
                "delete it so a new one is made for you"
            )
        if info.st_mode & 0o077:
            raise TokenFileError(
                f"the API token {path} can be read by other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}), so it may have leaked; delete the file "
                "and start the supervisor again to get a new token "
                "(or, if you are sure nobody read it, run 'chmod 600' on it)"
            )
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read the API token {path}: {exc}") from None
    if len(token) < _MIN_TOKEN_LENGTH:
        raise TokenFileError(
            f"the API token {path} is damaged (too short); delete it and start the supervisor again"
        )
    return token
