"""The run history: SQLAlchemy Core tables migrated by Alembic, SQLite in WAL mode by default.

``HistoryStore`` reads and writes it; ``Recorder`` feeds it engine events
from one group-committing thread.  Errors are in ``supervisor.store.errors``.
"""

from supervisor.store.errors import (
    ConstraintViolated,
    DatabaseCorrupt,
    DatabaseLocked,
    DatabaseTooNew,
    DiskFull,
    RunNotFound,
    StoreError,
)
from supervisor.store.recorder import Recorder
from supervisor.store.records import (
    ArtifactRecord,
    EventRecord,
    LeaseRenewal,
    RunRecord,
    StepRecord,
    SupervisorRecord,
    VersionRef,
)
from supervisor.store.store import HistoryStore

__all__ = [
    "ArtifactRecord",
    "ConstraintViolated",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "DatabaseTooNew",
    "DiskFull",
    "EventRecord",
    "HistoryStore",
    "LeaseRenewal",
    "Recorder",
    "RunNotFound",
    "RunRecord",
    "StepRecord",
    "StoreError",
    "SupervisorRecord",
    "VersionRef",
]
