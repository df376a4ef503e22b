"""Evidence of a worker about to be killed: its stacks, process tree, log tail, screen."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from automation.errors import DeskpilotError
from automation.redaction import Redactor
from supervisor.masking import evidence_redactor
from supervisor.runtime import SupervisorBase
from supervisor.stacks import python_stacks
from supervisor.workers import (
    ExitReason,
    WorkerHandle,
    display_available,
    grab_screen_png,
    save_evidence,
    tail,
)

logger = logging.getLogger(__name__)


class Evidence(SupervisorBase):
    async def _collect_and_kill(self, worker: WorkerHandle, reason: ExitReason) -> None:
        run_id = worker.run_id
        if run_id:
            stuck = reason in (ExitReason.HUNG, ExitReason.TIMED_OUT, ExitReason.NOT_STARTED)
            path = self.artifacts_dir / run_id / f"worker-{worker.id}-{reason}.json"
            log_path = self.worker_log(worker.id) if self.worker_log else None
            extra = {"worker_id": worker.id, "heartbeats": worker.heartbeats}
            redactor = await self._evidence_redactor(run_id)
            try:
                await self._in_store(
                    collect_evidence, path, worker.pid, reason, log_path, extra, stuck, redactor
                )
                await self._in_store(
                    self.store.add_artifact,
                    run_id,
                    str(path),
                    kind="evidence",
                    description=f"worker {reason}",
                )
            except (OSError, DeskpilotError) as exc:
                logger.warning("could not save evidence for worker %s: %s", worker.pid, exc)
            if stuck:
                await self._screen_evidence(worker, reason)
        self.kill_process(worker.pid)

    async def _evidence_redactor(self, run_id: str) -> Redactor | None:
        """The secrets this run can read, from the keyring, to mask its evidence with.

        In a thread with a deadline: a keyring that does not answer must not
        stall the loop; then what may carry a secret is withheld.
        """
        active = self.active.get(run_id)
        text = active.entry.text if active is not None else None
        try:
            return await asyncio.wait_for(asyncio.to_thread(evidence_redactor, text), timeout=5.0)
        except TimeoutError:
            logger.warning("the keyring did not answer; evidence of run %s is withheld", run_id)
            return None

    async def _screen_evidence(self, worker: WorkerHandle, reason: ExitReason) -> None:
        """A screenshot before the kill, for runs holding the desktop: the screen is evidence.

        Taken in a thread with a deadline, so a wedged X server cannot stall the loop
        that watches every other worker.
        """
        run_id = worker.run_id
        active = self.active.get(run_id) if run_id else None
        if run_id is None or active is None or "desktop" not in active.entry.resources:
            return
        if not display_available():
            return
        path = self.artifacts_dir / run_id / f"worker-{worker.id}-{reason}-screen.png"
        try:
            await asyncio.wait_for(asyncio.to_thread(grab_screen_png, path), timeout=3.0)
            await self._in_store(
                self.store.add_artifact,
                run_id,
                str(path),
                kind="screenshot",
                description=f"the screen when the worker was found {reason}",
            )
        except Exception as exc:  # no display, a refused grab, a full disk: evidence is optional
            logger.warning("could not take a screenshot for worker %s: %s", worker.pid, exc)


def collect_evidence(
    path: Path,
    pid: int,
    reason: ExitReason,
    log_path: Path | None,
    extra: dict[str, Any],
    stuck: bool,
    redactor: Redactor | None,
) -> Path:
    """Write what is known of a worker about to be killed (blocking: runs off the loop).

    A stuck worker's stacks come from py-spy, read from outside (it works on a
    stopped process, which cannot run its own faulthandler); the faulthandler
    dump that ``_kill`` asked for lands in the log tail, read a moment later.
    All of it is masked with ``redactor`` (``supervisor.masking``).
    """
    asked = time.monotonic()
    if stuck:
        extra = {**extra, "python_stacks": python_stacks(pid)}
        # give faulthandler a moment to write its dump into the log
        time.sleep(max(0.0, 0.05 - (time.monotonic() - asked)))
    return save_evidence(
        path,
        pid=pid,
        reason=str(reason),
        log_tail=tail(log_path, redactor=redactor) if log_path else "",
        extra=extra,
        redactor=redactor,
    )
