"""Helpers shared by the GUI tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "resources" / "examples"


def example_files() -> list[Path]:
    """Every example workflow, subflows included."""
    return sorted([*EXAMPLES.rglob("*.yaml"), *EXAMPLES.rglob("*.json")])
