"""The workflows folder: every workflow file in it, validated, and kept up to date live.

Files directly in the folder ending in ``.yaml``, ``.yml`` or ``.json`` are
workflows (hidden files, editor backups and subfolders, where subflows
usually live, are not).  Each file is read and validated with the block
registry when it appears or changes (debounced: editors write in chunks).

What happens to a workflow's triggers follows its file:

* a valid file is the workflow's *active* version: its triggers run and
  runs submitted by name use it;
* an invalid file (syntax error, unknown block...) is listed with its
  issues, logged, and changes nothing else: the last valid version of that
  file stays active, so a half-saved edit never stops a schedule;
* a deleted file takes its triggers away;
* two files declaring the same workflow name: the one that claimed the name
  first keeps it, the other is listed as a conflict and its triggers do not
  run until one of them is renamed.

The owner of each name is told to ``on_change(name, loaded_or_None)``
whenever the active version of that name changes.

Files are read and validated off the event loop, one at a time, in a worker
thread under a time budget (``automation.budgets``): a hostile file (nested
aliases, a huge exponent, megabytes of data) must not stall the supervisor's
API and heartbeats.  The size, alias, depth and template budgets bound every
step, and loading and validation check the deadline as they go, so a file
over budget stops within moments and is listed as invalid with the reason,
while its last valid version keeps running.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.blocks.registry import BlockRegistry
from automation.budgets import VALIDATION_SECONDS, time_budget
from automation.errors import DeskpilotError, WorkflowError, WorkflowInvalid
from automation.loader import LoadedWorkflow, content_hash, parse_workflow, read_workflow_text
from automation.validation import validate
from supervisor.store.store import HistoryStore
from supervisor.triggers.files import Debouncer, FolderWatch

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")

ChangeCallback = Callable[[str, LoadedWorkflow | None], None]


def is_workflow_file(path: Path, folder: Path) -> bool:
    return path.parent == folder and path.suffix in SUFFIXES and not path.name.startswith(".")


@dataclass
class CatalogEntry:
    path: Path
    #: Order of claiming the workflow name: the earlier claim wins a conflict.
    claim: int
    text_hash: str | None = None
    declared_name: str | None = None
    issues: list[str] = field(default_factory=list)
    #: The file's last valid version (kept while the file is invalid).
    active: LoadedWorkflow | None = None
    conflict: str | None = None


@dataclass(frozen=True)
class FileCheck:
    """What reading and validating one file found (made in a worker thread)."""

    #: None when the file could not be read.
    digest: str | None
    loaded: LoadedWorkflow | None = None
    issues: list[str] = field(default_factory=list)
    #: The file is gone.
    missing: bool = False
    #: Same content as last time: nothing to do.
    unchanged: bool = False


def check_file(
    path: Path, registry: BlockRegistry, known_digest: str | None, budget: float
) -> FileCheck:
    """Read and validate ``path`` within ``budget`` seconds; never raises.

    Runs in a worker thread: everything here is bounded by the loader's
    budgets and stops at the deadline.
    """
    try:
        text = read_workflow_text(path)
    except WorkflowInvalid as exc:  # too large: refused before it is read
        return FileCheck(digest=None, issues=[str(issue) for issue in exc.issues])
    except WorkflowError as exc:
        if not path.is_file():
            return FileCheck(digest=None, missing=True)
        return FileCheck(digest=None, issues=[str(exc)])
    digest = content_hash(text)
    if digest == known_digest:
        return FileCheck(digest=digest, unchanged=True)
    loaded: LoadedWorkflow | None = None
    try:
        with time_budget(budget):
            loaded = parse_workflow(text, path=path)
            issues = [str(issue) for issue in validate(loaded, registry)]
    except WorkflowInvalid as exc:
        issues = [str(issue) for issue in exc.issues]
    except WorkflowError as exc:
        issues = [f"{path}: {exc}"]
    except Exception as exc:  # a bug in a check must not leave the file half-known
        logger.exception("validating %s failed", path)
        issues = [f"{path}: could not be validated: {type(exc).__name__}: {exc}"]
    return FileCheck(digest=digest, loaded=loaded, issues=issues)


def _same(a: LoadedWorkflow | None, b: LoadedWorkflow | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.content_hash == b.content_hash and a.path == b.path


class WorkflowCatalog:
    def __init__(
        self,
        folder: Path,
        registry: BlockRegistry,
        store: HistoryStore,
        *,
        on_change: ChangeCallback | None = None,
        debounce: float = 0.2,
        poll_interval: float = 1.0,
        budget: float = VALIDATION_SECONDS,
    ) -> None:
        self.folder = folder
        self.budget = budget
        self.registry = registry
        self.store = store
        self.on_change = on_change
        self.debounce = debounce
        self.poll_interval = poll_interval
        self._entries: dict[Path, CatalogEntry] = {}
        self._owners: dict[str, CatalogEntry] = {}
        self._active: dict[str, LoadedWorkflow] = {}
        self._claims = itertools.count(1)
        self._watch: FolderWatch | None = None
        self._debouncer: Debouncer | None = None
        #: One file is read and validated at a time, in the order changes arrive.
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch first, then scan: a file changed during the scan is read again, not missed."""
        self._debouncer = Debouncer(
            loop, self.debounce, lambda path, _kinds: self._spawn(loop, self.reload(path))
        )
        self._watch = FolderWatch(
            self.folder,
            loop=loop,
            on_file=self._on_file,
            on_rearmed=lambda: self._spawn(loop, self.scan()),
            poll_interval=self.poll_interval,
        )
        self._watch.start()
        await self.scan()

    async def stop(self) -> None:
        if self._debouncer is not None:
            self._debouncer.cancel()
        if self._watch is not None:
            await self._watch.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, loop: asyncio.AbstractEventLoop, work: Any) -> None:
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait until every change seen so far has been read and applied (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- reading ---------------------------------------------------------------------------
    def get(self, name: str) -> LoadedWorkflow | None:
        """The active version of workflow ``name``: what its triggers submit."""
        return self._active.get(name)

    def names(self) -> list[str]:
        return sorted(self._active)

    def list(self, statuses: Mapping[str, str | None] | None = None) -> list[dict[str, Any]]:
        """The catalog's entries; ``statuses`` (from ``last_statuses``, read off the loop)
        spares the history reads otherwise made here."""
        result = []
        for entry in sorted(self._entries.values(), key=lambda e: e.path.name):
            name = (
                entry.active.workflow.name
                if entry.active is not None
                else entry.declared_name or entry.path.stem
            )
            issues = list(entry.issues)
            if entry.conflict:
                issues.append(entry.conflict)
            owner = self._owners.get(name) is entry
            result.append(
                {
                    "name": name,
                    "path": str(entry.path),
                    "valid": not issues,
                    "issues": issues,
                    "conflict": entry.conflict is not None,
                    "active": owner,
                    # True while an invalid edit is shown but the last valid version runs
                    "using_last_valid": owner and bool(entry.issues),
                    "triggers": len(entry.active.workflow.triggers) if entry.active else 0,
                    "last_run_status": (
                        statuses.get(name) if statuses is not None else self._last_status(name)
                    ),
                }
            )
        return result

    def file_names(self) -> builtins.list[str]:
        """The names ``list`` shows: each file's workflow name, or its declared name or stem."""
        return [
            entry.active.workflow.name
            if entry.active is not None
            else entry.declared_name or entry.path.stem
            for entry in self._entries.values()
        ]

    def last_statuses(self, names: Sequence[str]) -> dict[str, str | None]:
        """The status of each workflow's newest run: history reads, so called in a thread."""
        return {name: self._last_status(name) for name in names}

    def _last_status(self, name: str) -> str | None:
        try:
            runs = self.store.list_runs(workflow=name, limit=1)
        except DeskpilotError as exc:
            logger.warning("cannot read the last run of %s: %s", name, exc)
            return None
        return str(runs[0].status) if runs else None

    # -- loading ---------------------------------------------------------------------------
    async def scan(self) -> None:
        """Read every workflow file; forget entries whose file is gone."""
        async with self._lock:
            present = await asyncio.to_thread(self._list_folder)
            for path in [p for p in self._entries if p not in present]:
                self._forget(path)
            for path in present:
                await self._load(path)
            self._recompute()

    async def reload(self, path: Path) -> None:
        """Read one file again (or forget it if it is gone) and apply what changed."""
        async with self._lock:
            await self._load(path)
            self._recompute()

    def _list_folder(self) -> builtins.list[Path]:
        try:
            return sorted(
                p for p in self.folder.iterdir() if p.is_file() and is_workflow_file(p, self.folder)
            )
        except OSError as exc:
            logger.warning("cannot list the workflows folder %s: %s", self.folder, exc)
            return []

    def _forget(self, path: Path) -> None:
        if self._entries.pop(path, None) is not None:
            logger.info("workflow file %s was removed", path)

    async def _load(self, path: Path) -> None:
        entry = self._entries.get(path)
        known = entry.text_hash if entry is not None else None
        checked = await asyncio.to_thread(check_file, path, self.registry, known, self.budget)
        if checked.missing:
            self._forget(path)
            return
        if checked.unchanged:
            return
        entry = self._entries.get(path)
        if entry is None:
            entry = self._entries[path] = CatalogEntry(path=path, claim=next(self._claims))
        entry.text_hash = checked.digest
        loaded, issues = checked.loaded, checked.issues
        if loaded is not None:
            entry.declared_name = loaded.workflow.name
        if loaded is not None and not issues:
            if entry.active is None or entry.active.workflow.name != loaded.workflow.name:
                entry.claim = next(self._claims)  # a new name is claimed now, not when the file was
            entry.active = loaded
            entry.issues = []
            logger.info("workflow %s loaded from %s", loaded.workflow.name, path)
            return
        entry.issues = issues
        kept = (
            f"; its last valid version ({entry.active.workflow.name}) stays active"
            if entry.active is not None
            else ""
        )
        logger.warning(
            "workflow file %s is invalid (%d problem%s)%s:\n  %s",
            path,
            len(issues),
            "" if len(issues) == 1 else "s",
            kept,
            "\n  ".join(issues),
        )

    def _recompute(self) -> None:
        owners: dict[str, CatalogEntry] = {}
        for entry in sorted(self._entries.values(), key=lambda e: e.claim):
            known, entry.conflict = entry.conflict, None
            if entry.active is None:
                continue
            name = entry.active.workflow.name
            holder = owners.get(name)
            if holder is not None:
                entry.conflict = (
                    f"workflow name '{name}' is already used by {holder.path.name}; "
                    "rename one of them (this file's triggers do not run until then)"
                )
                if entry.conflict != known:
                    logger.warning("%s: %s", entry.path, entry.conflict)
                continue
            owners[name] = entry
        self._owners = owners
        previous = self._active
        self._active = {
            name: entry.active for name, entry in owners.items() if entry.active is not None
        }
        for name in sorted(set(previous) | set(self._active)):
            before, after = previous.get(name), self._active.get(name)
            if not _same(before, after) and self.on_change is not None:
                try:
                    self.on_change(name, after)
                except Exception:
                    logger.exception("applying the new version of workflow %s failed", name)

    # -- watching --------------------------------------------------------------------------
    def _on_file(self, kind: str, src: Path, dest: Path | None) -> None:
        assert self._debouncer is not None
        for path in (src, dest):
            if path is not None and is_workflow_file(path, self.folder):
                self._debouncer.add(path, kind)
