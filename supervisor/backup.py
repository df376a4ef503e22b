"""Online backups of the history and the workflows folder, and their verified restore.

A backup is a folder (or a ``.tar.gz`` holding one such folder)::

    manifest.json      SHA-256 and size of every file, versions, sources, what is left out
    history.sqlite3    a consistent copy of the history database
    workflows/...      the workflows folder as it was

The database is copied with SQLite's online backup API while the supervisor
keeps writing, so backing up never needs downtime.  A restore verifies the
whole backup before it touches anything, refuses while a supervisor runs,
and swaps files in with renames, so a crash leaves the old or the new
database, never a mix of both.  Secrets are never in a backup: they live in
the operating system keyring.

Errors, root first::

    DeskpilotError                 (automation.errors)
    └── BackupError                a backup cannot be made or restored
        ├── BackupInvalid          the backup fails verification (the message names the file)
        ├── BackupTooNew           it was made by a newer Deskpilot (schema or format)
        └── RestoreRefused         restoring now is unsafe: a supervisor or program has it open
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from alembic.script import ScriptDirectory
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from automation.clock import SYSTEM_CLOCK, Clock
from automation.errors import DeskpilotError
from supervisor.errors import SupervisorError
from supervisor.instance_lock import LOCK_FILE, InstanceLock, read_lock_holder
from supervisor.paths import DeskpilotPaths
from supervisor.store.engine import describe
from supervisor.store.errors import DatabaseTooNew
from supervisor.store.migrate import alembic_config, check_known

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "history.sqlite3"
WORKFLOWS_NAME = "workflows"
FORMAT = "deskpilot-backup"
FORMAT_VERSION = 1
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")
#: Pages copied per backup step: about 1 MiB with SQLite's default 4 KiB pages.
STEP_PAGES = 256
#: Restarts (the history changed between steps) before copying in one read transaction.
MAX_RESTARTS = 3
_CHUNK = 1 << 20
_SQLITE_HEADER = b"SQLite format 3\x00"
_NOTHING_CHANGED = "Nothing was changed."

SECRETS_NOTE = (
    "Secrets are not in backups: they stay in the operating system keyring. "
    "On another machine, set them again with 'deskpilot secrets set NAME'."
)

#: ``progress(remaining_pages, total_pages)`` after each step of the database copy.
Progress = Callable[[int, int], None]


class BackupError(DeskpilotError):
    """A backup cannot be made or restored."""


class BackupInvalid(BackupError):
    """The backup fails verification: a file is missing, changed, extra or damaged."""


class BackupTooNew(BackupError):
    """The backup was made by a newer Deskpilot than this one."""


class RestoreRefused(BackupError):
    """Restoring now would be unsafe, for instance while a supervisor runs."""


class ManifestFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="POSIX path relative to the backup folder")
    size: int = Field(ge=0, description="size in bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the content, hex")


class Manifest(BaseModel):
    """What a backup holds; extra keys are ignored so later builds can add some."""

    model_config = ConfigDict(frozen=True)

    format: Literal["deskpilot-backup"]
    format_version: int = Field(ge=1)
    created_at: datetime
    deskpilot_version: str
    schema_revision: str
    source: dict[str, str]
    counts: dict[str, int]
    not_included: dict[str, str]
    files: tuple[ManifestFile, ...]


@dataclass(frozen=True, kw_only=True)
class BackupResult:
    location: Path
    archive: bool
    manifest: Manifest

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.manifest.files)


@dataclass(frozen=True, kw_only=True)
class VerifiedBackup:
    """A backup whose every file matched its manifest, with facts read from its database."""

    root: Path
    shown_as: str
    manifest: Manifest
    runs: int
    workflow_files: int


@dataclass(frozen=True, kw_only=True)
class RestoreResult:
    backup: VerifiedBackup
    database: Path
    #: The database that was replaced, kept under another name (None if there was none).
    previous_database: Path | None
    workflows_dir: Path
    previous_workflows: Path | None


@dataclass(frozen=True)
class _DatabaseFacts:
    revisions: tuple[str, ...]
    runs: int
    workflows: int


class _DatabaseProblem(Exception):
    """The file is no healthy SQLite database; the text says why."""


class _Restarting(Exception):
    """The stepped copy keeps starting over because the history keeps changing."""


def deskpilot_version() -> str:
    try:
        return metadata.version("deskpilot")
    except metadata.PackageNotFoundError:
        return "unknown"


def sqlite_database(paths: DeskpilotPaths) -> Path:
    """The history's SQLite file; other databases are backed up with their own tools."""
    try:
        url = make_url(paths.database_url)
    except sa_exc.ArgumentError as error:
        raise BackupError(f"The history database URL is not valid: {error}") from None
    backend = url.get_backend_name()
    if backend != "sqlite":
        raise BackupError(
            f"The history is in a {backend} database ({describe(url)}), not a SQLite file: "
            "back it up and restore it with that database's own tools (for PostgreSQL, "
            f"pg_dump and pg_restore), and copy the workflows folder {paths.workflows_dir} "
            "yourself."
        )
    if url.database in (None, "", ":memory:"):
        raise BackupError("The history database is in memory only: there is no file to back up.")
    return Path(url.database).expanduser().absolute()


# -- making a backup ------------------------------------------------------------------


def create_backup(
    paths: DeskpilotPaths,
    target: Path | None = None,
    *,
    archive: bool = False,
    step_pages: int = STEP_PAGES,
    progress: Progress | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> BackupResult:
    """Back up the history and the workflows folder to ``target`` while Deskpilot runs.

    ``target`` defaults to ``<data_dir>/backups/deskpilot-<UTC time>`` (plus
    ``.tar.gz`` with ``archive``).  The backup is assembled in a hidden
    sibling folder and renamed into place, so a half-made backup never looks
    like a finished one.
    """
    database = sqlite_database(paths)
    if not database.is_file():
        raise BackupError(f"There is no history database at {database} yet: nothing to back up.")
    now = clock.now().astimezone(UTC)
    location = _backup_location(paths, target, archive, now)
    stem = _archive_stem(location) if archive else location.name
    location.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=".partial", dir=location.parent))
    try:
        copy_database(database, staging / DATABASE_NAME, step_pages=step_pages, progress=progress)
        try:
            facts = _inspect_database(staging / DATABASE_NAME)
        except _DatabaseProblem as problem:
            raise BackupError(
                f"The history database {database} is damaged ({problem}), so no backup was "
                "kept. Restore an earlier backup, or move the file aside so Deskpilot starts "
                "a new one."
            ) from None
        files = [_manifest_file(staging, DATABASE_NAME)]
        files += _copy_workflows(paths.workflows_dir, staging / WORKFLOWS_NAME)
        manifest = Manifest(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            created_at=now,
            deskpilot_version=deskpilot_version(),
            schema_revision=",".join(facts.revisions),
            source={
                "database": str(database),
                "workflows_dir": str(paths.workflows_dir),
                "artifacts_dir": str(paths.artifacts_dir),
            },
            counts={
                "runs": facts.runs,
                "workflows": facts.workflows,
                "workflow_files": _count_workflow_files(files),
                "files": len(files),
            },
            not_included={
                "secrets": SECRETS_NOTE,
                "artifacts": f"Run artifacts (screenshots, evidence) in {paths.artifacts_dir}.",
            },
            files=tuple(files),
        )
        _write_manifest(staging / MANIFEST_NAME, manifest)
        _fsync_dir(staging)
        if archive:
            _write_archive(staging, location, stem)
        else:
            os.replace(staging, location)
            _fsync_dir(location.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("backed up %d runs and %d files to %s", facts.runs, len(files), location)
    return BackupResult(location=location, archive=archive, manifest=manifest)


def copy_database(
    source: Path,
    target: Path,
    *,
    step_pages: int = STEP_PAGES,
    busy_timeout: float = 5.0,
    progress: Progress | None = None,
) -> None:
    """Copy a live SQLite database into a new self-contained file with the backup API.

    Each step copies ``step_pages`` pages under a short read lock.  SQLite
    starts a stepped copy over when another connection writes between steps;
    under a steady stream of writes that could go on forever, so after
    ``MAX_RESTARTS`` the copy is made in one step instead: in WAL mode that is
    a single read transaction, a consistent snapshot that never blocks the
    writer.  The copy is switched out of WAL so that it is one file.
    """
    if step_pages == 0 or step_pages < -1:
        raise ValueError(f"step_pages must be positive (or -1 for one step), got {step_pages}")
    restarts = 0
    last_remaining: int | None = None

    def on_step(_status: int, remaining: int, total: int) -> None:
        # A step that did not shrink what is left started over (or the file grew).
        nonlocal restarts, last_remaining
        if last_remaining is not None and remaining >= last_remaining:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise _Restarting
        last_remaining = remaining
        if progress is not None:
            progress(remaining, total)

    with (
        closing(_connect(source, "rw", timeout=busy_timeout)) as live,
        closing(sqlite3.connect(target, isolation_level=None)) as copy,
    ):
        try:
            live.backup(copy, pages=step_pages, progress=on_step)
        except _Restarting:
            logger.info(
                "the history changed during every step of the backup; "
                "copying it in one read transaction instead"
            )
            live.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")
    os.chmod(target, 0o600)
    _fsync_file(target)


def _backup_location(
    paths: DeskpilotPaths, target: Path | None, archive: bool, now: datetime
) -> Path:
    if target is None:
        suffix = ".tar.gz" if archive else ""
        name = f"deskpilot-{now.strftime('%Y%m%dT%H%M%SZ')}"
        location = paths.data_dir / "backups" / (name + suffix)
        number = 1
        while location.exists():
            number += 1
            location = location.with_name(f"{name}-{number}{suffix}")
    else:
        location = target.expanduser().absolute()
        if archive and not location.name.endswith(ARCHIVE_SUFFIXES):
            location = location.with_name(location.name + ".tar.gz")
    if archive and location.exists():
        raise BackupError(f"{location} already exists; give another file name for the archive.")
    if not archive and location.exists() and not (location.is_dir() and _is_empty(location)):
        raise BackupError(f"{location} already exists and is not empty; give a new folder name.")
    workflows = paths.workflows_dir.absolute()
    if location == workflows or workflows in location.parents:
        raise BackupError(
            f"{location} is inside the workflows folder {workflows}, which the backup copies; "
            "choose a folder elsewhere."
        )
    return location


def _archive_stem(location: Path) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if location.name.endswith(suffix):
            return location.name[: -len(suffix)]
    return location.name


def _copy_workflows(folder: Path, target: Path) -> list[ManifestFile]:
    """Copy every regular file of the workflows folder, hashing what was actually copied."""
    target.mkdir(mode=0o700)
    if not folder.is_dir():
        return []
    files: list[ManifestFile] = []
    for directory, subdirs, names in os.walk(folder):
        here = Path(directory)
        for name in [d for d in subdirs if (here / d).is_symlink()]:
            logger.warning("not backed up: %s is a symbolic link", here / name)
            subdirs.remove(name)
        subdirs.sort()
        relative = here.relative_to(folder)
        for name in sorted(names):
            source = here / name
            if not stat.S_ISREG(os.lstat(source).st_mode):
                logger.warning("not backed up: %s is not a regular file", source)
                continue
            copy = target / relative / name
            copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            size, digest = _copy_hashed(source, copy)
            shutil.copystat(source, copy)
            path = PurePosixPath(WORKFLOWS_NAME, *relative.parts, name).as_posix()
            files.append(ManifestFile(path=path, size=size, sha256=digest))
    return files


def _count_workflow_files(files: list[ManifestFile]) -> int:
    return sum(
        1
        for entry in files
        if len(PurePosixPath(entry.path).parts) == 2
        and entry.path.endswith(WORKFLOW_SUFFIXES)
        and not PurePosixPath(entry.path).name.startswith(".")
    )


def _write_manifest(path: Path, manifest: Manifest) -> None:
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False)
    with os.fdopen(
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8"
    ) as stream:
        stream.write(text + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _write_archive(staging: Path, location: Path, stem: str) -> None:
    partial = location.with_name(f".{location.name}.partial-{os.getpid()}")
    try:
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(staging, arcname=stem)
        os.chmod(partial, 0o600)
        _fsync_file(partial)
        os.replace(partial, location)
        _fsync_dir(location.parent)
    finally:
        partial.unlink(missing_ok=True)


# -- verifying a backup ---------------------------------------------------------------


@contextmanager
def opened_backup(source: Path) -> Iterator[Path]:
    """The backup folder at ``source``, unpacked into a temporary folder if it is an archive."""
    source = source.expanduser()
    if source.is_dir():
        yield source
        return
    if not source.exists():
        raise BackupInvalid(f"There is no backup at {source}.")
    if not source.name.endswith(ARCHIVE_SUFFIXES):
        raise BackupInvalid(f"{source} is neither a backup folder nor a .tar.gz backup archive.")
    with tempfile.TemporaryDirectory(prefix="deskpilot-restore-") as unpacked:
        try:
            with tarfile.open(source, "r:gz") as archive:
                archive.extractall(unpacked, filter="data")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise BackupInvalid(
                f"Cannot read the backup archive {source}: {error}. {_NOTHING_CHANGED}"
            ) from None
        entries = list(Path(unpacked).iterdir())
        single = len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink()
        yield entries[0] if single else Path(unpacked)


def verify_backup(root: Path, shown_as: str | None = None) -> VerifiedBackup:
    """Check every file of the backup in ``root`` against its manifest; change nothing.

    Raises ``BackupInvalid`` naming the first file that is missing, changed,
    not listed or damaged, and ``BackupTooNew`` for a backup from a newer
    Deskpilot.  ``shown_as`` is how messages name the backup (the archive
    the user gave, rather than a temporary folder).
    """
    shown = shown_as or str(root)
    manifest = _read_manifest(root, shown)
    listed: dict[str, ManifestFile] = {}
    for entry in manifest.files:
        relative = _checked_relative(entry.path, shown)
        if relative in listed:
            raise _invalid(shown, f"the manifest lists {relative} twice")
        listed[relative] = entry
    if DATABASE_NAME not in listed:
        raise _invalid(shown, f"the manifest lists no {DATABASE_NAME}")
    for relative, entry in listed.items():
        _check_file(root, relative, entry, shown)
    for relative in sorted(_files_under(root) - set(listed) - {MANIFEST_NAME}):
        raise _invalid(shown, f"{relative} is not listed in the manifest")
    try:
        facts = _inspect_database(root / DATABASE_NAME)
    except _DatabaseProblem as problem:
        raise _invalid(shown, f"{DATABASE_NAME} is not a healthy database: {problem}") from None
    _check_revisions(facts.revisions, manifest, shown)
    return VerifiedBackup(
        root=root,
        shown_as=shown,
        manifest=manifest,
        runs=facts.runs,
        workflow_files=_count_workflow_files(list(listed.values())),
    )


def _invalid(shown: str, problem: str) -> BackupInvalid:
    return BackupInvalid(f"Cannot restore {shown}: {problem}. {_NOTHING_CHANGED}")


def _read_manifest(root: Path, shown: str) -> Manifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise _invalid(shown, f"it has no {MANIFEST_NAME}, so it is not a Deskpilot backup")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise _invalid(shown, f"{MANIFEST_NAME} is nested too deeply to be a manifest") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: JSON, digit limit
        raise _invalid(shown, f"{MANIFEST_NAME} cannot be read: {error}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BackupTooNew(
            f"Cannot restore {shown}: it was made by a newer version of Deskpilot "
            f"(backup format {version}, this version reads up to {FORMAT_VERSION}). "
            f"Update Deskpilot, then restore again. {_NOTHING_CHANGED}"
        )
    try:
        return Manifest.model_validate(data)
    except RecursionError:
        raise _invalid(shown, f"{MANIFEST_NAME} is nested too deeply to be a manifest") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise _invalid(shown, f"{MANIFEST_NAME} is not valid ({where}: {first['msg']})") from None


def _checked_relative(text: str, shown: str) -> str:
    """Refuse manifest paths that could reach outside the backup or the restored folders."""
    path = PurePosixPath(text)
    parts = path.parts
    unsafe = (
        not parts
        or path.is_absolute()
        or "\\" in text
        or any(part in ("..", ".") for part in text.split("/"))
        or path.as_posix() != text
    )
    allowed = text == DATABASE_NAME or (len(parts) > 1 and parts[0] == WORKFLOWS_NAME)
    if unsafe or not allowed:
        raise _invalid(shown, f"the manifest lists a file at an unexpected path: {text!r}")
    return text


def _check_file(root: Path, relative: str, entry: ManifestFile, shown: str) -> None:
    path = root / relative
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise _invalid(shown, f"{relative} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise _invalid(shown, f"{relative} is not a regular file")
    if info.st_size != entry.size:
        raise _invalid(
            shown,
            f"{relative} has {info.st_size} bytes but the manifest says {entry.size} "
            "(it was changed or damaged after the backup was made)",
        )
    if _hash_file(path) != entry.sha256:
        raise _invalid(
            shown,
            f"{relative} does not match its SHA-256 in the manifest "
            "(it was changed or damaged after the backup was made)",
        )


def _files_under(root: Path) -> set[str]:
    found: set[str] = set()
    for directory, subdirs, names in os.walk(root):
        here = Path(directory)
        for name in [*names, *(d for d in subdirs if (here / d).is_symlink())]:
            found.add((here / name).relative_to(root).as_posix())
    return found


def _check_revisions(revisions: tuple[str, ...], manifest: Manifest, shown: str) -> None:
    if not revisions:
        raise _invalid(shown, f"{DATABASE_NAME} has no schema revision: not a Deskpilot history")
    script = ScriptDirectory.from_config(alembic_config())
    try:
        check_known(revisions, script, DATABASE_NAME)
    except DatabaseTooNew:
        raise BackupTooNew(
            f"Cannot restore {shown}: it was made by a newer version of Deskpilot (schema "
            f"revision {', '.join(revisions)}; this version knows up to "
            f"{script.get_current_head()}). Update Deskpilot, then restore again. "
            f"{_NOTHING_CHANGED}"
        ) from None
    if manifest.schema_revision != ",".join(revisions):
        raise _invalid(
            shown,
            f"the manifest says schema revision {manifest.schema_revision} but "
            f"{DATABASE_NAME} has {', '.join(revisions)}",
        )


def _inspect_database(path: Path) -> _DatabaseFacts:
    """Integrity check, schema revision and counts, read without writing a byte."""
    try:
        with closing(_connect(path, "ro", immutable=True)) as connection:
            report = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
            if report != ["ok"]:
                raise _DatabaseProblem("integrity check: " + "; ".join(report[:3]))
            revisions = tuple(
                str(row[0]) for row in connection.execute("SELECT version_num FROM alembic_version")
            )
            runs = int(connection.execute("SELECT count(*) FROM runs").fetchone()[0])
            workflows = int(connection.execute("SELECT count(*) FROM workflows").fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise _DatabaseProblem(str(error)) from None
    return _DatabaseFacts(revisions=revisions, runs=runs, workflows=workflows)


# -- restoring ------------------------------------------------------------------------


def restore_backup(
    paths: DeskpilotPaths, source: Path, *, clock: Clock = SYSTEM_CLOCK
) -> RestoreResult:
    """Verify the backup at ``source``, then put its history and workflows in place.

    Nothing is changed unless the whole backup verifies and no supervisor
    runs; the supervisor's own instance lock is held meanwhile so none can
    start halfway.  The replaced database and workflows folder are kept
    beside the new ones (``*.before-restore-<time>``), not deleted.
    """
    database = sqlite_database(paths)
    with opened_backup(source) as root:
        verified = verify_backup(root, str(source))
        lock = _lock_out_supervisor(paths)
        try:
            return _install(paths, database, verified, clock.now().astimezone(UTC))
        finally:
            lock.release()


def _lock_out_supervisor(paths: DeskpilotPaths) -> InstanceLock:
    lock_path = paths.state_dir / LOCK_FILE
    holder = read_lock_holder(lock_path)
    if holder is None:
        lock = InstanceLock(lock_path)
        try:
            lock.acquire()
            return lock
        except SupervisorError:
            holder = read_lock_holder(lock_path) or -1
    pid = f"pid {holder}" if holder > 0 else "pid unknown"
    raise RestoreRefused(
        f"A Deskpilot supervisor is running ({pid}). Stop it with 'deskpilot supervisor stop', "
        f"then restore again. {_NOTHING_CHANGED}"
    )


def _install(
    paths: DeskpilotPaths, database: Path, verified: VerifiedBackup, now: datetime
) -> RestoreResult:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    workflows_dir = paths.workflows_dir.absolute()
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    workflows_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _settle(database)
    staged_database = database.with_name(f".{database.name}.restore-{stamp}-{os.getpid()}")
    staged_workflows = workflows_dir.with_name(
        f".{workflows_dir.name}.restore-{stamp}-{os.getpid()}"
    )
    try:
        _stage(verified, staged_database, staged_workflows)
        previous_database = _swap_database(database, staged_database, stamp)
    except BaseException:
        staged_database.unlink(missing_ok=True)
        shutil.rmtree(staged_workflows, ignore_errors=True)
        raise
    try:
        previous_workflows = _swap_workflows(workflows_dir, staged_workflows, stamp)
    finally:
        shutil.rmtree(staged_workflows, ignore_errors=True)
    logger.info(
        "restored %d runs and %d files from %s",
        verified.runs,
        len(verified.manifest.files),
        verified.shown_as,
    )
    return RestoreResult(
        backup=verified,
        database=database,
        previous_database=previous_database,
        workflows_dir=workflows_dir,
        previous_workflows=previous_workflows,
    )


def _settle(database: Path) -> None:
    """Fold the current database's write-ahead log into it, so the file alone holds every commit.

    After this, keeping the old file aside under another name loses nothing,
    and no stale ``-wal`` can be replayed onto the restored file.
    """
    if not database.exists():
        return
    with database.open("rb") as stream:
        header = stream.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER and database.stat().st_size > 0:
        # Opening it would let SQLite discard the -wal beside it: keep both as they are.
        logger.warning("the current history database %s is not a SQLite file", database)
        return
    try:
        with closing(_connect(database, "rw", timeout=2.0)) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            busy = 1
        else:
            logger.warning("the current history database %s is unreadable: %s", database, error)
            return
    except sqlite3.DatabaseError as error:
        logger.warning("the current history database %s is unreadable: %s", database, error)
        return
    if busy:
        raise RestoreRefused(
            f"The history database {database} is in use by another program (a 'deskpilot' "
            f"command or a database browser). Close it, then restore again. {_NOTHING_CHANGED}"
        )


def _stage(verified: VerifiedBackup, staged_database: Path, staged_workflows: Path) -> None:
    """Copy the backup next to the live files, checking each copy against the manifest again.

    The second check covers the backup changing after it was verified: what
    is installed is exactly what was hashed.
    """
    staged_workflows.mkdir(mode=0o700)
    for entry in verified.manifest.files:
        source = verified.root / entry.path
        if entry.path == DATABASE_NAME:
            target = staged_database
        else:
            target = staged_workflows.joinpath(*PurePosixPath(entry.path).parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _copy_hashed(source, target) != (entry.size, entry.sha256):
            raise _invalid(verified.shown_as, f"{entry.path} changed while it was being restored")
        if target != staged_database:
            shutil.copystat(source, target)
    os.chmod(staged_database, 0o600)
    for directory, _subdirs, _names in os.walk(staged_workflows):
        _fsync_dir(Path(directory))


def _swap_database(database: Path, staged: Path, stamp: str) -> Path | None:
    """Replace the database with one rename; keep the old one under a ``before-restore`` name."""
    aside = _free_name(database.with_name(f"{database.name}.before-restore-{stamp}"))
    previous: Path | None = None
    if database.exists():
        try:
            os.link(database, aside)
        except OSError:
            shutil.copy2(database, aside)
        os.chmod(aside, 0o600)
        previous = aside
    for suffix in ("-wal", "-shm", "-journal"):
        # Empty after _settle, unless the old file was unreadable: keep them with it.
        leftover = database.with_name(database.name + suffix)
        if leftover.exists():
            os.replace(leftover, aside.with_name(aside.name + suffix))
    os.replace(staged, database)
    _fsync_dir(database.parent)
    return previous


def _swap_workflows(folder: Path, staged: Path, stamp: str) -> Path | None:
    previous: Path | None = None
    if folder.exists() or folder.is_symlink():
        previous = _free_name(folder.with_name(f"{folder.name}.before-restore-{stamp}"))
        os.rename(folder, previous)
    try:
        os.rename(staged, folder)
    except OSError:
        if previous is not None:
            os.rename(previous, folder)
        raise
    _fsync_dir(folder.parent)
    return previous


# -- files ----------------------------------------------------------------------------


def _connect(
    path: Path, mode: str, *, timeout: float = 5.0, immutable: bool = False
) -> sqlite3.Connection:
    """Open an existing database file (never create one) in ``mode`` ``ro`` or ``rw``."""
    uri = f"{path.absolute().as_uri()}?mode={mode}" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def _manifest_file(root: Path, relative: str) -> ManifestFile:
    path = root / relative
    return ManifestFile(path=relative, size=path.stat().st_size, sha256=_hash_file(path))


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to a new file ``target`` (fsynced); return the size and SHA-256 copied."""
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("xb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return size, digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (POSIX only: Windows cannot open folders)."""
    if os.name != "posix":
        return
    _fsync_file(path)


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _is_empty(folder: Path) -> bool:
    return next(folder.iterdir(), None) is None
