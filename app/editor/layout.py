"""Auto-layout: layered, left to right, following the links.

A small Sugiyama-style layout is enough for workflows of up to a few
thousand nodes: each node goes one column right of its furthest predecessor
(longest path, with cycles broken at back edges found by a depth-first
search), then a few barycentre sweeps order each column to shorten links, and
nodes are stacked in their column by their real heights so that none overlap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

Position = tuple[float, float]

COLUMN_GAP = 70.0
ROW_GAP = 36.0
_SWEEPS = 4


def _acyclic_edges(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The edges minus the back edges of a DFS (iterative: graphs may be deep)."""
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        if source != target:
            successors[source].append(target)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    back: set[tuple[str, str]] = set()
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(successors[child])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return [(s, t) for s, t in edges if s != t and (s, t) not in back]


def _layers(nodes: Sequence[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering over an acyclic edge set (Kahn's order)."""
    incoming: dict[str, int] = {node: 0 for node in nodes}
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        successors[source].append(target)
        incoming[target] += 1
    layer = {node: 0 for node in nodes}
    ready = [node for node in nodes if incoming[node] == 0]
    while ready:
        node = ready.pop(0)
        for child in successors[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
    return layer


def layered_layout(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    sizes: Mapping[str, tuple[float, float]],
    origin: Position = (0.0, 0.0),
) -> dict[str, Position]:
    """Top-left positions for ``nodes`` so that links run left to right and nothing overlaps.

    ``edges`` are (source, target) node pairs (duplicates allowed); ``sizes``
    gives each node's (width, height).  Nodes keep their given order where the
    links do not decide it, so unlinked nodes form a stable first column.
    """
    known = set(nodes)
    usable = [(s, t) for s, t in edges if s in known and t in known]
    dag = _acyclic_edges(nodes, usable)
    layer_of = _layers(nodes, dag)
    columns: dict[int, list[str]] = defaultdict(list)
    for node in nodes:
        columns[layer_of[node]].append(node)
    parents: dict[str, list[str]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    for source, target in dag:
        parents[target].append(source)
        children[source].append(target)
    order = {node: index for column in columns.values() for index, node in enumerate(column)}
    count = max(columns) + 1 if columns else 0
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        for index in range(1, count) if forward else range(count - 2, -1, -1):
            neighbours = parents if forward else children
            column = columns[index]

            def barycentre(node: str, near: dict[str, list[str]] = neighbours) -> float:
                linked = near[node]
                if not linked:
                    return float(order[node])
                return sum(order[n] for n in linked) / len(linked)

            column.sort(key=lambda node: (barycentre(node), order[node]))
            order.update({node: i for i, node in enumerate(column)})
    positions: dict[str, Position] = {}
    x = origin[0]
    for index in range(count):
        column = columns[index]
        y = origin[1]
        for node in column:
            positions[node] = (x, y)
            y += sizes[node][1] + ROW_GAP
        x += max(sizes[node][0] for node in column) + COLUMN_GAP
    return positions


#: the room a new node is given: a node's width, a typical height, and a margin around it
NEW_NODE = (230.0, 110.0)
MARGIN = 30.0


def free_spot(
    occupied: Sequence[tuple[float, float, float, float]],
    anchor: tuple[float, float],
    size: tuple[float, float] = NEW_NODE,
) -> tuple[float, float]:
    """The top-left corner nearest ``anchor`` where a node of ``size`` overlaps none of ``occupied``.

    ``occupied`` holds (x, y, width, height) boxes of the nodes there.  Candidates lie
    on a grid of node-sized cells around the anchor, nearest first, so a new node lands
    beside what the user is looking at instead of on top of it or far below.
    """
    width, height = size
    step_x, step_y = width + MARGIN, height / 2 + MARGIN

    def free(x: float, y: float) -> bool:
        return all(
            x + width + MARGIN <= ox or ox + ow + MARGIN <= x
            or y + height + MARGIN <= oy or oy + oh + MARGIN <= y
            for ox, oy, ow, oh in occupied
        )  # fmt: skip

    cells = sorted(
        ((i, j) for i in range(-8, 9) for j in range(-16, 17)),
        key=lambda c: (c[0] * step_x) ** 2 + (c[1] * step_y) ** 2,
    )
    for i, j in cells:
        x, y = anchor[0] + i * step_x, anchor[1] + j * step_y
        if free(x, y):
            return x, y
    # a canvas full around the anchor: below everything
    bottom = max((oy + oh for _, oy, _, oh in occupied), default=anchor[1])
    return anchor[0], bottom + MARGIN
