"""Running a workflow in this process with its history recorded: ``deskpilot run``.

This wires the engine to the history store, the keyring and a progress
view.  The supervisor's workers use the same engine but report over a pipe;
here the CLI process is the only writer of the database for the run.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import FrameType
from typing import Any

from automation.blocks.context import CancelToken
from automation.blocks.registry import BlockRegistry
from automation.engine.debugger import Debugger
from automation.engine.engine import Engine
from automation.engine.events import Event
from automation.engine.hold import SessionHold
from automation.engine.options import RunOptions, StepCheckpoint
from automation.engine.result import RunResult
from automation.errors import WorkflowError, WorkflowInvalid
from automation.inputs import coerce_inputs, read_input_text
from automation.loader import LoadedWorkflow, read_workflow_file
from automation.redaction import RedactingFilter, Redactor, process_redactor, redact_logging
from automation.secrets import SecretStore, secret_store_from_env
from automation.validation import referenced_secrets, validate
from supervisor.debugging import cut_checkpoint
from supervisor.paths import DeskpilotPaths
from supervisor.store.recorder import Recorder
from supervisor.store.store import HistoryStore

logger = logging.getLogger(__name__)


def known_secret_names(
    loaded: LoadedWorkflow, store: SecretStore | None = None
) -> list[str] | None:
    """Secret names in the keyring, asked for only when the workflow uses secrets."""
    if not referenced_secrets(loaded.workflow):
        return None
    return (store or secret_store_from_env()).names()


@dataclass
class LocalRun:
    loaded: LoadedWorkflow
    inputs: dict[str, Any]
    result: RunResult
    redactor: Redactor


@contextmanager
def cancel_on_signals(token: CancelToken) -> Iterator[None]:
    """Ctrl-C or SIGTERM cancels the run cleanly; a second Ctrl-C aborts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if token.is_set():
            raise KeyboardInterrupt
        token.set("cancelled")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def attach_file_log(paths: DeskpilotPaths, redactor: Redactor | None = None) -> logging.Handler:
    """A rotating log file for this command, with secrets masked (by default, the process's)."""
    handler = RotatingFileHandler(
        paths.log_dir / "deskpilot.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    redact_logging()  # and the console handler the command line set up
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
        for existing in logging.getLogger().handlers:
            if existing is not handler and existing.level == logging.NOTSET:
                existing.setLevel(logging.WARNING)
    return handler


@dataclass(frozen=True)
class EarlierRun:
    """What "run from here" reuses of an earlier run: its inputs and the steps before the node."""

    run_id: str
    inputs: dict[str, Any]
    checkpoint: dict[int, StepCheckpoint]


def reuse_before(
    store: HistoryStore, workflow: str, node_id: str, run_id: str | None = None
) -> EarlierRun:
    """The steps of ``run_id`` (default: ``workflow``'s newest finished run) before ``node_id``.

    The same cut the supervisor makes for a re-run from a node
    (``supervisor.debugging.cut_checkpoint``), so both run from the same place.
    """
    if run_id is None:
        finished = [r for r in store.list_runs(workflow=workflow, limit=50) if r.status.terminal]
        if not finished:
            raise WorkflowError(
                f"'{workflow}' has no finished run to reuse the outputs of; run it once "
                "first, or name one with --of RUN_ID"
            )
        record = finished[0]
    else:
        found = store.get_run(run_id)
        if found is None:
            raise WorkflowError(f"no run with id '{run_id}'; see 'deskpilot runs list'")
        if found.workflow_name != workflow:
            raise WorkflowError(
                f"run {run_id} is a run of '{found.workflow_name}', not of '{workflow}'"
            )
        if not found.status.terminal:
            raise WorkflowError(f"run {run_id} is {found.status}; only a finished run is reused")
        record = found
    steps = {
        str(step): {
            "node_id": rec.node_id,
            "emissions": rec.emissions or [],
            "vars_set": rec.vars_set or {},
        }
        for step, rec in store.reusable_steps(record.id).items()
    }
    kept = cut_checkpoint(steps, node_id)
    return EarlierRun(
        run_id=record.id,
        inputs=dict(record.inputs or {}),
        checkpoint={
            int(step): StepCheckpoint(
                node_id=data["node_id"], emissions=data["emissions"], vars_set=data["vars_set"]
            )
            for step, data in kept.items()
        },
    )


def _read_text(loaded: LoadedWorkflow, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Text inputs read by their declared types, as ``coerce_inputs(from_text=True)`` does."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        spec = loaded.workflow.inputs.get(name)
        if spec is not None and isinstance(value, str):
            try:
                value = read_input_text(name, spec, value)
            except ValueError as exc:
                raise WorkflowError(str(exc)) from None
        values[name] = value
    return values


def _drives_desktop(loaded: LoadedWorkflow, registry: BlockRegistry) -> bool:
    return any(
        "desktop" in block.resources
        for node in loaded.workflow.nodes.values()
        if not node.disabled and (block := registry.get(node.block)) is not None
    )


@contextmanager
def _session_hold(hold: SessionHold | None, token: CancelToken) -> Iterator[None]:
    """Watch the session for ``hold`` while the run lasts; Ctrl+C wakes a held run."""
    if hold is None:
        yield
        return
    from supervisor.session_thread import hold_while_unusable

    token.add_listener(lambda _reason: hold.wake())
    with hold_while_unusable(hold):
        yield


def run_file(
    path: Path,
    raw_inputs: Mapping[str, Any],
    *,
    paths: DeskpilotPaths,
    on_committed: Callable[[Sequence[Event]], None] | None = None,
    before_start: Callable[[LoadedWorkflow], None] | None = None,
    inputs_from_text: bool = True,
    registry: BlockRegistry | None = None,
    secrets: SecretStore | None = None,
    trigger: str = "manual",
    debugger: Callable[[CancelToken], Debugger] | None = None,
    breakpoints: Sequence[str] = (),
    run_from: str | None = None,
    earlier_run: str | None = None,
) -> LocalRun:
    """Validate, record and run one workflow file; return when it has finished.

    ``debugger``, given the run's cancel token, makes the step debugger that
    pauses the run (``deskpilot run --break``); ``breakpoints`` are checked
    against the workflow's nodes first.  ``run_from`` is "run from here": the
    node runs again with what follows it, reusing the outputs of the steps
    before it from ``earlier_run`` (by default the workflow's newest finished
    run) and that run's inputs, over which ``raw_inputs`` are laid.
    Everything the run reported is committed before this returns.
    """
    registry = registry or BlockRegistry.with_builtins()
    loaded = read_workflow_file(path)
    secret_store = secrets
    names = None
    if referenced_secrets(loaded.workflow):
        secret_store = secret_store or secret_store_from_env()
        names = secret_store.names()
    issues = validate(loaded, registry, secret_names=names)
    if issues:
        raise WorkflowInvalid(issues)
    known = ", ".join(sorted(loaded.workflow.nodes))
    unknown = [node for node in breakpoints if node not in loaded.workflow.nodes]
    if unknown:
        raise WorkflowError(
            f"{path}: --break names no node of this workflow: {', '.join(unknown)} "
            f"(its nodes: {known})"
        )
    if run_from is not None and run_from not in loaded.workflow.nodes:
        raise WorkflowError(
            f"{path}: --from names no node of this workflow: {run_from} (its nodes: {known})"
        )
    gc.freeze()  # what is loaded lives as long as the command; spare the collector the walk
    paths.ensure()
    store = HistoryStore.open(paths.database_url)
    checkpoint: dict[int, StepCheckpoint] | None = None
    if run_from is not None:
        try:
            earlier = reuse_before(store, loaded.workflow.name, run_from, earlier_run)
        except BaseException:
            store.close()
            raise
        checkpoint = earlier.checkpoint
        trigger = f"rerun:{earlier.run_id}"
    try:
        if run_from is not None:
            # the earlier run's values are typed already; only what was typed now is text
            given = {n: v for n, v in earlier.inputs.items() if n in loaded.workflow.inputs}
            given.update(_read_text(loaded, raw_inputs) if inputs_from_text else raw_inputs)
            inputs = coerce_inputs(loaded.workflow, given)
        else:
            inputs = coerce_inputs(loaded.workflow, raw_inputs, from_text=inputs_from_text)
    except BaseException:
        store.close()
        raise
    redactor = Redactor(parent=process_redactor())
    log_handler = attach_file_log(paths)
    recorder = Recorder(store, on_committed=on_committed)
    engine = Engine(
        registry, sink=recorder, secrets=secret_store, artifacts_dir=paths.artifacts_dir
    )
    token = CancelToken()
    debug = debugger(token) if debugger is not None else None
    # a desktop run holds while the screen is locked, as it would under the supervisor
    hold = SessionHold() if _drives_desktop(loaded, registry) else None
    try:
        store.save_workflow_version(loaded.workflow.name, str(path.resolve()), loaded.text)
        if before_start is not None:
            before_start(loaded)
        with cancel_on_signals(token), _session_hold(hold, token):
            options = RunOptions(
                run_id=uuid.uuid4().hex,
                trigger=trigger,
                cancel=token,
                redactor=redactor,
                inputs_validated=True,
                debugger=debug,
                checkpoint=checkpoint or {},
                hold=hold,
            )
            result = engine.run(loaded, inputs, options)
    finally:
        try:
            recorder.close()
        finally:
            engine.close()
            store.close()
            logging.getLogger().removeHandler(log_handler)
            log_handler.close()
    return LocalRun(loaded=loaded, inputs=inputs, result=result, redactor=redactor)
