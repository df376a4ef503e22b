"""Text on screen: Tesseract OCR into words with boxes, and fuzzy finding of a phrase.

Engine.  Tesseract (Debian ``tesseract-ocr`` + ``tesseract-ocr-eng`` for the
language data) through ``tesserocr``, with one API object per thread reused
for every read (loading the model costs ~100 ms; a read of a button label
costs a few ms).  Without ``tesserocr`` the ``tesseract`` command is run
instead (about 60 ms more per read).  ``tests/benchmarks/bench_ocr.py``
measures both and a PyPI OCR package that ships its own model; the figures
chose this order.  ``OMP_THREAD_LIMIT=1`` is set before Tesseract loads: its
OpenMP threads only contend with each other on small images.

Reading.  Screens are OCRed window by window (each visible top-level window's
box, clipped to the region asked for), then what no window covers: over a
whole screen with title bars and several windows Tesseract's page layout
analysis merges unrelated columns and loses words that a per-window read
finds (on a 1080p screen with openbox, xterm, mousepad and galculator: 21
of 45 known words in one pass, 45 of 45 window by window).  UI text is small,
so window images are enlarged ``UPSCALE`` times first (Tesseract is tuned for
~30 px capitals); page segmentation mode 11 (sparse text) suits UIs, where
text sits in short runs rather than paragraphs.

Finding.  ``find`` compares a phrase with every run of consecutive words on a
line, case- and punctuation-insensitively, by similarity (``difflib``'s ratio:
OCR confuses ``l``/``1``/``I`` and drops a letter, so equality is too strict).
Two distinct places scoring within ``margin`` of the best are ``AmbiguousText``,
never a pick.  Text of one to three characters is not matched fuzzily: ``locate``
hands it to ``short_text`` (exact reading, confirmed in isolation, and no unread
mark on screen that may show it too; measured there).  difflib is in the
standard library; rapidfuzz would be faster, but phrases are a few words and a
screen has a few hundred, so the whole search takes about a millisecond either
way.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import subprocess
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automation.blocks.desktop.display import Box, clip
from automation.errors import BlockError

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Image

#: How much to enlarge images before OCR: UI fonts are 10-14 px, Tesseract likes ~30.
UPSCALE = 2.0
#: Similarity (0..1) a phrase needs by default to count as found.
DEFAULT_SIMILARITY = 0.8
#: Another place within this much of the best similarity makes the phrase ambiguous.
DEFAULT_MARGIN = 0.05
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_APT = "apt-get install tesseract-ocr tesseract-ocr-eng"
_local = threading.local()
_PAD = 10
_PUNCTUATION = "\"'`.,;:!?()[]{}<>|«»“”‘’"


class OcrUnavailable(BlockError):
    """Tesseract or its language data is not installed."""

    retryable = False


class AmbiguousText(BlockError):
    """The phrase is on screen in several places about equally well; nothing was done."""

    retryable = False

    def __init__(self, message: str, matches: Sequence[TextMatch]) -> None:
        super().__init__(message)
        self.matches = list(matches)


class UnsureText(AmbiguousText):
    """Short text read in one place, but other marks on screen could not be read: it may
    be there too, so nothing was done."""


@dataclass(frozen=True)
class Word:
    text: str
    box: Box  # virtual-desktop pixels
    confidence: float  # 0..1, Tesseract's
    line: tuple[int, int, int, int]  # (region, block, paragraph, line): words of one line

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": self.box.as_list(), "confidence": self.confidence}


@dataclass(frozen=True)
class TextMatch:
    text: str  # what OCR read there
    box: Box
    score: float  # similarity 0..1
    confidence: float  # lowest word confidence of the span

    def describe(self) -> str:
        return f"{self.text!r} at {self.box.as_list()} (similarity {self.score:.2f})"


# -- engine ------------------------------------------------------------------------------------


def tessdata_dir() -> str:
    """Where the language data is: $TESSDATA_PREFIX, else Debian's folders."""
    for folder in (os.environ.get("TESSDATA_PREFIX", ""), *TESSDATA_DIRS):
        if folder and (Path(folder) / "eng.traineddata").exists():
            return folder.rstrip("/") + "/"
    raise OcrUnavailable(f"no Tesseract language data (eng.traineddata) found; {_APT}")


def engine_name() -> str:
    try:
        import tesserocr  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return "tesseract-cli"
    return "tesserocr"


def _api(language: str) -> Any:
    apis: dict[str, Any] = getattr(_local, "apis", None) or {}
    _local.apis = apis
    api = apis.get(language)
    if api is None:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        import tesserocr

        try:
            api = tesserocr.PyTessBaseAPI(
                path=tessdata_dir(), lang=language, psm=tesserocr.PSM.SPARSE_TEXT
            )
        except RuntimeError as exc:
            raise OcrUnavailable(f"Tesseract cannot load language {language!r}: {exc}") from None
        apis[language] = api
    return api


#: Page segmentation modes used: sparse text (a screen), one line (an isolated word).
_SPARSE, _LINE = 11, 7


def _tsv(gray: Image, language: str, timeout: float, psm: int = _SPARSE) -> str:
    """Tesseract's TSV output for a grayscale image."""
    height, width = gray.shape[:2]
    if engine_name() == "tesserocr":
        api = _api(language)
        if psm != _SPARSE:
            api.SetPageSegMode(psm)
        try:
            api.SetImageBytes(gray.tobytes(), width, height, 1, width)
            return str(api.GetTSVText(0))
        finally:
            if psm != _SPARSE:
                api.SetPageSegMode(_SPARSE)
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise OcrUnavailable(f"reading text on screen needs Tesseract; {_APT}")
    import cv2

    ok, png = cv2.imencode(".png", gray)
    if not ok:
        raise BlockError("could not encode the screen image for OCR")
    try:
        done = subprocess.run(
            [tesseract, "stdin", "stdout", "-l", language, "--psm", str(psm), "tsv"],
            input=png.tobytes(),
            capture_output=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
    except subprocess.TimeoutExpired:
        raise BlockError(f"tesseract did not finish reading within {timeout:g}s") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[:300]
        raise (
            OcrUnavailable(f"tesseract failed: {said}")
            if "traineddata" in said
            else BlockError(f"tesseract failed: {said}")
        )
    return done.stdout.decode(errors="replace")


def read_image(
    image: Image,
    origin: Box,
    *,
    region_id: int = 0,
    language: str = "eng",
    upscale: float = UPSCALE,
    timeout: float = 30.0,
) -> list[Word]:
    """Words in ``image`` (BGR, BGRA or gray), placed on screen by ``origin``."""
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image, to_gray_code(image))
    if upscale != 1.0:
        gray = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    # Tesseract misreads glyphs that touch the image's edge (a tight crop of one line):
    # give it a margin of the surrounding colour.
    gray = cv2.copyMakeBorder(gray, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REPLICATE)
    words: list[Word] = []
    for row in _tsv(gray, language, timeout).splitlines()[1:]:
        parts = row.split("\t")
        if len(parts) != 12 or not parts[11].strip() or parts[0] != "5":
            continue
        x, y, w, h = (int(v) for v in parts[6:10])
        x, y = x - _PAD, y - _PAD
        box = Box(
            origin.x + round(x / upscale),
            origin.y + round(y / upscale),
            max(1, round(w / upscale)),
            max(1, round(h / upscale)),
        )
        line = (region_id, int(parts[2]), int(parts[3]), int(parts[4]))
        words.append(Word(parts[11].strip(), box, max(0.0, float(parts[10])) / 100, line))
    return words


#: Readings of one-line images kept, by their pixels (``read_line``).
LINE_CACHE = 4096
_lines: OrderedDict[tuple[bytes, tuple[int, ...], str], tuple[str, float]] = OrderedDict()
_lines_lock = threading.Lock()


def read_line(gray: Image, language: str = "eng", timeout: float = 10.0) -> tuple[str, float]:
    """A prepared grayscale image read as one line: its words joined, and the lowest
    word confidence (0..1); ("", 0.0) when nothing was read.

    Readings are kept by the image's pixels: short text re-reads every unread mark
    of a window for each target, and most of them are the same pixels from one
    lookup to the next (the same grab, or a later grab of an unchanged window).
    Tesseract gives one image one reading, so a kept one is what it would say."""
    key = (hashlib.blake2b(gray.tobytes(), digest_size=16).digest(), gray.shape, language)
    with _lines_lock:
        kept = _lines.get(key)
        if kept is not None:
            _lines.move_to_end(key)
            return kept
    reading = _read_line(gray, language, timeout)
    with _lines_lock:
        _lines[key] = reading
        while len(_lines) > LINE_CACHE:
            _lines.popitem(last=False)
    return reading


def forget_lines() -> None:
    """Drop the kept one-line readings (a benchmark measuring the cost without them)."""
    with _lines_lock:
        _lines.clear()


def _read_line(gray: Image, language: str, timeout: float) -> tuple[str, float]:
    texts: list[str] = []
    confidences: list[float] = []
    for row in _tsv(gray, language, timeout, psm=_LINE).splitlines()[1:]:
        parts = row.split("\t")
        if len(parts) == 12 and parts[0] == "5" and parts[11].strip():
            texts.append(parts[11].strip())
            confidences.append(max(0.0, float(parts[10])) / 100)
    return " ".join(texts), min(confidences, default=0.0)


def to_gray_code(image: Image) -> int:
    import cv2

    return int(cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


def read_screen(
    screen: Image,
    origin: Box,
    *,
    windows: Sequence[Box] | None = None,
    language: str = "eng",
    timeout: float = 30.0,
) -> list[Word]:
    """Words on a screenshot, read window by window (see the module docstring).

    ``windows`` are the visible top-level windows' boxes, bottom first; None asks X.
    A word read in two overlapping passes is kept once (from the topmost window).
    """
    import cv2

    boxes = list(windows) if windows is not None else visible_windows()
    regions = [clip(box, origin) for box in reversed(boxes)]
    regions = [r for r in regions if r.width >= 8 and r.height >= 8]
    words: list[Word] = []
    for number, region in enumerate(regions, start=1):
        crop = screen[
            region.y - origin.y : region.y + region.height - origin.y,
            region.x - origin.x : region.x + region.width - origin.x,
        ]
        for word in read_image(crop, region, region_id=number, language=language, timeout=timeout):
            if not any(_overlap(word.box, w.box) > 0.5 for w in words):
                words.append(word)
    if _covers(regions, origin):
        return words
    # The rest (title bars, the desktop, panels): the screen with the windows blanked out,
    # so their text is not read twice nor mixed into these lines.
    rest = cv2.cvtColor(screen, to_gray_code(screen)) if screen.ndim == 3 else screen.copy()
    for region in regions:
        x, y = region.x - origin.x, region.y - origin.y
        rest[y : y + region.height, x : x + region.width] = 255
    # Title bars and panels use fonts big enough to read without enlarging (and blank
    # screen is cheap): this pass costs a third of an enlarged one.
    for word in read_image(
        rest, origin, region_id=0, language=language, upscale=1.0, timeout=timeout
    ):
        if not any(_overlap(word.box, w.box) > 0.5 for w in words):
            words.append(word)
    return words


def read_region(
    region: Box | None, *, language: str = "eng", timeout: float = 30.0
) -> tuple[list[Word], Box]:
    """Grab ``region`` (default: the whole desktop) and read it window by window; returns
    the words and the box actually grabbed (clipped to the desktop)."""
    from automation.blocks.desktop.display import grab

    image, box = grab(region)
    windows = [w for w in visible_windows() if _meets(w, box)]
    return read_screen(image, box, windows=windows, language=language, timeout=timeout), box


def _meets(a: Box, b: Box) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def visible_windows() -> list[Box]:
    """Boxes of the mapped top-level windows, bottom first; [] without X."""
    try:
        from automation.blocks.desktop.windows import list_windows

        return [w.box for w in list_windows(include_hidden=False)]
    except Exception:  # no X, or the window list changed under us: read the whole region
        return []


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    width = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    height = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    if width <= 0 or height <= 0:
        return 0.0
    return (width * height) / max(1, min(a.width * a.height, b.width * b.height))


def _covers(regions: Sequence[Box], area: Box) -> bool:
    return any(r.as_list() == area.as_list() for r in regions)


def lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped by line, lines top to bottom, words left to right."""
    grouped: dict[tuple[int, int, int, int], list[Word]] = {}
    for word in words:
        grouped.setdefault(word.line, []).append(word)
    ordered = [sorted(ws, key=lambda w: w.box.x) for ws in grouped.values()]
    return sorted(ordered, key=lambda ws: (min(w.box.y for w in ws), ws[0].box.x))


def text_of(words: Sequence[Word]) -> str:
    return "\n".join(" ".join(w.text for w in line) for line in lines(words))


# -- finding ----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case, accents' composition, surrounding punctuation and spacing do not count."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(word.strip(_PUNCTUATION) for word in text.split() if word.strip(_PUNCTUATION))


def similarity(a: str, b: str) -> float:
    a, b = normalise(a), normalise(b)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def find(
    words: Sequence[Word], phrase: str, *, similarity_min: float = DEFAULT_SIMILARITY
) -> list[TextMatch]:
    """Every distinct place the phrase is read at, best first (overlaps keep the best)."""
    wanted = normalise(phrase)
    if not wanted:
        return []
    size = len(wanted.split())
    found: list[TextMatch] = []
    for line in lines(words):
        for start in range(len(line)):
            for count in range(max(1, size - 1), size + 2):
                span = line[start : start + count]
                if len(span) < count:
                    break
                read = " ".join(w.text for w in span)
                score = similarity(wanted, read)
                if score >= similarity_min:
                    found.append(
                        TextMatch(
                            read,
                            union([w.box for w in span]),
                            score,
                            min(w.confidence for w in span),
                        )
                    )
    found.sort(key=lambda m: (-m.score, -m.confidence))
    distinct: list[TextMatch] = []
    for candidate in found:
        if not any(_overlap(candidate.box, kept.box) > 0.3 for kept in distinct):
            distinct.append(candidate)
    return distinct


def find_one(
    words: Sequence[Word],
    phrase: str,
    *,
    similarity_min: float = DEFAULT_SIMILARITY,
    margin: float = DEFAULT_MARGIN,
) -> TextMatch | None:
    """The one place the phrase is read at; None when nowhere; ``AmbiguousText`` when two
    distinct places score within ``margin`` of each other."""
    matches = find(words, phrase, similarity_min=similarity_min)
    if not matches:
        return None
    close = [m for m in matches if m.score >= matches[0].score - margin]
    if len(close) > 1:
        listing = "; ".join(m.describe() for m in close[:6])
        raise AmbiguousText(
            f"ambiguous text {phrase!r}: {len(close)} places read alike: {listing}. "
            "Narrow it with a region, more words, or an image or accessibility anchor",
            close,
        )
    return matches[0]


def locate(
    screen: Image,
    origin: Box,
    words: Sequence[Word],
    phrase: str,
    *,
    similarity_min: float = DEFAULT_SIMILARITY,
    margin: float = DEFAULT_MARGIN,
    language: str = "eng",
) -> TextMatch | None:
    """Where a text target is on ``screen`` (read into ``words``, placed by ``origin``).

    Longer phrases: ``find_one``.  Short ones (``short_text``) need an exact reading
    that an isolated re-read of its box confirms; every other place is no answer.
    None when nowhere; ``AmbiguousText`` when two places qualify."""
    from automation.blocks.desktop import short_text

    if not short_text.is_short(phrase):
        return find_one(words, phrase, similarity_min=similarity_min, margin=margin)
    return short_text.locate(screen, origin, words, phrase, language)


def closest(words: Sequence[Word], phrase: str, limit: int = 3) -> list[TextMatch]:
    """The best few places whatever their similarity: for 'not found' messages."""
    return find(words, phrase, similarity_min=0.0)[:limit]


def union(boxes: Sequence[Box]) -> Box:
    x0 = min(b.x for b in boxes)
    y0 = min(b.y for b in boxes)
    x1 = max(b.x + b.width for b in boxes)
    y1 = max(b.y + b.height for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)
