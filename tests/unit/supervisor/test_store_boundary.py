"""Only the store reaches its database engine: everything else goes through its methods.

Queries written against ``store.engine`` elsewhere bypass what the store
guarantees (errors translated into messages a person can act on, the
deleted-file check before a write, the fenced status changes a fleet of
supervisors relies on), so they are kept inside ``supervisor/store/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def engine_uses(package: Path, *, outside: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(outside):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "engine":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_outside_the_store_touches_its_engine() -> None:
    supervisor = ROOT / "supervisor"
    assert engine_uses(supervisor, outside=supervisor / "store") == []


def test_the_check_sees_a_use() -> None:
    assert engine_uses(ROOT / "supervisor" / "store", outside=ROOT / "nothing") != []
