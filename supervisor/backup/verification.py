"""Verifying a backup: every file against its manifest, the database's health and schema."""

from __future__ import annotations

import json
import os
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.script import ScriptDirectory
from pydantic import ValidationError

from supervisor.backup.database import DatabaseProblem, inspect_database
from supervisor.backup.files import hash_file
from supervisor.backup.manifest import (
    ARCHIVE_SUFFIXES,
    DATABASE_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    NOTHING_CHANGED,
    WORKFLOWS_NAME,
    BackupInvalid,
    BackupTooNew,
    Manifest,
    ManifestFile,
    VerifiedBackup,
    count_workflow_files,
    invalid,
)
from supervisor.store.errors import DatabaseTooNew
from supervisor.store.migrate import alembic_config, check_known


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
                f"Cannot read the backup archive {source}: {error}. {NOTHING_CHANGED}"
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
            raise invalid(shown, f"the manifest lists {relative} twice")
        listed[relative] = entry
    if DATABASE_NAME not in listed:
        raise invalid(shown, f"the manifest lists no {DATABASE_NAME}")
    for relative, entry in listed.items():
        _check_file(root, relative, entry, shown)
    for relative in sorted(_files_under(root) - set(listed) - {MANIFEST_NAME}):
        raise invalid(shown, f"{relative} is not listed in the manifest")
    try:
        facts = inspect_database(root / DATABASE_NAME)
    except DatabaseProblem as problem:
        raise invalid(shown, f"{DATABASE_NAME} is not a healthy database: {problem}") from None
    _check_revisions(facts.revisions, manifest, shown)
    return VerifiedBackup(
        root=root,
        shown_as=shown,
        manifest=manifest,
        runs=facts.runs,
        workflow_files=count_workflow_files(list(listed.values())),
    )


def _read_manifest(root: Path, shown: str) -> Manifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise invalid(shown, f"it has no {MANIFEST_NAME}, so it is not a Deskpilot backup")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise invalid(shown, f"{MANIFEST_NAME} is nested too deeply to be a manifest") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: JSON, digit limit
        raise invalid(shown, f"{MANIFEST_NAME} cannot be read: {error}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BackupTooNew(
            f"Cannot restore {shown}: it was made by a newer version of Deskpilot "
            f"(backup format {version}, this version reads up to {FORMAT_VERSION}). "
            f"Update Deskpilot, then restore again. {NOTHING_CHANGED}"
        )
    try:
        return Manifest.model_validate(data)
    except RecursionError:
        raise invalid(shown, f"{MANIFEST_NAME} is nested too deeply to be a manifest") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise invalid(shown, f"{MANIFEST_NAME} is not valid ({where}: {first['msg']})") from None


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
        raise invalid(shown, f"the manifest lists a file at an unexpected path: {text!r}")
    return text


def _check_file(root: Path, relative: str, entry: ManifestFile, shown: str) -> None:
    path = root / relative
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise invalid(shown, f"{relative} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise invalid(shown, f"{relative} is not a regular file")
    if info.st_size != entry.size:
        raise invalid(
            shown,
            f"{relative} has {info.st_size} bytes but the manifest says {entry.size} "
            "(it was changed or damaged after the backup was made)",
        )
    if hash_file(path) != entry.sha256:
        raise invalid(
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
        raise invalid(shown, f"{DATABASE_NAME} has no schema revision: not a Deskpilot history")
    script = ScriptDirectory.from_config(alembic_config())
    try:
        check_known(revisions, script, DATABASE_NAME)
    except DatabaseTooNew:
        raise BackupTooNew(
            f"Cannot restore {shown}: it was made by a newer version of Deskpilot (schema "
            f"revision {', '.join(revisions)}; this version knows up to "
            f"{script.get_current_head()}). Update Deskpilot, then restore again. "
            f"{NOTHING_CHANGED}"
        ) from None
    if manifest.schema_revision != ",".join(revisions):
        raise invalid(
            shown,
            f"the manifest says schema revision {manifest.schema_revision} but "
            f"{DATABASE_NAME} has {', '.join(revisions)}",
        )
