"""A node's plan: what the engine works out once about a node before running it.

Which inputs are literals, which are templates to render each time, which are
raw (handed to the block unrendered), which pins are linked, where each
output pin leads, and the node's retry policy and timeout.  Plans are made on
a node's first activation, so a 10,000-node workflow does not wait for all of
them before its first step.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from automation.blocks.base import Block
from automation.blocks.registry import BlockRegistry
from automation.errors import WorkflowInvalid
from automation.graph import WorkflowGraph
from automation.model import RetryPolicy, Workflow
from automation.templates import contains_template


@dataclass
class NodePlan:
    node_id: str
    block: type[Block[Any]]
    literal: dict[str, Any]
    templated: dict[str, Any]
    raw: dict[str, Any]
    linked: frozenset[str]
    #: Output pin -> the (node, input pin) pairs it feeds.
    out: dict[str, list[tuple[str, str]]]
    retry: RetryPolicy
    timeout: float | None
    #: The block is a generator (a loop): it emits many times from one attempt.
    streams: bool
    instance: Block[Any] | None = None

    def get_instance(self) -> Block[Any]:
        if self.instance is None:
            self.instance = self.block()
        return self.instance


def plan_node(
    workflow: Workflow, graph: WorkflowGraph, registry: BlockRegistry, node_id: str
) -> NodePlan:
    """Plan ``node_id`` of a workflow that was validated against ``registry``."""
    node = workflow.nodes[node_id]
    block = registry.get(node.block)
    if block is None:
        raise WorkflowInvalid([])  # validated before; defensive
    literal: dict[str, Any] = {}
    templated: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for name, value in node.with_.items():
        if name in block.raw_inputs:
            raw[name] = value
        elif contains_template(value):
            templated[name] = value
        else:
            literal[name] = value
    return NodePlan(
        node_id=node_id,
        block=block,
        literal=literal,
        templated=templated,
        raw=raw,
        linked=graph.linked_pins(node_id),
        out={pin: list(targets) for pin, targets in graph.outgoing.get(node_id, {}).items()},
        retry=workflow.node_retry(node_id),
        timeout=step_timeout(workflow, node_id, block),
        streams=inspect.isgeneratorfunction(block.run),
    )


def step_timeout(workflow: Workflow, node_id: str, block: type[Block[Any]] | None) -> float | None:
    """A node's timeout: its own, else the workflow's default, else the block's default.

    The supervisor uses the same answer for its backstop deadline, so a desktop
    step stuck where the engine cannot stop it (inside a helper program, or C
    code) is killed with its children, with evidence, like a hung one.
    """
    timeout = workflow.node_timeout(node_id)
    if timeout is None and block is not None:
        timeout = block.timeout_for(workflow.nodes[node_id].with_)
    return timeout
