"""Squeeze out the zero padding patchelf leaves in the libraries auditwheel grafted into wheels.

    python packaging/compact_libraries.py BUNDLE_DIR      # build_app.sh runs it

auditwheel rewrites the libraries it copies into a wheel's ``*.libs`` folder
with patchelf, which appends LOAD segments aligned to 2 MiB: Tesseract's
libtiff and libwebpmux are 6 MB files of which 40 kB are code and data, and
tesserocr's libraries alone carry 19 MB of zeros.  This removes every gap
(bytes that no segment, section or header covers) in whole 4 KiB pages,
which keeps each segment's file offset congruent with its address modulo the
page size, lowers the alignment of the LOAD segments that moved to one page,
and shifts every file offset in the headers.  Addresses, and so the loaded
library, do not change.  The bundle's self-check loads and runs Tesseract.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

PAGE = 0x1000
PT_LOAD = 1
SHT_NOBITS = 8


def compact(path: Path) -> int:
    """Remove the padding of one library, in place; return how many bytes that saved."""
    data = bytearray(path.read_bytes())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian ELF64 file")
    (e_phoff, e_shoff) = struct.unpack_from("<QQ", data, 0x20)
    (e_phentsize, e_phnum, e_shentsize, e_shnum) = struct.unpack_from("<HHHH", data, 0x36)
    phdrs = [
        list(struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize))
        for i in range(e_phnum)
    ]
    shdrs = [
        list(struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize))
        for i in range(e_shnum)
    ]
    used: list[tuple[int, int]] = [(0, 0x40), (e_phoff, e_phoff + e_phnum * e_phentsize)]
    if e_shnum:
        used.append((e_shoff, e_shoff + e_shnum * e_shentsize))
    for p in phdrs:
        if p[5]:
            used.append((p[2], p[2] + p[5]))
    for s in shdrs:
        if s[1] != SHT_NOBITS and s[5]:
            used.append((s[4], s[4] + s[5]))
    used.sort()
    # gaps, in whole pages, between covered ranges
    cuts: list[tuple[int, int]] = []  # (old start of removed run, length)
    end = 0
    for start, stop in used:
        if start > end:
            first = (end + PAGE - 1) // PAGE * PAGE
            last = start // PAGE * PAGE
            if last > first:
                cuts.append((first, last - first))
        end = max(end, stop)
    if not cuts:
        return 0

    def moved(offset: int) -> int:
        return offset - sum(length for start, length in cuts if start + length <= offset)

    for start, length in cuts:
        if any(start < s < start + length for s, _ in used):
            raise ValueError(f"{path}: a covered range starts inside a gap")
    out = bytearray()
    position = 0
    for start, length in cuts:
        out += data[position:start]
        position = start + length
    out += data[position:]
    new_phoff, new_shoff = moved(e_phoff), moved(e_shoff) if e_shnum else e_shoff
    struct.pack_into("<QQ", out, 0x20, new_phoff, new_shoff)
    for i, p in enumerate(phdrs):
        new = moved(p[2])
        if p[0] == PT_LOAD and new != p[2] and p[7] > PAGE:
            p[7] = PAGE
        if p[0] == PT_LOAD and (new - p[3]) % PAGE:
            raise ValueError(f"{path}: segment {i} would lose its page congruence")
        p[2] = new
        struct.pack_into("<IIQQQQQQ", out, new_phoff + i * e_phentsize, *p)
    for i, s in enumerate(shdrs):
        if s[1] != SHT_NOBITS or s[4]:
            s[4] = moved(s[4])
        struct.pack_into("<IIQQQQIIQQ", out, new_shoff + i * e_shentsize, *s)
    path.write_bytes(bytes(out))
    return len(data) - len(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "_internal").is_dir():
        sys.stderr.write("usage: compact_libraries.py BUNDLE_DIR (a one-folder bundle)\n")
        return 2
    internal = Path(argv[0]) / "_internal"
    total = 0
    for folder in sorted(internal.glob("*.libs")):
        for library in sorted(folder.iterdir()):
            if library.is_file() and not library.is_symlink():
                saved = compact(library)
                total += saved
                if saved:
                    sys.stdout.write(
                        f"compacted {library.relative_to(internal)}: {saved / 1e6:.1f} MB less\n"
                    )
    sys.stdout.write(f"compacted the *.libs folders: {total / 1e6:.1f} MB less\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
