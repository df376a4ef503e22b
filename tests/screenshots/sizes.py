"""The command line the screenshot scripts share: one child process a screen size.

Each size gets a process of its own (Qt binds to the display it first opens, and a
private Xvfb is made per size), so a script's ``main`` parses its options with
``size_parser`` and, unless it is that child, calls ``shoot_each_size``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def size_parser(module: str, sizes: Sequence[str]) -> argparse.ArgumentParser:
    """OUTDIR, ``--size`` (repeatable, default ``sizes``) and the hidden ``--child``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("outdir", type=Path)
    parser.add_argument(
        "--size", action="append", help=f"WIDTHxHEIGHT; repeat (default: {', '.join(sizes)})"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def shoot_each_size(module: str, outdir: Path, sizes: Sequence[str], *options: str) -> int:
    """``python -m MODULE OUTDIR --size SIZE --child OPTIONS`` for each size; 1 if any failed."""
    failed = 0
    for size in sizes:
        command = [sys.executable, "-m", module, str(outdir), "--size", size, "--child", *options]
        failed += subprocess.run(command, check=False, timeout=300).returncode != 0
    return 1 if failed else 0
