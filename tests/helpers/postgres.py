"""A throwaway PostgreSQL server for the store tests, started by the test suite itself.

The session fixture runs Debian's ``initdb`` and ``pg_ctl`` (``postgresql``
package, see ``packaging/system-deps.sh``) into a temporary folder, listening
on 127.0.0.1 and a free port, with ``fsync`` off (the tests never survive a
power cut), and stops it when the session ends.  PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` user (``runuser``).
Each test gets a database of its own, created from ``template0``: a fresh
database, as a new installation would point Deskpilot at.

``DESKPILOT_TEST_POSTGRES_URL`` names an existing database to use instead
(wiped before and after each test).

When the binaries are missing, the PostgreSQL variants fail under CI
(``CI`` set) with what to install, and are skipped elsewhere: a developer
without PostgreSQL still runs the SQLite half of the contract.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

POSTGRES_URL_VARIABLE = "DESKPILOT_TEST_POSTGRES_URL"
#: Where Debian's postgresql-NN packages put the server programs; newest first.
BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT = 60.0
SUPERUSER = "postgres"


def find_bin_dir() -> Path | None:
    found = sorted(
        (path for path in Path("/").glob(BIN_GLOB.lstrip("/")) if (path / "pg_ctl").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    return found[0] if found else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing_postgres(reason: str) -> None:
    """Fail (in CI) or skip (elsewhere) a test that needs PostgreSQL."""
    message = (
        f"{reason}: install Debian's postgresql package (packaging/system-deps.sh) "
        f"or set {POSTGRES_URL_VARIABLE} to a database the tests may wipe"
    )
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running cluster: ``new_database()`` gives each caller a fresh, empty database."""

    host: str
    port: int
    data_dir: Path | None = None
    bin_dir: Path | None = None
    as_user: list[str] = field(default_factory=list)
    external_url: str | None = None
    _count: int = 0
    _template: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        if self.external_url is not None:
            wipe(self.external_url)
            return self.external_url
        import psycopg

        self._count += 1
        name = f"deskpilot_test_{os.getpid()}_{self._count}"
        with psycopg.connect(
            f"host={self.host} port={self.port} user={SUPERUSER} dbname=postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')  # type: ignore[arg-type]
        return self.url(name)

    def new_migrated_database(self) -> str:
        """A fresh database already at the schema's head: a copy of one migrated once.

        ``CREATE DATABASE ... TEMPLATE`` copies the template's files, some
        milliseconds, where migrating each database costs a second: for the
        many tests of what a store does, not of how it is migrated
        (``new_database`` stays empty for those).
        """
        if self.external_url is not None:
            return self.new_database()
        if self._template is None:
            from supervisor.store import HistoryStore

            template = self.new_database()
            HistoryStore.open(template).close()  # its engine is disposed: no connection left
            self._template = template.rsplit("/", 1)[1]
        import psycopg

        self._count += 1
        name = f"deskpilot_test_{os.getpid()}_{self._count}"
        with psycopg.connect(
            f"host={self.host} port={self.port} user={SUPERUSER} dbname=postgres",
            autocommit=True,
        ) as connection:
            connection.execute(
                f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'  # type: ignore[arg-type]
            )
        return self.url(name)

    def stop(self) -> None:
        if self.data_dir is None or self.bin_dir is None:
            return
        subprocess.run(
            [
                *self.as_user,
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )


def wipe(url: str) -> None:
    """Drop every Deskpilot table from ``url``'s database (an externally given one)."""
    from sqlalchemy import create_engine, text

    from supervisor.store.schema import metadata

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


def start_server(root: Path) -> PostgresServer:
    """initdb + pg_ctl start into ``root``, as ``postgres`` when we are root."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing_postgres(f"no PostgreSQL server programs under {BIN_GLOB}")
    assert bin_dir is not None
    as_user: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", SUPERUSER, "--"]
        shutil.chown(root, user=SUPERUSER)
    root.chmod(0o700)
    data_dir = root / "data"
    made = subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        raise RuntimeError(
            f"initdb failed in {data_dir} (the folder and its parents must be open to "
            f"{SUPERUSER}): {made.stderr[-2000:]}"
        )
    last_error = ""
    for _attempt in range(3):  # another program may take the free port first
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = subprocess.run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "start",
            ],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 10,
            check=False,
        )
        if result.returncode == 0:
            server = PostgresServer("127.0.0.1", port, data_dir, bin_dir, as_user)
            _wait_ready(server)
            return server
        log = root / "server.log"
        last_error = result.stderr + (
            log.read_text(errors="replace")[-2000:] if log.exists() else ""
        )
    raise RuntimeError(f"PostgreSQL did not start in {root}: {last_error}")


def _wait_ready(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            psycopg.connect(
                f"host={server.host} port={server.port} user={SUPERUSER} dbname=postgres",
                connect_timeout=5,
            ).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def remove_behind(folder: Path) -> None:
    """Delete ``folder`` in a detached, low-priority ``rm``: nobody waits for it.

    A session's test databases add up to gigabytes of small files (each is a
    copy of a template, some 8 MB, plus its WAL); deleting them on a loaded
    machine took minutes.  The cluster is stopped first, so nothing writes
    there any more.  ``sh`` puts ``rm`` in the background and returns at once:
    no child is left for this process to reap or warn about.
    """
    script = '(ionice -c 3 nice -n 19 rm -rf -- "$1" || rm -rf -- "$1") >/dev/null 2>&1 &'
    try:
        subprocess.run(["sh", "-c", script, "sh", str(folder)], timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(folder, ignore_errors=True)


def _discard(server: PostgresServer, root: Path) -> None:
    server.stop()  # -m immediate: no shutdown checkpoint of data about to be deleted
    remove_behind(root)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session (or the one named by the variable).

    The cluster is stopped and its folder removed when pytest ends
    (``config.add_cleanup``), not in this fixture's teardown: a session
    fixture's teardown runs inside the last test's, under its timeout, and
    the time it takes depends on how many databases the session made and on
    the disk, not on that test.
    """
    external = os.environ.get(POSTGRES_URL_VARIABLE)
    if external:
        yield PostgresServer("", 0, external_url=external)
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing_postgres("psycopg is not installed (pip install -e '.[postgres]')")
    root = Path(tempfile.mkdtemp(prefix="deskpilot-pg-"))
    try:
        server = start_server(root)
    except BaseException:
        remove_behind(root)
        raise
    request.config.add_cleanup(functools.partial(_discard, server, root))
    yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.new_database()


@pytest.fixture
def postgres_migrated_url(postgres_server: PostgresServer) -> str:
    """A database already at the schema's head (``new_migrated_database``).

    For tests of what stores and supervisors do, not of how a fresh database
    is migrated: each saves the migration of a new database (a second or more
    on a loaded machine).  ``tests/integration/fleet/test_daemon_fleet.py``
    keeps starting its supervisors on a fresh one.
    """
    return postgres_server.new_migrated_database()
