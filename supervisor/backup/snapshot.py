"""Making a backup: the database copied live, the workflows folder and a manifest."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from automation.clock import SYSTEM_CLOCK, Clock
from supervisor.backup.database import DatabaseProblem, copy_database, inspect_database
from supervisor.backup.files import copy_hashed, fsync_dir, fsync_file, is_empty, manifest_file
from supervisor.backup.manifest import (
    ARCHIVE_SUFFIXES,
    DATABASE_NAME,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SECRETS_NOTE,
    STEP_PAGES,
    WORKFLOWS_NAME,
    BackupError,
    BackupResult,
    Manifest,
    ManifestFile,
    Progress,
    count_workflow_files,
    deskpilot_version,
    sqlite_database,
)
from supervisor.paths import DeskpilotPaths

logger = logging.getLogger(__name__)


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
            facts = inspect_database(staging / DATABASE_NAME)
        except DatabaseProblem as problem:
            raise BackupError(
                f"The history database {database} is damaged ({problem}), so no backup was "
                "kept. Restore an earlier backup, or move the file aside so Deskpilot starts "
                "a new one."
            ) from None
        files = [manifest_file(staging, DATABASE_NAME)]
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
                "workflow_files": count_workflow_files(files),
                "files": len(files),
            },
            not_included={
                "secrets": SECRETS_NOTE,
                "artifacts": f"Run artifacts (screenshots, evidence) in {paths.artifacts_dir}.",
            },
            files=tuple(files),
        )
        _write_manifest(staging / MANIFEST_NAME, manifest)
        fsync_dir(staging)
        if archive:
            _write_archive(staging, location, stem)
        else:
            os.replace(staging, location)
            fsync_dir(location.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("backed up %d runs and %d files to %s", facts.runs, len(files), location)
    return BackupResult(location=location, archive=archive, manifest=manifest)


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
    if not archive and location.exists() and not (location.is_dir() and is_empty(location)):
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
            size, digest = copy_hashed(source, copy)
            shutil.copystat(source, copy)
            path = PurePosixPath(WORKFLOWS_NAME, *relative.parts, name).as_posix()
            files.append(ManifestFile(path=path, size=size, sha256=digest))
    return files


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
        fsync_file(partial)
        os.replace(partial, location)
        fsync_dir(location.parent)
    finally:
        partial.unlink(missing_ok=True)
