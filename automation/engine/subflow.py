"""A subflow: a node that runs another workflow file as a child run and returns its outputs.

The child is loaded and validated when the node runs, gets a run id of its
own (``parent_run_id`` links the two in history), shares the parent's
redactor (a secret the child reads is masked in the parent's events too), and
inherits the node's deadline.  Cancelling the parent cancels the child.  The
child's failure, cancellation or timeout becomes the node's error, which the
node's retry policy and ``error`` pin then handle like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from automation.blocks.context import CancelToken
from automation.engine.events import RunStatus
from automation.engine.options import RunOptions
from automation.errors import BlockError, StepCancelled, StepTimeout, WorkflowError
from automation.inputs import coerce_inputs

if TYPE_CHECKING:
    from automation.engine.execution import Execution

#: How deep subflows may nest: deeper is almost surely a workflow that calls itself.
MAX_SUBFLOW_DEPTH = 16


def run_subflow(
    parent: Execution, path: Path, inputs: dict[str, Any], deadline: float | None
) -> dict[str, Any]:
    """Run the workflow at ``path`` as a child of ``parent``; its outputs, or a step error."""
    from automation.engine.execution import Execution  # the parent's own kind; a cycle at import
    from automation.validation import load_valid

    if parent.depth + 1 >= MAX_SUBFLOW_DEPTH:
        raise BlockError(
            f"subflows nest deeper than {MAX_SUBFLOW_DEPTH} levels; does '{path}' call itself?",
            retryable=False,
        )
    try:
        child = load_valid(path, parent.engine.registry)
        values = coerce_inputs(child.workflow, inputs)
    except WorkflowError as exc:
        raise BlockError(f"subflow {path}: {exc}", retryable=False) from None
    token = CancelToken()
    parent_token = parent.current_token or parent.cancel
    parent_token.add_listener(token.set)
    try:
        options = RunOptions(
            trigger=f"subflow:{parent.run_id}",
            cancel=token,
            parent_run_id=parent.run_id,
            deadline=deadline if deadline is not None else parent.deadline,
            redactor=parent.redactor,
            depth=parent.depth + 1,
            hold=parent.hold,
        )
        run = Execution(parent.engine, child, values, options)
        # one desktop: the child's steps go on from the window the parent's last acted on,
        # and the parent's next step from the child's (BlockContext.run_state)
        run.block_state = parent.block_state
        run.parent = parent  # time that is not the workflow's is not the caller's either
        result = run.execute()
    finally:
        parent_token.remove_listener(token.set)
    if result.status is RunStatus.CANCELLED:
        raise StepCancelled(f"subflow {child.workflow.name} was cancelled")
    if (
        not result.ok
        and deadline is not None
        and parent.clock.monotonic() >= deadline
        and (parent.current_token is None or parent.current_token.reason != "cancelled")
    ):
        raise StepTimeout(f"subflow {child.workflow.name} ran past this node's deadline")
    if not result.ok:
        where = f" at node '{result.failed_node}'" if result.failed_node else ""
        raise BlockError(
            f"subflow {child.workflow.name} failed{where}: {result.error}", retryable=False
        )
    return result.outputs
