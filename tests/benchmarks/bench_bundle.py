"""Size of the one-folder PyInstaller bundle: the total and its largest entries.

Building takes minutes, so this is a benchmark, not a CI test::

    .venv/bin/python -m tests.benchmarks.bench_bundle                  # measures build/dist/deskpilot
    .venv/bin/python -m tests.benchmarks.bench_bundle --build          # builds it first (build_app.sh)
    .venv/bin/python -m tests.benchmarks.bench_bundle --before OLD_DIR # compares with another bundle

Entries are what ``du`` would count under ``_internal/`` (a folder is one entry,
with everything in it) plus the program itself; the target is 200 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_MB = 200.0


def tree_bytes(path: Path) -> int:
    """Bytes on disk under ``path`` (sizes of regular files; symlinks not followed)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def entries(bundle: Path) -> dict[str, int]:
    inside = bundle / "_internal"
    found = (
        {f"_internal/{p.name}": tree_bytes(p) for p in inside.iterdir()} if inside.is_dir() else {}
    )
    for program in bundle.iterdir():
        if program.is_file():
            found[program.name] = tree_bytes(program)
    return found


def mb(size: int) -> str:
    return f"{size / 1_048_576:8.1f} MB"


def report(bundle: Path, before: Path | None, top: int) -> int:
    now = entries(bundle)
    total = tree_bytes(bundle)
    old = entries(before) if before else {}
    old_total = tree_bytes(before) if before else 0
    print(f"bundle {bundle}: {mb(total).strip()} (target {TARGET_MB:.0f} MB)")
    if before:
        print(
            f"before {before}: {mb(old_total).strip()}  ({(old_total - total) / 1_048_576:+.1f} MB saved)"
        )
    header = f"| {'entry':<48} | {'size':>11} |" + (f" {'before':>11} |" if before else "")
    print(header)
    print("|" + "-" * 50 + "|" + "-" * 13 + "|" + ("-" * 13 + "|" if before else ""))
    for name, size in sorted(now.items(), key=lambda item: -item[1])[:top]:
        row = f"| {name:<48} | {mb(size)} |"
        if before:
            row += f" {mb(old[name]) if name in old else '(new)':>11} |"
        print(row)
    if before:
        gone = sorted(((size, name) for name, size in old.items() if name not in now), reverse=True)
        print(
            f"left out since before: {len(gone)} entries, {mb(sum(s for s, _ in gone)).strip()}; largest:"
        )
        for size, name in gone[:top]:
            print(f"  {mb(size)}  {name}")
    return 0 if total / 1_048_576 <= TARGET_MB else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "bundle", nargs="?", type=Path, default=ROOT / "build" / "dist" / "deskpilot"
    )
    parser.add_argument("--build", action="store_true", help="run packaging/build_app.sh first")
    parser.add_argument("--before", type=Path, help="another bundle folder to compare with")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if args.build:
        subprocess.run(["bash", str(ROOT / "packaging" / "build_app.sh")], check=True)
    if not (args.bundle / "deskpilot").is_file():
        sys.stderr.write(f"no bundle in {args.bundle}: bash packaging/build_app.sh, or --build\n")
        return 2
    return report(args.bundle, args.before, args.top)


if __name__ == "__main__":
    sys.exit(main())
