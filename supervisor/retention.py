"""History retention: finished runs past a maximum age or count are pruned, with their artifacts.

The policy comes from ``<config_dir>/config.toml``::

    [retention]
    max_age_days = 90      # false: no age limit
    max_runs = 100000      # false: no count limit

and ``DESKPILOT_RETENTION_MAX_AGE_DAYS`` / ``DESKPILOT_RETENTION_MAX_RUNS``
override the file (``off`` lifts a limit).  Queued, running and interrupted
runs are never pruned (see ``HistoryStore.prune``).  The daemon prunes shortly
after it starts and then every few hours, in a thread so the supervisor's
loop never waits on a large delete.

A bad setting raises ``RetentionConfigError`` naming the file and the key:
retention deletes data, so a typo must never fall back to a guess.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from automation.errors import DeskpilotError
from supervisor.store.pruning import finished_before, missing_runs, prunable_runs
from supervisor.store.store import HistoryStore

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.toml"
SECTION = "retention"
MAX_AGE_VARIABLE = "DESKPILOT_RETENTION_MAX_AGE_DAYS"
MAX_RUNS_VARIABLE = "DESKPILOT_RETENTION_MAX_RUNS"
DEFAULT_MAX_AGE = timedelta(days=90)
DEFAULT_MAX_RUNS = 100_000
#: How often the daemon prunes.
DEFAULT_INTERVAL = timedelta(hours=6)
#: The first prune waits this long after start, so start-up reconciliation goes first.
DEFAULT_FIRST_DELAY = 60.0
#: After a failed prune (database locked, disk full), try again this much sooner.
RETRY_DELAY = 600.0
#: Runs deleted per transaction (with their steps, events and artifacts rows).
BATCH_RUNS = 1000
#: Pause between two prune transactions, so other writers get the lock.
BATCH_PAUSE = 0.02
_OFF = frozenset({"off", "none", "no", "false"})


class RetentionConfigError(DeskpilotError):
    """The retention settings in the config file or environment are not valid."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How much finished history to keep; ``None`` lifts that limit."""

    max_age: timedelta | None = DEFAULT_MAX_AGE
    max_runs: int | None = DEFAULT_MAX_RUNS

    def __post_init__(self) -> None:
        if self.max_age is not None and (
            not isinstance(self.max_age, timedelta) or self.max_age <= timedelta(0)
        ):
            raise ValueError(
                f"the maximum age of runs must be positive (or None for no age limit), "
                f"got {self.max_age!r}"
            )
        if self.max_runs is not None and (
            isinstance(self.max_runs, bool)
            or not isinstance(self.max_runs, int)
            or self.max_runs < 1
        ):
            raise ValueError(
                f"the maximum number of runs must be a whole number of at least 1 "
                f"(or None for no count limit), got {self.max_runs!r}"
            )

    @property
    def enabled(self) -> bool:
        return self.max_age is not None or self.max_runs is not None

    def describe(self) -> str:
        """``older than 90 days or beyond the newest 100000 runs``, for logs and the CLI."""
        parts = []
        if self.max_age is not None:
            days = self.max_age / timedelta(days=1)
            parts.append(f"older than {days:g} day{'s' if days != 1 else ''}")
        if self.max_runs is not None:
            parts.append(f"beyond the newest {self.max_runs} runs")
        return " or ".join(parts) or "none (no limits)"

    @classmethod
    def from_config(
        cls, config_dir: Path, environ: Mapping[str, str] = os.environ
    ) -> RetentionPolicy:
        """The policy from ``config_dir/config.toml`` and the environment, defaults otherwise."""
        path = config_dir / CONFIG_FILE
        settings = _read_section(path)
        max_age: timedelta | None = DEFAULT_MAX_AGE
        max_runs: int | None = DEFAULT_MAX_RUNS
        if "max_age_days" in settings:
            max_age = _age(settings["max_age_days"], f"max_age_days in {path}")
        if "max_runs" in settings:
            max_runs = _count(settings["max_runs"], f"max_runs in {path}")
        age_text = environ.get(MAX_AGE_VARIABLE, "").strip()
        if age_text:
            max_age = _age(_env_value(age_text, MAX_AGE_VARIABLE), MAX_AGE_VARIABLE)
        runs_text = environ.get(MAX_RUNS_VARIABLE, "").strip()
        if runs_text:
            max_runs = _count(_env_value(runs_text, MAX_RUNS_VARIABLE), MAX_RUNS_VARIABLE)
        return cls(max_age=max_age, max_runs=max_runs)


def _read_section(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise RetentionConfigError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise RetentionConfigError(f"cannot read {path}: {error.strerror}") from None
    section = document.get(SECTION, {})
    if not isinstance(section, dict):
        raise RetentionConfigError(f"[{SECTION}] in {path} must be a table of settings")
    unknown = sorted(set(section) - {"max_age_days", "max_runs"})
    if unknown:
        raise RetentionConfigError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in "
            f"[{SECTION}] of {path}; the settings are max_age_days and max_runs"
        )
    return section


def _env_value(text: str, where: str) -> float | bool:
    if text.lower() in _OFF:
        return False
    try:
        return float(text)
    except ValueError:
        raise RetentionConfigError(f"{where} must be a number or 'off', got {text!r}") from None


def _age(value: Any, where: str) -> timedelta | None:
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RetentionConfigError(
            f"{where} must be a number of days (or false for no age limit), got {value!r}"
        )
    if value <= 0:
        raise RetentionConfigError(
            f"{where} must be more than 0 days (or false for no age limit), got {value!r}"
        )
    return timedelta(days=value)


def _count(value: Any, where: str) -> int | None:
    if value is False:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < 1:
        raise RetentionConfigError(
            f"{where} must be a whole number of runs of at least 1 (or false for no count "
            f"limit), got {value!r}"
        )
    return int(value)


# -- pruning ----------------------------------------------------------------------------


def prunable(store: HistoryStore, policy: RetentionPolicy) -> list[str]:
    """Ids of the runs ``prune`` would delete now (the same rules as ``HistoryStore.prune``)."""
    if not policy.enabled:
        return []
    return prunable_runs(store, policy.max_age, policy.max_runs)


def prune(
    store: HistoryStore,
    policy: RetentionPolicy,
    *,
    artifacts_dir: Path | None = None,
    batch: int = BATCH_RUNS,
) -> int:
    """Delete the finished runs ``policy`` no longer keeps; return how many were deleted.

    Runs go about ``batch`` per transaction, oldest first: one transaction
    deleting a year of history would hold the write lock long enough for the
    supervisor's own writes to time out.  With ``artifacts_dir``, each deleted
    run's folder ``artifacts_dir/<run id>`` goes too.  The runs to delete are
    listed first and checked as gone afterwards, so a run that arrives
    meanwhile never loses its files.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if not policy.enabled:
        return 0
    doomed = prunable(store, policy)
    if not doomed:
        # Nothing past the limits: one read, not a write transaction per limit (most rounds
        # of a history under its limits, the first after every start included).  A run that
        # goes past them meanwhile is the next round's, as if it had come a moment later.
        return 0
    deleted = 0
    limits: list[dict[str, Any]] = []
    if policy.max_age is not None:
        limits += [{"max_age": age} for age in _age_steps(store, policy.max_age, batch)]
    if policy.max_runs is not None:
        limits += [{"max_runs": count} for count in _count_steps(store, policy.max_runs, batch)]
    for number, limit in enumerate(limits):
        if number:
            # Let a writer waiting on the lock (the supervisor) in between transactions.
            time.sleep(BATCH_PAUSE)
        deleted += store.prune(**limit)
    if artifacts_dir is not None and doomed:
        folders = remove_artifacts(artifacts_dir, missing_runs(store, doomed))
        if folders:
            logger.info("removed the artifacts folders of %d pruned runs", folders)
    return deleted


def _age_steps(store: HistoryStore, max_age: timedelta, batch: int) -> list[timedelta]:
    """Growing cutoffs (as ages) that each take about ``batch`` more runs, ending at ``max_age``."""
    now = store.clock.now()
    times = finished_before(store, now - max_age)
    boundaries = [at for number, at in enumerate(times, start=1) if number % batch == 0]
    return [now - at for at in boundaries if now - at > max_age] + [max_age]


def _count_steps(store: HistoryStore, max_runs: int, batch: int) -> list[int]:
    """Shrinking run counts, ``batch`` apart, ending at ``max_runs``."""
    total = store.count_runs()
    return [*range(total - batch, max_runs, -batch), max_runs]


def remove_artifacts(artifacts_dir: Path, run_ids: Collection[str]) -> int:
    """Delete ``artifacts_dir/<run id>`` for each run; return how many folders were removed."""
    removed = 0
    for run_id in run_ids:
        if not run_id or run_id in (".", "..") or "/" in run_id or os.sep in run_id:
            logger.warning("not removing artifacts of a run with an unsafe id %r", run_id)
            continue
        folder = artifacts_dir / run_id
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            shutil.rmtree(folder)
        except OSError as error:
            logger.warning("could not remove the artifacts of run %s: %s", run_id, error)
            continue
        removed += 1
    return removed


# -- on a schedule ----------------------------------------------------------------------


class _HasStore(Protocol):
    """The parts of a ``Supervisor`` retention needs (avoids importing it)."""

    @property
    def store(self) -> HistoryStore: ...

    @property
    def artifacts_dir(self) -> Path: ...


PolicySource = RetentionPolicy | Callable[[], RetentionPolicy | None]


def schedule_retention(
    target: HistoryStore | _HasStore,
    policy: PolicySource,
    interval: timedelta | float = DEFAULT_INTERVAL,
    loop: asyncio.AbstractEventLoop | None = None,
    *,
    first_delay: float = DEFAULT_FIRST_DELAY,
    artifacts_dir: Path | None = None,
) -> asyncio.Task[None]:
    """Prune ``target``'s history ``first_delay`` s from now, then every ``interval``.

    ``target`` is a supervisor (its store and artifacts folder are used) or a
    store.  ``policy`` may be a callable, read before every prune, so that
    edits to the config file apply without a restart; it may return None to
    skip a round.  The task sleeps between rounds (no polling); cancel it to
    stop: a prune in progress finishes first, so the store can be closed
    right after.  Call from the loop's thread.
    """
    seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
    if not seconds > 0:
        raise ValueError(f"the retention interval must be positive, got {interval!r}")
    if first_delay < 0:
        raise ValueError(f"the first retention delay cannot be negative, got {first_delay!r}")
    if isinstance(target, HistoryStore):
        store = target
    else:
        store = target.store
        artifacts_dir = artifacts_dir or target.artifacts_dir
    loop = loop or asyncio.get_running_loop()
    return loop.create_task(
        _retention_rounds(store, policy, seconds, first_delay, artifacts_dir),
        name="history-retention",
    )


async def stop_retention(task: asyncio.Task[None] | None) -> None:
    """Cancel the retention task and wait for it (and any prune in progress) to end."""
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _retention_rounds(
    store: HistoryStore,
    source: PolicySource,
    interval: float,
    first_delay: float,
    artifacts_dir: Path | None,
) -> None:
    delay = first_delay
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            policy = source() if callable(source) else source
            if policy is None or not policy.enabled:
                continue
            work = asyncio.ensure_future(
                asyncio.to_thread(prune, store, policy, artifacts_dir=artifacts_dir)
            )
            try:
                deleted = await asyncio.shield(work)
            except asyncio.CancelledError:
                # Let the prune finish: the caller closes the store once we return.
                await asyncio.gather(work, return_exceptions=True)
                raise
            logger.info("retention: pruned %d runs (%s)", deleted, policy.describe())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            delay = min(interval, RETRY_DELAY)
            logger.error(
                "history retention failed, trying again in %.0f s: %s",
                delay,
                error,
                exc_info=not isinstance(error, DeskpilotError),
            )
