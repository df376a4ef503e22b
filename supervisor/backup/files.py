"""File operations a backup and a restore share: hashing copies, fsync, free names."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from supervisor.backup.manifest import ManifestFile

CHUNK = 1 << 20
SQLITE_HEADER = b"SQLite format 3\x00"


def connect(
    path: Path, mode: str, *, timeout: float = 5.0, immutable: bool = False
) -> sqlite3.Connection:
    """Open an existing database file (never create one) in ``mode`` ``ro`` or ``rw``."""
    uri = f"{path.absolute().as_uri()}?mode={mode}" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def manifest_file(root: Path, relative: str) -> ManifestFile:
    path = root / relative
    return ManifestFile(path=relative, size=path.stat().st_size, sha256=hash_file(path))


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to a new file ``target`` (fsynced); return the size and SHA-256 copied."""
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("xb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return size, digest.hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (POSIX only: Windows cannot open folders)."""
    if os.name != "posix":
        return
    fsync_file(path)


def free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def is_empty(folder: Path) -> bool:
    return next(folder.iterdir(), None) is None
