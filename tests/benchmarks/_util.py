"""Shared pieces of the benchmarks: child processes, memory figures, medians and tables.

Each scenario runs in a fresh child process so that its peak RSS is its own:
``ru_maxrss`` only ever grows, so two scenarios measured in one process would
report the larger of the two peaks for both.  The orchestrating parent stays
small on purpose (it imports neither the engine nor Robot Framework): on
Linux an ``exec`` carries the parent's high-water mark into the child's
``ru_maxrss``, so a heavy parent would inflate every child's figure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The repository root: children run from here so ``tests`` is importable.
ROOT = Path(__file__).resolve().parents[2]

MIB = 1024 * 1024


def peak_rss_mib() -> float | None:
    """Peak resident set size of this process so far, in MiB (None where unknown).

    Linux updates the high-water mark behind ``ru_maxrss`` lazily (RSS counters
    are synced every few dozen page faults), so it can read a little below the
    RSS right now; the peak is at least that.
    """
    try:
        import resource
    except ImportError:  # Windows
        return _psutil_peak()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    peak_mib = peak / MIB if sys.platform == "darwin" else peak / 1024
    return max(peak_mib, current_rss_mib())


def _psutil_peak() -> float | None:
    import psutil

    peak = getattr(psutil.Process().memory_info(), "peak_wset", None)
    return None if peak is None else peak / MIB


def current_rss_mib() -> float:
    """Resident set size right now, in MiB: to tell what setup costs from what the run adds."""
    import psutil

    return float(psutil.Process().memory_info().rss) / MIB


def load_average() -> float | None:
    """The 1-minute load average, where the OS has one: context for noisy wall times."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class ChildResult:
    """What one scenario's child process reported, or why it reported nothing."""

    data: dict[str, Any]
    error: str | None = None


#: Runs the benchmark file in argv[1] as ``__main__``, with this file (argv[2]) standing for
#: ``tests.benchmarks._util``, the other modules of its folder found there first (a benchmark's
#: own helpers), and the working folder first on ``sys.path`` for the rest.
IN_TREE = """\
import importlib.util, os, runpy, sys
import tests.benchmarks
script, util = sys.argv[1], sys.argv.pop(2)
tests.benchmarks.__path__.insert(0, os.path.dirname(util))
spec = importlib.util.spec_from_file_location("tests.benchmarks._util", util)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def tree_process(module: str, args: Sequence[str], tree: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run this checkout's benchmark ``module`` against the
    product code of ``tree`` (another checkout sharing the venv, e.g. an older commit).

    The benchmark's own file, this module and the other modules of this folder (its helpers,
    such as ``_supervisord``) come from this checkout, so both trees are measured by the same
    code; everything else it imports (``automation``, ``supervisor``,
    the test helpers that drive them, which must match the product they drive) comes from
    ``tree``, whose folder is the working directory and ``PYTHONPATH`` (ahead of the
    venv's editable install).
    """
    script = ROOT / (module.replace(".", "/") + ".py")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return [sys.executable, "-c", IN_TREE, str(script), __file__, *args], env


def run_child(
    module: str, args: Sequence[str], *, timeout: float, tree: Path | None = None
) -> ChildResult:
    """Run ``python -m module args`` and read the JSON object on its last stdout line;
    with ``tree``, against that checkout's code (``tree_process``)."""
    command, env = [sys.executable, "-m", module, *args], None
    if tree is not None:
        command, env = tree_process(module, args, tree)
    try:
        done = subprocess.run(
            command,
            cwd=tree or ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ChildResult({}, f"did not finish within {timeout:g} s: {' '.join(args)}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return ChildResult({}, f"exit status {done.returncode} for {' '.join(args)}:\n{tail}")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError:
        return ChildResult({}, f"no JSON result on stdout for {' '.join(args)}: {lines[-1]!r}")
    if not isinstance(data, dict):
        return ChildResult({}, f"unexpected result for {' '.join(args)}: {data!r}")
    return ChildResult(data)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: text columns left-aligned, columns that hold numbers right-aligned."""
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    numeric = [
        all(_looks_numeric(row[index]) for row in rows if row[index] not in ("", "-"))
        for index in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _looks_numeric(text: str) -> bool:
    """Digits with the separators our cells use: 1,234.5  0.1-0.2  74.1 / 77.5."""
    cleaned = "".join(char for char in text if char not in ",.-/ ")
    return cleaned.isdigit()


def ratio(old: float | None, new: float | None) -> str:
    """``new / old`` for a comparison table's last column ('-' when either is missing or 0)."""
    if old is None or new is None or old == 0:
        return "-"
    return f"{new / old:.2f}"


def fmt(value: float | None, digits: int = 0) -> str:
    """A number for a table cell, with thousands separators; '-' for nothing."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"
