"""Rebuild the bundled ICU data library without the locale data Qt never reads.

    python packaging/trim_icu_data.py BUNDLE_DIR      # build_app.sh runs it after PyInstaller

Qt's wheel ships ICU with all of its data in one library, ``libicudata.so.NN``
(31 MB): one read-only symbol, ``icudtNN_dat``, holding an ICU data package.
Qt takes case mapping, normalisation, text converters and collation from ICU;
its locales (number and date formats, language and territory names) come from
Qt's own CLDR tables.  So the display names of languages, regions, currencies,
units and time zones in every locale, transliterators and spelled-out number
rules are data nothing in the bundle asks for (15 MB).  This takes the package out of the library, removes those items with
ICU's ``icupkg`` (which refuses to remove an item another one still refers to),
and assembles a library with the same soname and symbol around what is left.
Each category keeps its root and index (a locale whose item is gone falls back
to root, as ICU does for any locale it has no data for).  Collation with
every language's tailoring (``QCollator``, the file dialog's sort order),
converters, break rules and dictionaries, normalisation and the locale core
data stay.

Needs ``icupkg`` (Debian's icu-devtools; any ICU version reads the package
format) and binutils' ``nm`` and ``readelf``, and a C compiler.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
import tempfile
from pathlib import Path

#: Item patterns (inside the package, without its ``icudtNNl/`` prefix) that are removed.
REMOVE: tuple[str, ...] = (
    "lang/*",
    "region/*",
    "curr/*",
    "unit/*",
    "zone/*",  # display names, per locale
    "translit/*",  # transliterators (Any-Latin, ...)
    "rbnf/*",  # spelled-out numbers
)
#: Kept although matched above: each category's root, index and shared string pool.
KEEP: tuple[str, ...] = ("*/root.res", "*/res_index.res", "*/pool.res")


def _run(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=cwd).stdout


def package_bytes(library: Path) -> tuple[str, bytes]:
    """The data symbol's name and its bytes, read through the library's program headers."""
    found = None
    for line in _run("nm", "-D", "-S", "--defined-only", str(library)).splitlines():
        match = re.match(r"^([0-9a-f]+) ([0-9a-f]+) [Rr] (icudt\d+_dat)$", line.strip())
        if match:
            found = (int(match[1], 16), int(match[2], 16), match[3])
    if found is None:
        raise ValueError(f"{library}: no icudtNN_dat symbol; not an ICU data library")
    address, size, symbol = found
    for line in _run("readelf", "-lW", str(library)).splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, vaddr, filesz = int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)
            if vaddr <= address and address + size <= vaddr + filesz:
                start = offset + address - vaddr
                return symbol, library.read_bytes()[start : start + size]
    raise ValueError(f"{library}: {symbol} lies in no LOAD segment")


def removable(items: list[str]) -> list[str]:
    return [
        item
        for item in items
        if any(fnmatch.fnmatch(item, p) for p in REMOVE)
        and not any(fnmatch.fnmatch(item, p) for p in KEEP)
    ]


def trim_library(library: Path) -> str:
    """Replace ``library`` with a trimmed one; return a line saying what changed."""
    symbol, data = package_bytes(library)
    name = symbol.removesuffix("_dat") + "l"  # icudt73l: the package name icupkg expects
    soname = re.search(
        r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", _run("readelf", "-dW", str(library))
    )
    with tempfile.TemporaryDirectory(prefix="deskpilot-icu-") as scratch:
        work = Path(scratch)
        package = work / f"{name}.dat"
        package.write_bytes(data)
        items = _run("icupkg", "-l", str(package)).split()
        gone = removable(items)
        (work / "remove.txt").write_text("\n".join(gone) + "\n", encoding="utf-8")
        _run("icupkg", "-r", "remove.txt", package.name, cwd=work)
        left = _run("icupkg", "-l", str(package)).split()
        if len(left) != len(items) - len(gone):
            raise RuntimeError(
                f"{library}: icupkg left {len(left)} items, expected {len(items) - len(gone)}"
            )
        (work / "data.S").write_text(
            "\n".join(
                [
                    ".section .rodata",
                    f".globl {symbol}",
                    f".type {symbol}, @object",
                    ".balign 16",
                    f"{symbol}:",
                    f'.incbin "{package}"',
                    f".size {symbol}, . - {symbol}",
                    '.section .note.GNU-stack,"",@progbits',
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        built = work / "out.so"
        command = ["cc", "-shared", "-nostdlib", "-s", "-o", str(built), str(work / "data.S")]
        if soname:
            command.insert(3, f"-Wl,-soname,{soname.group(1)}")
        subprocess.run(command, check=True)
        before = library.stat().st_size
        library.unlink()
        built.replace(library)
        library.chmod(0o755)
    return (
        f"trimmed {library.name}: {before / 1e6:.1f} MB -> {library.stat().st_size / 1e6:.1f} MB, "
        f"{len(gone)} of {len(items)} items removed (locale display names, transliterators, "
        "spelled-out numbers)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="the one-folder bundle (build/dist/deskpilot)")
    args = parser.parse_args(argv)
    libraries = sorted(
        p for p in args.bundle.rglob("libicudata.so*") if p.is_file() and not p.is_symlink()
    )
    if not libraries:
        parser.error(f"{args.bundle} holds no libicudata.so: nothing to trim")
    for library in libraries:
        sys.stdout.write(trim_library(library) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
