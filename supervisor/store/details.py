"""Runs as the history lists them, and what one run did, step by step: attempts, the
checkpoint a resume replays, events, artifacts.

Read-only queries ``HistoryStore`` takes from ``RunDetails``; they use its
``_read`` transactions.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, or_, select

from automation.engine.events import StepStatus
from supervisor.store.artifacts import ArtifactContent, list_artifacts, load_content
from supervisor.store.errors import AmbiguousRunId, RunNotFound
from supervisor.store.records import (
    ArtifactRecord,
    EventRecord,
    RunRecord,
    StepRecord,
    run_record,
    step_record,
)
from supervisor.store.run_filters import StatusFilter, filtered
from supervisor.store.schema import events, runs, step_runs

#: Candidates an ambiguous short run id is answered with.
AMBIGUOUS_SHOWN = 5
#: What a run id or a prefix of one may be (``api.models.RUN_ID_PATTERN``).
_ID_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")


class RunDetails:
    """Lists of runs; a run's steps, checkpoint, events and artifacts (mixed into HistoryStore)."""

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def steps(self, run_id: str) -> list[StepRecord]:
        """Every attempt of every step of the run, in step then attempt order."""
        with self._read() as connection:
            rows = connection.execute(
                select(step_runs)
                .where(step_runs.c.run_id == run_id)
                .order_by(step_runs.c.step, step_runs.c.attempt)
            ).all()
        return [step_record(row) for row in rows]

    def checkpoint(self, run_id: str) -> dict[int, StepRecord]:
        """The steps a resumed run must not run again: step number -> its succeeded attempt."""
        with self._read() as connection:
            rows = connection.execute(
                select(step_runs)
                .where(
                    step_runs.c.run_id == run_id,
                    step_runs.c.status == StepStatus.SUCCEEDED.value,
                )
                .order_by(step_runs.c.step, step_runs.c.attempt)
            ).all()
        return {row.step: step_record(row) for row in rows}

    def reusable_steps(self, run_id: str) -> dict[int, StepRecord]:
        """``checkpoint`` plus the steps the run itself reused from the run it re-ran.

        A re-run (from a node, from the failed node) replays the earlier run's
        steps without recording them as its own: only a ``node_replayed`` event
        says it reused them.  Re-running that re-run must reuse them too, so
        they are looked up where they came from (the run its ``rerun:ID``
        trigger names), along the whole chain.
        """
        found: dict[int, StepRecord] = {}
        seen: set[str] = set()
        wanted: set[int] | None = None  # None: every step of the first run
        current: str | None = run_id
        while current is not None and current not in seen:
            seen.add(current)
            own = self.checkpoint(current)
            for step, record in own.items():
                if (wanted is None or step in wanted) and step not in found:
                    found[step] = record
            with self._read() as connection:
                trigger = connection.execute(
                    select(runs.c.trigger).where(runs.c.id == current)
                ).scalar()
                replayed = {
                    row.step
                    for row in connection.execute(
                        select(events.c.step).where(
                            events.c.run_id == current, events.c.kind == "node_replayed"
                        )
                    )
                    if row.step is not None
                }
            missing = {step for step in replayed if step not in found}
            if not missing or not (trigger or "").startswith("rerun:"):
                break
            wanted = missing if wanted is None else (wanted & missing)
            current = str(trigger)[len("rerun:") :]
        return dict(sorted(found.items()))

    def retry_waits(self, run_id: str) -> dict[int, datetime]:
        """Steps between two attempts, waiting out a retry's backoff: step -> when it may go on.

        The engine records each wait as a ``node_retrying`` event (when it
        began, how long, which attempt comes next), so the end of the wait is
        in the history the moment it starts.  A step whose next attempt was
        recorded, or that succeeded, no longer waits.  A run taken over during
        the wait (its supervisor died) waits out what is left of it, instead
        of retrying at once, which would hammer what the backoff protects.
        """
        with self._read() as connection:
            waits = connection.execute(
                select(events.c.step, events.c.at, events.c.data)
                .where(events.c.run_id == run_id, events.c.kind == "node_retrying")
                .order_by(events.c.seq, events.c.id)
            ).all()
            if not waits:
                return {}
            attempts = connection.execute(
                select(step_runs.c.step, step_runs.c.attempt, step_runs.c.status).where(
                    step_runs.c.run_id == run_id
                )
            ).all()
        latest: dict[int, int] = {}
        done: set[int] = set()
        for row in attempts:
            latest[row.step] = max(latest.get(row.step, 0), row.attempt)
            if row.status == StepStatus.SUCCEEDED.value:
                done.add(row.step)
        found: dict[int, datetime] = {}
        for row in waits:
            data = row.data or {}
            delay, next_attempt = data.get("delay"), data.get("next_attempt")
            if row.step is None or not isinstance(delay, int | float):
                continue
            if not isinstance(next_attempt, int) or row.step in done:
                continue
            if latest.get(row.step, 0) >= next_attempt:
                found.pop(row.step, None)  # that attempt started: the wait is over
                continue
            found[row.step] = row.at + timedelta(seconds=float(delay))
        return found

    def events(
        self, run_id: str, after_seq: int = 0, limit: int | None = 1000
    ) -> list[EventRecord]:
        """The run's log, retries and replays, in sequence order, after ``after_seq``."""
        query = (
            select(events)
            .where(events.c.run_id == run_id, events.c.seq > after_seq)
            .order_by(events.c.seq, events.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [EventRecord.from_row(row) for row in rows]

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """The run's artifacts in the order they were recorded, with the size of each copy."""
        with self._read() as connection:
            return list_artifacts(connection, run_id)

    def artifact_content(self, run_id: str, artifact_id: int) -> ArtifactContent | None:
        """The copy of the run's artifact kept in the history, if one was kept."""
        with self._read() as connection:
            return load_content(connection, run_id, artifact_id)

    def list_runs(
        self,
        workflow: str | None = None,
        status: StatusFilter = None,
        limit: int | None = 50,
        before: str | datetime | None = None,
    ) -> list[RunRecord]:
        """Runs newest first.  Page with ``before``: the id of the last run of the previous page
        (exact, even when runs share a timestamp) or a datetime (runs queued before it)."""
        query = filtered(select(runs), workflow, status)
        with self._read() as connection:
            if isinstance(before, datetime):
                query = query.where(runs.c.queued_at < before)
            elif before is not None:
                key = connection.execute(
                    select(runs.c.queued_at, runs.c.id).where(runs.c.id == before)
                ).first()
                if key is None:
                    raise RunNotFound(before)
                query = query.where(
                    or_(
                        runs.c.queued_at < key.queued_at,
                        and_(runs.c.queued_at == key.queued_at, runs.c.id < key.id),
                    )
                )
            query = query.order_by(runs.c.queued_at.desc(), runs.c.id.desc())
            if limit is not None:
                query = query.limit(limit)
            rows = connection.execute(query).all()
        return [run_record(row) for row in rows]

    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids that start with ``prefix`` (a range scan of the primary key), at most ``limit``."""
        if not prefix:
            return []
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        query = (
            select(runs.c.id)
            .where(runs.c.id >= prefix, runs.c.id < upper)
            .order_by(runs.c.id)
            .limit(limit)
        )
        with self._read() as connection:
            return [str(row.id) for row in connection.execute(query)]

    def run_id_for(self, given: str) -> str:
        """The full id of the run ``given`` names: its id, or a unique prefix of it.

        As ``git`` takes a short commit id; every way of naming a run (this
        machine's CLI, any machine's API) goes through here, so they agree.
        ``RunNotFound`` when no id starts so; ``AmbiguousRunId`` listing
        the first candidates when several do.
        """
        wanted = given.strip()
        if not _ID_PREFIX.fullmatch(wanted):
            raise RunNotFound(wanted)  # no run id has these characters (nor none)
        matches = self.run_ids_with_prefix(wanted, limit=AMBIGUOUS_SHOWN + 1)
        if not matches and wanted.lower() != wanted:
            wanted = wanted.lower()  # typed in capitals: ours are lower-case hex
            matches = self.run_ids_with_prefix(wanted, limit=AMBIGUOUS_SHOWN + 1)
        if wanted in matches:
            return wanted  # a whole id, even if a longer one starts with it
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFound(given.strip())
        more = len(matches) > AMBIGUOUS_SHOWN
        raise AmbiguousRunId(given.strip(), matches[:AMBIGUOUS_SHOWN], more)

    def count_runs(self, workflow: str | None = None, status: StatusFilter = None) -> int:
        query = filtered(select(func.count()).select_from(runs), workflow, status)
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())
