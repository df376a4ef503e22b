"""What a backup is: its layout, its manifest, its errors, and what making or restoring returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from automation.errors import DeskpilotError
from supervisor.paths import DeskpilotPaths
from supervisor.release import installed_version
from supervisor.store.engine import describe

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
#: How every refusal to restore ends: the user's files are as they were.
NOTHING_CHANGED = "Nothing was changed."

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


def deskpilot_version() -> str:
    return installed_version() or "unknown"


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


def invalid(shown: str, problem: str) -> BackupInvalid:
    return BackupInvalid(f"Cannot restore {shown}: {problem}. {NOTHING_CHANGED}")


def count_workflow_files(files: list[ManifestFile]) -> int:
    return sum(
        1
        for entry in files
        if len(PurePosixPath(entry.path).parts) == 2
        and entry.path.endswith(WORKFLOW_SUFFIXES)
        and not PurePosixPath(entry.path).name.startswith(".")
    )
