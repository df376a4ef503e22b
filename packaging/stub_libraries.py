"""Replace bundled libraries Deskpilot never calls with small stubs that fail loudly.

    python packaging/stub_libraries.py BUNDLE_DIR      # build_app.sh runs it after PyInstaller

OpenCV's wheel links FFmpeg (video files and cameras) and OpenBLAS (matrix
algebra) into ``cv2.abi3.so``, and numpy's wheel links its own OpenBLAS: the
dynamic loader refuses to load ``cv2`` or ``numpy`` without them, although
Deskpilot only matches, converts, resizes, blurs, draws on and encodes images
(no video, no linear algebra).  Together they are about 115 MB of the bundle.

For each library in ``STUBS`` this writes, compiles and puts in its place a
stub with the same file name and soname that defines every symbol the rest of
the bundle takes from it (with the same symbol versions), each one a function
that prints which symbol was called and why it is missing, then aborts: a
call that should never happen stops the process with that message instead of
returning a made-up answer.  Libraries only the replaced ones needed (AV1
and VP8/9 codecs, gfortran's runtime) are then needed by nothing and deleted.
``--self-check`` of the bundle proves that matching, PNG encoding and OCR
still load and work.

Needs binutils (``nm``, ``readelf``) and a C compiler, as any PyInstaller
build machine has.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: (file name pattern under _internal/, why it may be left out)
STUBS: tuple[tuple[str, str], ...] = (
    ("opencv_python_headless.libs/libavcodec-*.so*", "video decoding (FFmpeg)"),
    ("opencv_python_headless.libs/libavformat-*.so*", "video files (FFmpeg)"),
    ("opencv_python_headless.libs/libavutil-*.so*", "video (FFmpeg)"),
    ("opencv_python_headless.libs/libswscale-*.so*", "video scaling (FFmpeg)"),
    ("opencv_python_headless.libs/libaom-*.so*", "AV1 images (libaom)"),
    ("opencv_python_headless.libs/libopenblas*.so*", "OpenCV's linear algebra (OpenBLAS)"),
    ("numpy.libs/libscipy_openblas*.so*", "numpy's linear algebra (OpenBLAS)"),
)

#: Symbols a stub implements for real, because they are called whether Deskpilot needs them or
#: not: numpy's import checks its BLAS with a float32 dot product (numpy's ``_sanity_check``).
#: Plain loops (blasint is 64-bit in numpy's ILP64 OpenBLAS); numpy's dot uses them for
#: float32/float64 vectors, so they must be right, not merely present.
IMPLEMENTED: dict[str, str] = {
    "scipy_cblas_sdot64_": """
float scipy_cblas_sdot64_(long n, const float *x, long incx, const float *y, long incy) {
    double sum = 0.0;
    long ix = incx < 0 ? (1 - n) * incx : 0, iy = incy < 0 ? (1 - n) * incy : 0;
    for (long i = 0; i < n; i++, ix += incx, iy += incy) sum += (double)x[ix] * (double)y[iy];
    return (float)sum;
}""",
    "scipy_cblas_ddot64_": """
double scipy_cblas_ddot64_(long n, const double *x, long incx, const double *y, long incy) {
    double sum = 0.0;
    long ix = incx < 0 ? (1 - n) * incx : 0, iy = incy < 0 ? (1 - n) * incy : 0;
    for (long i = 0; i < n; i++, ix += incx, iy += incy) sum += x[ix] * y[iy];
    return sum;
}""",
}

_SYMBOL = re.compile(r"^\s*(?:[0-9a-f]+\s+)?(?P<kind>[A-Za-z])\s+(?P<name>\S+)$")


@dataclass(frozen=True)
class Wanted:
    """A symbol some bundled file takes from the library: its name, version and kind."""

    name: str
    version: str | None
    data: bool


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _elf_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and (".so" in path.name or path.suffix == ""):
            with path.open("rb") as stream:
                if stream.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _needed(path: Path) -> set[str]:
    out = _run("readelf", "-dW", str(path))
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def _soname(path: Path) -> str:
    found = re.search(
        r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", _run("readelf", "-dW", str(path))
    )
    return found.group(1) if found else path.name


def _symbols(path: Path, *, defined: bool) -> dict[str, str]:
    """name (with @VERSION when versioned) -> nm's kind letter."""
    flag = "--defined-only" if defined else "--undefined-only"
    symbols: dict[str, str] = {}
    for line in _run("nm", "-D", flag, str(path)).splitlines():
        match = _SYMBOL.match(line)
        if match:
            symbols[match["name"]] = match["kind"]
    return symbols


def wanted_from(library: Path, users: list[Path]) -> list[Wanted]:
    """Every symbol that ``users`` import and ``library`` defines."""
    defined = {name.split("@")[0]: kind for name, kind in _symbols(library, defined=True).items()}
    wanted: dict[str, Wanted] = {}
    for user in users:
        for name in _symbols(user, defined=False):
            base, _, version = name.partition("@")
            version = version.lstrip("@") or None
            if base in defined:
                data = defined[base] in "BDGRSbdgrsV"
                wanted[base] = Wanted(base, version, data)
    return sorted(wanted.values(), key=lambda w: w.name)


def stub_source(library: str, reason: str, wanted: list[Wanted]) -> str:
    lines = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "static void missing(const char *symbol) {",
        '    fprintf(stderr, "deskpilot: %s was called, but %s is left out of this bundle "'
        '"(%s is not used by Deskpilot)\\n", symbol, "' + library + '", "' + reason + '");',
        "    abort();",
        "}",
    ]
    for entry in wanted:
        if entry.name in IMPLEMENTED:
            lines.append(IMPLEMENTED[entry.name].strip())
        elif entry.data:
            lines.append(f"char {entry.name}[64];")
        else:
            lines.append(f'void {entry.name}(void) {{ missing("{entry.name}"); }}')
    return "\n".join(lines) + "\n"


def version_script(wanted: list[Wanted]) -> str | None:
    versions = sorted({w.version for w in wanted if w.version})
    if not versions:
        return None
    blocks = []
    for version in versions:
        names = "".join(f" {w.name};" for w in wanted if w.version == version)
        blocks.append(f"{version} {{ global:{names} }};")
    unversioned = [w.name for w in wanted if not w.version]
    if unversioned:
        blocks.append("{ global: " + " ".join(f"{n};" for n in unversioned) + " local: *; };")
    return "\n".join(blocks) + "\n"


def build_stub(library: Path, reason: str, users: list[Path]) -> int:
    """Replace ``library`` with a stub; return how many symbols it defines."""
    wanted = wanted_from(library, users)
    soname = _soname(library)
    with tempfile.TemporaryDirectory(prefix="deskpilot-stub-") as scratch:
        source = Path(scratch) / "stub.c"
        source.write_text(stub_source(library.name, reason, wanted), encoding="utf-8")
        command = ["cc", "-shared", "-fPIC", "-O1", "-s", f"-Wl,-soname,{soname}"]
        script = version_script(wanted)
        if script is not None:
            (Path(scratch) / "stub.map").write_text(script, encoding="utf-8")
            command.append(f"-Wl,--version-script={Path(scratch) / 'stub.map'}")
        built = Path(scratch) / "stub.so"
        subprocess.run([*command, "-o", str(built), str(source)], check=True)
        library.unlink()
        built.replace(library)
        library.chmod(0o755)
    return len(wanted)


def unneeded(root: Path, folders: set[Path]) -> list[Path]:
    """Libraries in ``folders`` that no bundled ELF file needs any more."""
    files = _elf_files(root)
    needed: set[str] = set()
    for path in files:
        needed |= _needed(path)
    return [
        path
        for path in files
        if path.parent in folders and path.name not in needed and _soname(path) not in needed
    ]


def stub_bundle(bundle: Path) -> list[str]:
    internal = bundle / "_internal"
    report: list[str] = []
    files = _elf_files(bundle)
    folders: set[Path] = set()
    for pattern, reason in STUBS:
        targets = [
            p
            for p in files
            if p.is_relative_to(internal)
            and fnmatch.fnmatch(p.relative_to(internal).as_posix(), pattern)
        ]
        for library in targets:
            names = {library.name, _soname(library)}
            users = [p for p in files if p != library and _needed(p) & names]
            before = library.stat().st_size
            count = build_stub(library, reason, users)
            folders.add(library.parent)
            report.append(
                f"stubbed {library.relative_to(internal)}: {before / 1e6:.1f} MB -> "
                f"{library.stat().st_size / 1e3:.0f} kB, {count} symbols ({reason})"
            )
    removed: set[Path] = set()
    while leftovers := unneeded(bundle, folders):
        for path in leftovers:
            removed.add(path)
            report.append(
                f"removed {path.relative_to(internal)} ({path.stat().st_size / 1e6:.1f} MB), needed by nothing now"
            )
            path.unlink()
    # PyInstaller links each grafted library into _internal/ too; drop the links left dangling
    for link in internal.iterdir():
        if link.is_symlink() and (link.parent / link.readlink()) in removed:
            link.unlink()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="the one-folder bundle (build/dist/deskpilot)")
    args = parser.parse_args(argv)
    if not (args.bundle / "_internal").is_dir():
        parser.error(f"{args.bundle} has no _internal folder: not a one-folder bundle")
    for line in stub_bundle(args.bundle):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
