"""The link structure of a workflow, computed once and shared by validation and the engine."""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property

from automation.model import Link, Workflow


class WorkflowGraph:
    """Adjacency of enabled nodes.  Links that touch a disabled or unknown node are left out."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.nodes: list[str] = [nid for nid, node in workflow.nodes.items() if not node.disabled]
        enabled = set(self.nodes)
        self.links: list[Link] = [
            link for link in workflow.links if link.source in enabled and link.target in enabled
        ]
        self.incoming: dict[str, list[Link]] = defaultdict(list)
        self.outgoing: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for link in self.links:
            self.incoming[link.target].append(link)
            self.outgoing[link.source][link.source_pin].append((link.target, link.target_pin))
        # A link from a disabled node never delivers, but it still says the
        # target waits for that pin: what only a disabled node feeds never runs.
        self.silenced: dict[str, set[str]] = defaultdict(set)
        for link in workflow.links:
            if (
                link.target in enabled
                and link.source in workflow.nodes
                and link.source not in enabled
            ):
                self.silenced[link.target].add(link.target_pin)

    def linked_pins(self, node_id: str) -> frozenset[str]:
        """Pins that must receive a value before the node runs."""
        live = {link.target_pin for link in self.incoming.get(node_id, ())}
        return frozenset(live | self.silenced.get(node_id, set()))

    @cached_property
    def sources(self) -> list[str]:
        """Nodes with no incoming links: they run when the run starts, in file order."""
        return [
            nid for nid in self.nodes if not self.incoming.get(nid) and not self.silenced.get(nid)
        ]

    def successors(self, node_id: str) -> set[str]:
        return {t for targets in self.outgoing.get(node_id, {}).values() for t, _ in targets}

    def ancestors(self, node_id: str) -> set[str]:
        seen: set[str] = set()
        stack = [link.source for link in self.incoming.get(node_id, ())]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(link.source for link in self.incoming.get(current, ()))
        return seen

    def cycles(self) -> list[list[str]]:
        """Strongly connected components that form cycles (Tarjan, iterative)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        result: list[list[str]] = []
        counter = 0
        for root in self.nodes:
            if root in index:
                continue
            work: list[tuple[str, list[str]]] = [(root, sorted(self.successors(root)))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, pending = work[-1]
                if pending:
                    nxt = pending.pop()
                    if nxt not in index:
                        index[nxt] = low[nxt] = counter
                        counter += 1
                        stack.append(nxt)
                        on_stack.add(nxt)
                        work.append((nxt, sorted(self.successors(nxt))))
                    elif nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in self.successors(node):
                        order = {nid: i for i, nid in enumerate(self.nodes)}
                        result.append(sorted(component, key=order.__getitem__))
        return result
