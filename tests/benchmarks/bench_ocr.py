"""OCR benchmark: which engine and which way of reading, on real apps and a full screen.

    .venv/bin/python -m tests.benchmarks.bench_ocr [--runs 5]

Starts its own Xvfb (1920x1080x24) with openbox (title bars, as on a desktop),
a private D-Bus session and accessibility bus, and three Debian apps: xterm
showing a known paragraph, mousepad editing a known file, galculator showing
12*34 = 408.  Then, for each engine, it reads

* the xterm window, the mousepad window and galculator's display (crops), and
* the whole screen, once in one pass and once window by window (``ocr.read_screen``),

and prints one table: words of the known texts found (recall), whether the
calculator's 408 was read, and the median time per read (the model load is
not counted: every engine reuses one instance).  A second table gives target
resolution times: an accessibility selector found and not found, element_at,
and an OCR text anchor in a window and on the whole screen.

Engines: Tesseract 5 through tesserocr (one reused API object, ``psm`` 11 =
sparse text, image enlarged 2x: what ``automation/blocks/desktop/ocr.py``
does), the same at Tesseract's defaults (``psm`` 3, no enlarging), the
``tesseract`` command through pytesseract, and rapidocr-onnxruntime (a PyPI
package that ships its model) when it is importable; it is not a dependency
(``pip install rapidocr-onnxruntime`` to include it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

XTERM_TEXT = (
    "The quick brown fox jumps over the lazy dog while seven calm engineers "
    "measure reading speed on real desktop apps today alpha bravo charlie delta echo"
)
MOUSEPAD_TEXT = (
    "Quarterly report draft\n"
    "Revenue grew faster than expected in every region\n"
    "Send the summary to finance before Friday"
)


def norm(word: str) -> str:
    return word.strip("\"'`.,;:!?()[]{}<>|").casefold()


def recall(expected: str, read: list[str]) -> tuple[int, int]:
    want = Counter(norm(w) for w in expected.split() if norm(w))
    got = Counter(norm(w) for w in read if norm(w))
    return sum(min(n, got[w]) for w, n in want.items()), sum(want.values())


Reader = Callable[[Any], list[str]]


def engines() -> dict[str, Reader | str]:
    import cv2
    import tesserocr

    from automation.blocks.desktop import ocr
    from automation.blocks.desktop.display import Box

    found: dict[str, Reader | str] = {}
    tessdata = ocr.tessdata_dir()

    def ours(image: Any) -> list[str]:
        h, w = image.shape[:2]
        return [word.text for word in ocr.read_image(image, Box(0, 0, w, h))]

    found["tesserocr psm11 x2 (ours)"] = ours

    def ours_x1(image: Any) -> list[str]:
        h, w = image.shape[:2]
        return [word.text for word in ocr.read_image(image, Box(0, 0, w, h), upscale=1.0)]

    found["tesserocr psm11 x1"] = ours_x1
    plain = tesserocr.PyTessBaseAPI(path=tessdata, lang="eng", psm=tesserocr.PSM.AUTO)

    def tesserocr_default(image: Any) -> list[str]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        plain.SetImageBytes(gray.tobytes(), w, h, 1, w)
        return str(plain.GetUTF8Text()).split()

    found["tesserocr psm3 x1"] = tesserocr_default
    try:
        import pytesseract  # type: ignore[import-untyped]

        def cli(image: Any) -> list[str]:
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            big = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
            return str(pytesseract.image_to_string(big, config="--psm 11")).split()

        found["pytesseract (CLI) psm11 x2"] = cli
    except ImportError:
        found["pytesseract (CLI) psm11 x2"] = "not installed (pip install pytesseract)"
    try:
        from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-not-found]

        rapid = RapidOCR()

        def rapidocr(image: Any) -> list[str]:
            result, _ = rapid(image)
            return [w for item in result or [] for w in str(item[1]).split()]

        found["rapidocr-onnxruntime"] = rapidocr
    except ImportError:
        found["rapidocr-onnxruntime"] = "not installed (pip install rapidocr-onnxruntime)"
    return found


def timed(reader: Callable[[], list[str]], runs: int) -> tuple[list[str], float]:
    words = reader()  # warm-up (and the result we score)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        reader()
        times.append(time.perf_counter() - start)
    return words, statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed reads per cell (median)")
    args = parser.parse_args()
    for program in ("Xvfb", "openbox", "xterm", "mousepad", "galculator", "xdotool"):
        if shutil.which(program) is None:
            print(f"{program} is missing: bash packaging/system-deps.sh", file=sys.stderr)
            return 2

    from tests.helpers.a11y import start_a11y
    from tests.helpers.common import eventually
    from tests.helpers.xvfb import start_xvfb

    folder = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    display = start_xvfb(xauthority_dir=folder)
    os.environ.update(DISPLAY=display.name, XAUTHORITY=str(display.xauthority))
    try:
        with start_a11y(display) as session:
            return run(session, folder, args.runs, eventually)
    finally:
        display.stop()


def run(session: Any, folder: Path, runs: int, eventually: Any) -> int:
    from automation.blocks.desktop import accessibility as a11y
    from automation.blocks.desktop import ocr
    from automation.blocks.desktop.display import Box, grab
    from automation.blocks.desktop.windows import list_windows

    wm = subprocess.Popen(["openbox"], env=session.env(), stderr=subprocess.DEVNULL)
    text_file = folder / "report.txt"
    text_file.write_text(MOUSEPAD_TEXT + "\n", encoding="utf-8")
    xterm_file = folder / "xterm.txt"
    xterm_file.write_text(XTERM_TEXT + "\n", encoding="utf-8")
    started = [
        subprocess.Popen(
            [
                "xterm",
                "-geometry",
                "100x12+40+60",
                "-e",
                "sh",
                "-c",
                f"fold -w 60 -s {xterm_file}; sleep 600",
            ],
            env=session.env(),
        )
    ]
    try:
        mousepad = session.launch(["mousepad", str(text_file)], "mousepad")
        galculator = session.launch(["galculator"], "galculator")
        started += [mousepad, galculator]
        for key in "12*34=":
            name = a11y.sel.quote(key)
            a11y.click(a11y.find(f"app=galculator / ... / button[name={name}]"))
        display_box = eventually(
            lambda: (
                a11y.read_text(a11y.find("app=galculator / ... / text")) == "408"
                and a11y.find("app=galculator / ... / text").box
            )
        )

        def window_of(pid: int) -> Box:
            return eventually(
                lambda: next(
                    (w.box for w in list_windows(include_hidden=False) if w.pid == pid), None
                ),
                timeout=10,
            )

        xterm_box = eventually(
            lambda: next(
                (
                    w.box
                    for w in list_windows(include_hidden=False)
                    if "xterm" in w.title.lower() or w.title.startswith("sh")
                ),
                None,
            ),
            timeout=10,
        )
        crops = {
            "xterm window": (grab(xterm_box)[0], XTERM_TEXT),
            "mousepad window": (grab(window_of(mousepad.pid))[0], MOUSEPAD_TEXT),
            "galculator display": (grab(display_box)[0], "408"),
        }
        time.sleep(0.5)  # let the last repaint land before the full-screen grab
        screen, origin = grab()
        every = f"{XTERM_TEXT} {MOUSEPAD_TEXT} 408"
        rows = []
        for engine, reader in engines().items():
            if isinstance(reader, str):
                rows.append([engine, reader])
                continue
            cells = [engine]
            for image, expected in crops.values():
                words, ms = timed(lambda image=image, reader=reader: reader(image), runs)
                hit, total = recall(expected, words)
                cells.append(f"{hit}/{total} in {ms:.0f} ms")
            words, ms = timed(lambda reader=reader: reader(screen), max(1, runs // 2))
            hit, total = recall(every, words)
            cells.append(f"{hit}/{total} in {ms:.0f} ms")
            rows.append(cells)
        words_by_window, ms = timed(
            lambda: [w.text for w in ocr.read_screen(screen, origin)], max(1, runs // 2)
        )
        hit, total = recall(every, words_by_window)
        print_table(rows, f"{hit}/{total} in {ms:.0f} ms")
        print_resolution(runs, window_of(galculator.pid))
    finally:
        for process in started:
            process.terminate()
        wm.terminate()
        for process in (*started, wm):
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def print_resolution(runs: int, calculator: Any) -> None:
    """How long a target takes to resolve: accessibility selectors and OCR text anchors."""
    from automation.blocks.desktop import accessibility as a11y
    from automation.blocks.desktop import ocr

    seven = "app=galculator / ... / button[name=7]"
    center = a11y.find(seven).center
    assert center is not None

    def missing() -> list[str]:
        try:
            a11y.find("app=galculator / ... / button[name=77]")
        except a11y.ElementNotFound:
            return []
        raise AssertionError("button 77 found")

    def text_in(region: Any) -> list[str]:
        words, _ = ocr.read_region(region)
        hit = ocr.find_one(words, "sqrt")
        return [hit.text] if hit is not None else []

    cases: list[tuple[str, Callable[[], list[str]]]] = [
        ("accessibility: find a key by selector", lambda: [a11y.find(seven).name]),
        ("accessibility: not found, with the closest", missing),
        ("accessibility: element_at (recorder)", lambda: [str(a11y.element_at(*center))]),
        ("OCR text anchor 'sqrt': galculator window", lambda: text_in(calculator)),
        ("OCR text anchor 'sqrt': whole screen", lambda: text_in(None)),
    ]
    print()
    print("| target resolution | median ms |")
    print("|---|---|")
    for name, case in cases:
        _, ms = timed(case, runs)
        print(f"| {name} | {ms:.1f} |")


def print_table(rows: list[list[str]], per_window: str) -> None:
    header = [
        "engine",
        "xterm window",
        "mousepad window",
        "galculator display",
        "full screen, one pass",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row + [""] * (len(header) - len(row))) + " |")
    print()
    print(f"ocr.read_screen (tesserocr, window by window, then the rest): {per_window}")
    print("cells: words of the known text found / words in it, median time per read")


if __name__ == "__main__":
    sys.exit(main())
