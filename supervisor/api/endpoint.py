"""Where the API listens, and how a client finds it: a Unix socket, or loopback TCP.

On POSIX the API is a Unix socket (``<state_dir>/api.sock``, 0600 in a 0700
folder): only this user can even connect.  Where there are no Unix sockets
(Windows), or when ``DESKPILOT_API_TRANSPORT=tcp`` asks for it (a sandbox
that cannot pass sockets, a debugging proxy), it listens on 127.0.0.1 on a
port the kernel picks and advertises it in ``<state_dir>/api.port`` (0600).

Over TCP any local program can connect, so the bearer token is what keeps
others out, and a client must be sure it sends that token to the supervisor
and not to whatever took the port over after a crash.  The port file
therefore names the supervisor's pid too, and it is only believed while that
pid holds the supervisor's instance lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from supervisor.api.tokenfile import socket_path
from supervisor.errors import SupervisorError
from supervisor.instance_lock import LOCK_FILE, read_lock_holder

if TYPE_CHECKING:
    import httpx

TRANSPORT_VARIABLE = "DESKPILOT_API_TRANSPORT"
PORT_FILE = "api.port"
LOOPBACK = "127.0.0.1"

Transport = Literal["unix", "tcp"]


def chosen_transport(environ: Mapping[str, str]) -> Transport:
    """What the supervisor listens on: ``DESKPILOT_API_TRANSPORT``, else the platform's best."""
    value = environ.get(TRANSPORT_VARIABLE, "").strip().lower()
    if not value:
        return "unix" if hasattr(socket, "AF_UNIX") and os.name == "posix" else "tcp"
    if value == "unix" and not hasattr(socket, "AF_UNIX"):
        raise SupervisorError(
            f"{TRANSPORT_VARIABLE}=unix, but this system has no Unix sockets; use 'tcp'"
        )
    if value not in ("unix", "tcp"):
        raise SupervisorError(
            f"{TRANSPORT_VARIABLE} is '{value}'; use 'unix' or 'tcp' (or leave it unset)"
        )
    return "unix" if value == "unix" else "tcp"


def port_path(state_dir: Path) -> Path:
    return state_dir / PORT_FILE


@dataclass(frozen=True)
class Endpoint:
    """One place a supervisor answers: a socket path, or a loopback port."""

    transport: Transport
    path: Path | None = None
    port: int | None = None

    def __str__(self) -> str:
        return str(self.path) if self.transport == "unix" else f"{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        return "http://deskpilot" if self.transport == "unix" else f"http://{LOOPBACK}:{self.port}"

    def http_transport(self) -> httpx.HTTPTransport:
        import httpx  # only clients need it: the server does not carry httpx's 6 MB

        if self.transport == "unix":
            return httpx.HTTPTransport(uds=str(self.path))
        return httpx.HTTPTransport()

    def answers(self, timeout: float = 1.0) -> bool:
        """Whether something accepts connections here (no request is sent)."""
        if self.transport == "unix":
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = str(self.path)
        else:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (LOOPBACK, self.port or 0)
        probe.settimeout(timeout)
        try:
            probe.connect(address)
        except OSError:
            return False
        finally:
            probe.close()
        return True


def locate(state_dir: Path) -> Endpoint | None:
    """The running supervisor's endpoint, or None when none is advertised.

    A socket is taken as it is (its 0600 mode is the check); a port file only
    while the pid it names holds the instance lock.
    """
    path = socket_path(state_dir)
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            return Endpoint("unix", path=path)
    advertised = read_port_file(port_path(state_dir))
    if advertised is None:
        return None
    port, pid = advertised
    if read_lock_holder(state_dir / LOCK_FILE) != pid:
        return None  # left by a supervisor that died: the port may belong to anyone now
    return Endpoint("tcp", port=port)


def describe_missing(state_dir: Path) -> str:
    """Where a client looked, for 'the supervisor is not running' messages."""
    return f"no socket at {socket_path(state_dir)} and no live {port_path(state_dir)}"


def write_port_file(path: Path, port: int) -> None:
    """Advertise ``port`` for this process, atomically, readable by the user only."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.unlink(missing_ok=True)
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, json.dumps({"port": port, "pid": os.getpid()}).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(draft, path)


def read_port_file(path: Path) -> tuple[int, int] | None:
    """(port, pid) from a port file this user owns; None if absent, foreign or damaged."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            return None
        if os.name == "posix" and (info.st_uid != os.getuid() or info.st_mode & 0o022):
            return None  # another user could have written it: do not send them the token
        data = json.loads(path.read_text(encoding="ascii"))
        port, pid = int(data["port"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (port, pid) if 0 < port < 65536 else None


def remove_port_file_if_ours(path: Path) -> None:
    advertised = read_port_file(path)
    if advertised is not None and advertised[1] == os.getpid():
        path.unlink(missing_ok=True)
