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

The parts, by noun: ``manifest`` (layout, manifest, errors, results),
``database`` (the live copy and its inspection), ``snapshot`` (making a
backup), ``verification``, ``restore``, and ``files`` (hashing copies, fsync).

Errors, root first::

    DeskpilotError                 (automation.errors)
    └── BackupError                a backup cannot be made or restored
        ├── BackupInvalid          the backup fails verification (the message names the file)
        ├── BackupTooNew           it was made by a newer Deskpilot (schema or format)
        └── RestoreRefused         restoring now is unsafe: a supervisor or program has it open
"""

from supervisor.backup.database import copy_database
from supervisor.backup.manifest import (
    ARCHIVE_SUFFIXES,
    DATABASE_NAME,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SECRETS_NOTE,
    WORKFLOWS_NAME,
    BackupError,
    BackupInvalid,
    BackupResult,
    BackupTooNew,
    Manifest,
    ManifestFile,
    Progress,
    RestoreRefused,
    RestoreResult,
    VerifiedBackup,
    deskpilot_version,
    sqlite_database,
)
from supervisor.backup.restore import restore_backup
from supervisor.backup.snapshot import create_backup
from supervisor.backup.verification import opened_backup, verify_backup

__all__ = [
    "ARCHIVE_SUFFIXES",
    "DATABASE_NAME",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SECRETS_NOTE",
    "WORKFLOWS_NAME",
    "BackupError",
    "BackupInvalid",
    "BackupResult",
    "BackupTooNew",
    "Manifest",
    "ManifestFile",
    "Progress",
    "RestoreRefused",
    "RestoreResult",
    "VerifiedBackup",
    "copy_database",
    "create_backup",
    "deskpilot_version",
    "opened_backup",
    "restore_backup",
    "sqlite_database",
    "verify_backup",
]
