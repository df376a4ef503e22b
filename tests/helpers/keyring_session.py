"""A real, private, headless keyring for the tests: D-Bus session bus + gnome-keyring.

``real_keyring`` (session scope) starts a private ``dbus-daemon`` and a
``gnome-keyring-daemon`` serving ``org.freedesktop.secrets`` on it, in a
temporary HOME, with the login collection created and unlocked from a
password on stdin.  DISPLAY is removed from the daemons' environment: a
keyring that wants to prompt on Xvfb would wait forever for a click.  While
the session lasts, the test process itself has ``DBUS_SESSION_BUS_ADDRESS``
and ``PYTHON_KEYRING_BACKEND`` pointing at it; ``real_keyring.env`` is the
environment to hand to subprocesses.

``secret_store`` (function scope) is a ``KeyringSecretStore`` on that keyring
with a service name of its own, so tests never see each other's secrets; it
also sets ``DESKPILOT_KEYRING_SERVICE`` so code using
``secret_store_from_env()`` (the CLI) lands in the same place.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends.SecretService import Keyring as SecretServiceKeyring
from keyring.errors import PasswordDeleteError

from automation.secrets import INDEX_ENTRY, SERVICE_ENV, KeyringSecretStore, hardened_backend

BACKEND = "keyring.backends.SecretService.Keyring"
SECRETS_BUS_NAME = "org.freedesktop.secrets"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_PASSWORD = b"deskpilot-test-keyring"
_APT_HINT = "install them with: apt-get install -y dbus gnome-keyring"


@dataclass(frozen=True)
class RealKeyring:
    """What tests need to reach the private keyring."""

    bus_address: str
    #: full environment for subprocesses that should use this keyring
    env: dict[str, str]
    #: process ids of the private "dbus-daemon" and "gnome-keyring-daemon"
    daemon_pids: dict[str, int]
    #: the keyring daemon's output file, for saying why it went away
    log_path: Path | None = None
    backend_name: str = BACKEND

    def daemons_gone(self) -> str:
        """Which daemons have exited, with the keyring's last words; empty if both run."""
        gone = [name for name, pid in self.daemon_pids.items() if not _alive(pid)]
        if not gone:
            return ""
        said = ""
        if self.log_path is not None and self.log_path.exists():
            said = self.log_path.read_text(errors="replace")[-2000:]
        return f"{', '.join(gone)} exited; gnome-keyring said:\n{said}"

    def backend(self) -> KeyringBackend:
        """A fresh SecretService backend (as the product uses it); it reads the bus address
        at each call."""
        return hardened_backend(SecretServiceKeyring())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def require_keyring_programs() -> None:
    """Fail, not skip: a keyring test that silently does not run proves nothing."""
    missing = [
        p for p in ("dbus-daemon", "dbus-send", "gnome-keyring-daemon") if not shutil.which(p)
    ]
    if missing:
        pytest.fail(
            f"the keyring tests need {', '.join(missing)} (not found on PATH); {_APT_HINT}",
            pytrace=False,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _read_bus_address(bus: subprocess.Popen[bytes]) -> str:
    """First line dbus-daemon prints with --print-address, read with a deadline."""
    assert bus.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(bus.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(
                    f"dbus-daemon printed no address within {START_TIMEOUT}s", pytrace=False
                )
            if selector.select(timeout=remaining):
                chunk = os.read(bus.stdout.fileno(), 4096)
                if not chunk:
                    pytest.fail(
                        f"dbus-daemon exited with code {bus.wait()} before printing its address",
                        pytrace=False,
                    )
                buffer += chunk
    return buffer.split(b"\n", 1)[0].decode().strip()


def _has_owner(env: dict[str, str], name: str) -> bool:
    result = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
        check=False,
    )
    return result.returncode == 0 and "boolean true" in result.stdout


def _wait_for_secrets_service(
    env: dict[str, str], daemon: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _has_owner(env, SECRETS_BUS_NAME):
        if daemon.poll() is not None:
            pytest.fail(
                f"gnome-keyring-daemon exited with code {daemon.returncode}; its output:\n"
                + log_path.read_text(errors="replace"),
                pytrace=False,
            )
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{SECRETS_BUS_NAME} got no owner within {START_TIMEOUT}s; gnome-keyring said:\n"
                + log_path.read_text(errors="replace"),
                pytrace=False,
            )
        time.sleep(0.01)  # polling interval, bounded by the deadline above


@contextlib.contextmanager
def _private_keyring() -> Iterator[RealKeyring]:
    require_keyring_programs()
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dp-keyring-")))
        dirs = {name: root / name for name in ("home", "runtime", "data", "config")}
        for path in dirs.values():
            path.mkdir(mode=0o700)
        daemon_env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XAUTHORITY"}
        }
        daemon_env.update(
            HOME=str(dirs["home"]),
            XDG_RUNTIME_DIR=str(dirs["runtime"]),
            XDG_DATA_HOME=str(dirs["data"]),
            XDG_CONFIG_HOME=str(dirs["config"]),
        )
        # dbus-daemon complains on stderr about fd limits it may not raise: keep that out
        # of the test output, in a file next to the daemons
        bus_log = stack.enter_context((root / "dbus-daemon.log").open("wb"))
        bus = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--print-address=1",
                f"--address=unix:path={dirs['runtime'] / 'bus'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=bus_log,
            env=daemon_env,
        )
        stack.callback(lambda: bus.stdout.close() if bus.stdout else None)
        stack.callback(_stop, bus)
        address = _read_bus_address(bus)
        daemon_env["DBUS_SESSION_BUS_ADDRESS"] = address

        log_path = root / "gnome-keyring.log"
        log_file = stack.enter_context(log_path.open("wb"))
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=daemon_env,
        )
        stack.callback(_stop, daemon)
        assert daemon.stdin is not None
        # --unlock reads the password up to EOF: the login collection is created unlocked
        daemon.stdin.write(_PASSWORD)
        daemon.stdin.close()
        _wait_for_secrets_service(daemon_env, daemon, log_path)

        client_env = dict(os.environ)
        client_env.update(DBUS_SESSION_BUS_ADDRESS=address, PYTHON_KEYRING_BACKEND=BACKEND)
        yield RealKeyring(
            bus_address=address,
            env=client_env,
            daemon_pids={"dbus-daemon": bus.pid, "gnome-keyring-daemon": daemon.pid},
            log_path=log_path,
        )


@pytest.fixture(scope="session")
def real_keyring() -> Iterator[RealKeyring]:
    """A private gnome-keyring for the whole session; the test process is pointed at it."""
    with _private_keyring() as keyring_info, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBUS_SESSION_BUS_ADDRESS", keyring_info.bus_address)
        patch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)
        yield keyring_info


@pytest.fixture
def secret_store(
    real_keyring: RealKeyring, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KeyringSecretStore]:
    """A ``KeyringSecretStore`` on the real keyring with a service name no other test uses."""
    service = f"deskpilot-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv(SERVICE_ENV, service)
    backend = real_keyring.backend()
    store = KeyringSecretStore(service=service, keyring_backend=backend)
    yield store
    try:
        for name in store.names():
            store.delete(name)
        with contextlib.suppress(PasswordDeleteError):  # the index may never have been written
            backend.delete_password(service, INDEX_ENTRY)
    except Exception as exc:
        # Seen once under heavy load: the keyring daemon left the bus.  Say so, with its
        # output, instead of leaving only the D-Bus client's "recipient disconnected".
        gone = real_keyring.daemons_gone()
        if gone:
            raise AssertionError(f"the test keyring went away: {gone}") from exc
        raise
