"""No import cycles among ``supervisor/`` modules, found statically by reading their imports.

Every import counts, wherever it stands: at the top, inside a function, or
under ``TYPE_CHECKING``.  An import moved into a function only hides a cycle
from the interpreter; the modules still depend on each other, and the fix is
to move the shared thing to a module both can import (a Protocol, a record).
Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so those
count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "supervisor"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _with_parents(name: str, known: set[str], importer: str) -> set[str]:
    """``name`` and the packages above it that are ours (their ``__init__`` runs first).

    A package the importer itself lies in is left out: its ``__init__`` has
    already started by the time the importer runs, whatever it re-exports.
    """
    found = set()
    pieces = name.split(".")
    for end in range(1, len(pieces) + 1):
        candidate = ".".join(pieces[:end])
        if candidate in known and not importer.startswith(candidate + "."):
            found.add(candidate)
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets |= _with_parents(alias.name, known, this)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets |= _with_parents(source, known, this)
            for alias in node.names:  # ``from pkg import submodule``
                sub = f"{source}.{alias.name}"
                if sub in known:
                    targets.add(sub)
    targets.discard(this)
    return targets


def import_graph() -> dict[str, set[str]]:
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    known = {module_name(path) for path in files}
    return {module_name(path): imports_of(path, known) for path in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_detector_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


#: Cycles known today, to be removed, never added to.  The triggers' helper modules are
#: parts of ``TriggerManager`` split into files; they name it for the type checker only
#: (under ``TYPE_CHECKING``), while it imports them.  Typing them against a Protocol of
#: what they use removes this; the test fails once it is gone, so the entry goes too.
KNOWN = [
    [
        "supervisor.triggers.chain",
        "supervisor.triggers.deferral",
        "supervisor.triggers.manager",
        "supervisor.triggers.passes",
        "supervisor.triggers.webhooks",
    ]
]


def test_supervisor_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "supervisor.core" in graph
    found = cycles(graph)
    new = [component for component in found if component not in KNOWN]
    assert not new, "import cycles among supervisor modules:\n" + "\n".join(
        " <-> ".join(component) for component in new
    )
    gone = [component for component in KNOWN if component not in found]
    assert not gone, f"these cycles are gone; take them out of KNOWN: {gone}"


def test_the_daemon_the_api_and_the_triggers_import_in_one_direction() -> None:
    graph = import_graph()
    assert "supervisor.daemon" not in graph["supervisor.triggers.manager"]
    assert not {m for m in graph if m.startswith("supervisor.api")} & set().union(
        *(graph[m] for m in graph if m.startswith("supervisor.triggers"))
    )
    assert "supervisor.daemon" not in set().union(
        *(graph[m] for m in graph if m.startswith("supervisor.api"))
    )
