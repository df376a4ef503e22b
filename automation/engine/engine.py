"""The engine: runs workflow graphs, one run per call, in the calling thread.

``Engine`` holds what stays the same from run to run (the block registry,
the clock, where events go, the secret store, where artifacts are saved);
``RunOptions`` says what is particular to one run (its id, what resumed it,
its deadline, its debugger).  ``Engine.run`` returns a ``RunResult``.

The work itself is spread by noun over this package: ``execution`` (one run:
its loop, attempts, retries, failures), ``dataflow`` (which nodes an emission
makes ready), ``frames`` (the run's work stack), ``plan`` (what is worked out
once per node), ``resume`` (the step a dead worker left in flight),
``options``, ``result``, ``events``, ``debugger`` and ``watchdog``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from automation.blocks.registry import BlockRegistry
from automation.clock import SYSTEM_CLOCK, Clock
from automation.engine.events import EventSink
from automation.engine.execution import Execution
from automation.engine.options import RunOptions
from automation.engine.plan import step_timeout
from automation.engine.result import RunResult
from automation.inputs import coerce_inputs
from automation.loader import LoadedWorkflow

_NEW_RUN = RunOptions()


class SecretSource(Protocol):
    def get(self, name: str) -> str | None: ...


class Engine:
    """Runs workflows.  One engine may run many workflows, one at a time per thread."""

    def __init__(
        self,
        registry: BlockRegistry,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sink: EventSink | None = None,
        secrets: SecretSource | None = None,
        artifacts_dir: Path | None = None,
        seed: int | None = None,
        environ: Mapping[str, str] | None = None,
        kill_grace: float = 2.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.sink = sink
        self.secrets = secrets
        self.artifacts_dir = artifacts_dir
        self.seed = seed
        self.environ = dict(os.environ if environ is None else environ)
        self.kill_grace = kill_grace

    def close(self) -> None:
        """Nothing to release today; kept so callers need not change when there is."""

    def run(
        self,
        loaded: LoadedWorkflow,
        inputs: Mapping[str, Any] | None = None,
        options: RunOptions = _NEW_RUN,
    ) -> RunResult:
        """Run ``loaded`` to the end and return its result; events go to the sink.

        Bad inputs raise ``WorkflowError`` before the run starts; everything
        after that ends as a ``RunResult`` (failed, cancelled...), never as an
        exception.  ``options`` (``RunOptions``) describes the run: a plain
        ``RunOptions()`` is a new manual run; a resumed run carries its
        checkpoint there.
        """
        values = (
            dict(inputs or {})
            if options.inputs_validated
            else coerce_inputs(loaded.workflow, inputs or {})
        )
        return Execution(self, loaded, values, options).execute()


# ``step_timeout`` (automation.engine.plan) and ``coerce_inputs`` (automation.inputs) are
# also named here for supervisor/core.py, which imports them from this module.
__all__ = ["Engine", "RunOptions", "RunResult", "SecretSource", "coerce_inputs", "step_timeout"]
