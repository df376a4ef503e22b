"""Finding a template image on a screenshot, tolerant of display scale and theme.

The search is OpenCV's normalised cross-correlation (``TM_CCOEFF_NORMED``) in
three layers, each only tried when the one before found nothing:

1. **Scales.**  A template captured at 100 % is searched at the scales a
   display is likely to use (1.0, 1.25, 1.5, 0.8, ...), most likely first,
   stopping at the first confident hit.  A caller that knows the scale it last
   matched at puts it first.
2. **Coarse to fine.**  Each scale is searched on a downscaled copy of the
   screen (cheap), and the few best coarse peaks are re-scored at full
   resolution in a small window around them (exact).  That keeps a find on a
   1920x1080 screen in single-digit milliseconds instead of the ~100 ms of a
   full-resolution correlation.
3. **Edges.**  On a miss, the same search runs on blurred Canny edge maps of
   template and screen.  A light-to-dark palette change inverts intensities
   (the grey correlation becomes negative) but leaves the outlines where they
   were, so the edge maps still correlate.

A strongly *negative* grey correlation also counts as a match (reported with
method ``inverted``): a dark theme usually maps light to dark and dark to light
monotonically, which flips the sign of the correlation and nothing else.

A near-uniform template (a patch of background, a blank button face)
correlates with every flat area of the screen; it is refused up front with
``TemplateTooUniform`` instead of producing confident false matches.

All coordinates returned are Python ints relative to the searched image.

OpenCV and numpy are imported inside the functions that use them: the block
registry loads this module (through the image blocks) in the supervisor, which
validates workflows but never matches anything, and should not carry them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]
    FloatImage: TypeAlias = npt.NDArray[Any]

#: Display scales worth trying, most likely first.
DEFAULT_SCALES: tuple[float, ...] = (1.0, 1.25, 1.5, 0.8, 0.67, 1.75, 2.0)
#: Below this grey-level standard deviation a template carries no shape to match.
MIN_TEMPLATE_STDDEV = 6.0
#: Edge correlation is naturally lower than grey correlation; its bar sits this much lower.
EDGE_CONFIDENCE_DROP = 0.0
#: An edge match also needs this much grey correlation (of either sign) at its spot.
EDGE_GREY_SUPPORT = 0.6
#: A hit this good ends the search over scales early.
EARLY_STOP = 0.95
#: A light/dark-swapped match must correlate at least this well.
INVERTED_CONFIDENCE = 0.9
_EDGE_CONFIDENCE_FLOOR = 0.8
_COARSE_MIN_SIDE = 6
_COARSE_PEAKS = 5
_REFINE_PAD = 3


class TemplateTooUniform(ValueError):
    """The template is (almost) one flat colour, so any flat area would match it."""


@dataclass(frozen=True)
class Match:
    x: int
    y: int
    width: int
    height: int
    score: float
    scale: float
    method: str  # "gray", "color" or "edges"

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def as_dict(self, dx: int = 0, dy: int = 0) -> dict[str, object]:
        cx, cy = self.center
        return {
            "x": cx + dx,
            "y": cy + dy,
            "box": [self.x + dx, self.y + dy, self.width, self.height],
            "score": round(self.score, 4),
            "scale": self.scale,
            "method": self.method,
        }


@dataclass
class SearchResult:
    matches: list[Match]
    #: The best candidate seen even when it was below the bar: evidence for failures.
    best: Match | None
    scales_tried: list[float] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.matches)


def to_gray(image: Image) -> Image:
    import cv2

    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def to_bgr(image: Image) -> Image:
    import cv2

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def check_template(template: Image) -> float:
    """The template's grey standard deviation; raises if it is too flat to match."""
    spread = float(to_gray(template).std())
    if spread < MIN_TEMPLATE_STDDEV:
        raise TemplateTooUniform(
            f"the template is almost one flat colour (contrast {spread:.1f}, need at least "
            f"{MIN_TEMPLATE_STDDEV}); it would match any empty area. Capture a template that "
            "includes text, an icon or a border"
        )
    return spread


def edge_map(gray: Image) -> Image:
    """Blurred Canny edges: the outline of things, independent of their colours."""
    import cv2

    edges = cv2.Canny(gray, 50, 150)
    return cv2.GaussianBlur(edges, (3, 3), 0)


def _shrink(image: Image, factor: float) -> Image:
    import cv2

    if factor == 1:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class _Feature:
    """What is correlated: grey levels, or edge maps.  Screen copies are cached per factor.

    Edge maps of the whole screen are computed at half resolution (Canny on a
    full 1920x1080 frame costs more than the rest of the search); the exact
    re-scoring computes full-resolution edges of a small window only.
    """

    def __init__(self, gray: Image, kind: str) -> None:
        self.gray = gray
        self.kind = kind
        self._cache: dict[int, Image] = {}

    def prepare(self, image: Image, factor: int) -> Image:
        """The feature image of ``image`` (grey) as seen at 1/``factor`` resolution."""
        if self.kind == "gray":
            return _shrink(image, factor)
        if factor == 1:
            return edge_map(image)
        return _shrink(edge_map(_shrink(image, 2)), factor / 2)

    def screen(self, factor: int) -> Image:
        if factor not in self._cache:
            self._cache[factor] = self.prepare(self.gray, factor)
        return self._cache[factor]

    def window(self, x0: int, y0: int, x1: int, y1: int) -> Image:
        if self.kind == "gray":
            return self.gray[y0:y1, x0:x1]
        margin = 4
        h, w = self.gray.shape[:2]
        ax0, ay0 = max(0, x0 - margin), max(0, y0 - margin)
        ax1, ay1 = min(w, x1 + margin), min(h, y1 + margin)
        edges = edge_map(self.gray[ay0:ay1, ax0:ax1])
        return edges[y0 - ay0 : y0 - ay0 + (y1 - y0), x0 - ax0 : x0 - ax0 + (x1 - x0)]


def _resize(image: Image, scale: float) -> Image:
    import cv2

    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


def _coarse_factor(tw: int, th: int) -> int:
    factor = 1
    while min(tw, th) // (factor * 2) >= _COARSE_MIN_SIDE and factor < 8:
        factor *= 2
    return factor


def _peaks(scores: FloatImage, count: int, tw: int, th: int) -> list[tuple[int, int, float]]:
    """The ``count`` highest peaks, masking a template-sized area around each."""
    import cv2

    found: list[tuple[int, int, float]] = []
    work = scores.copy()
    for _ in range(count):
        _, value, _, (px, py) = cv2.minMaxLoc(work)
        if not math.isfinite(value) or value <= 0:
            break
        found.append((int(px), int(py), float(value)))
        x0, y0 = max(0, px - tw // 2), max(0, py - th // 2)
        work[y0 : py + th // 2 + 1, x0 : px + tw // 2 + 1] = -2.0
    return found


def _best_in(window: Image, template: Image, polarity: bool) -> tuple[int, int, float]:
    """Best (x, y, score) in ``window``; with ``polarity`` a strong negative score wins too."""
    import cv2

    th, tw = template.shape[:2]
    if window.shape[0] < th or window.shape[1] < tw:
        return 0, 0, 0.0
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    low, high, (lx, ly), (hx, hy) = cv2.minMaxLoc(scores)
    if not math.isfinite(high):
        return 0, 0, 0.0
    if polarity and -low > high:
        return int(lx), int(ly), float(low)
    return int(hx), int(hy), float(high)


def _refine(feature: _Feature, template: Image, x: int, y: int, pad: int) -> tuple[int, int, float]:
    """Exact score of the full-resolution ``template`` feature near (x, y)."""
    th, tw = template.shape[:2]
    sh, sw = feature.gray.shape[:2]
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(sw, x + tw + pad), min(sh, y + th + pad)
    window = feature.window(x0, y0, x1, y1)
    px, py, score = _best_in(window, template, feature.kind == "gray")
    return x0 + px, y0 + py, score


def _search_scale(
    feature: _Feature, gray_tpl: Image, bar: float
) -> tuple[Match | None, Match | None]:
    """(hit, best candidate) for one scaled grey template, at scale 1.0 (caller rescales)."""
    import cv2

    th, tw = gray_tpl.shape[:2]
    sh, sw = feature.gray.shape[:2]
    if th > sh or tw > sw or th < 3 or tw < 3:
        return None, None
    full_tpl = feature.prepare(gray_tpl, 1)
    if feature.kind == "edges" and float(full_tpl.std()) < MIN_TEMPLATE_STDDEV / 2:
        return None, None
    polarity = feature.kind == "gray"
    factor = _coarse_factor(tw, th)
    if factor == 1:
        candidates = [_best_in(feature.screen(1), full_tpl, polarity)]
    else:
        coarse_tpl = feature.prepare(gray_tpl, factor)
        scores = cv2.matchTemplate(feature.screen(factor), coarse_tpl, cv2.TM_CCOEFF_NORMED)
        ch, cw = coarse_tpl.shape[:2]
        peaks = _peaks(scores, _COARSE_PEAKS, cw, ch)
        if polarity:
            # swapped light/dark (a dark theme) shows as strong negative peaks
            peaks += _peaks(-scores, _COARSE_PEAKS, cw, ch)
        candidates = [
            _refine(feature, full_tpl, x * factor, y * factor, factor + _REFINE_PAD)
            for x, y, _ in peaks
        ]
    best: Match | None = None
    hit: Match | None = None
    for x, y, score in candidates:
        method = "inverted" if score < 0 else feature.kind
        match = Match(x, y, tw, th, abs(score), 1.0, method)
        if best is None or match.score > best.score:
            best = match
        needed = inverted_bar(bar) if score < 0 else bar
        if match.score >= needed and (hit is None or match.score > hit.score):
            hit = match
    return hit, (hit or best)


def find(
    screen: Image,
    template: Image,
    *,
    confidence: float = 0.85,
    grayscale: bool = False,
    scales: Sequence[float] = DEFAULT_SCALES,
    edges: bool = True,
    find_all: bool = False,
    limit: int = 50,
) -> SearchResult:
    """Search ``template`` on ``screen`` (both BGR or grey arrays); see the module docstring.

    ``confidence`` is the bar for grey/colour correlation and (with a floor of
    0.8) for edge correlation.  The search goes through the scales in order,
    stops early at a hit of at least ``EARLY_STOP`` and otherwise returns the
    best hit over all scales: a mediocre hit at the wrong scale must not win
    over a good one at the right scale.
    """
    check_template(template)
    gray_screen = _Feature(to_gray(screen), "gray")
    gray_tpl = to_gray(template)
    color = not grayscale and screen.ndim == 3 and template.ndim == 3
    result = SearchResult(matches=[], best=None)
    order = _ordered(scales)

    def consider(candidate: Match | None) -> None:
        if candidate is not None and (result.best is None or candidate.score > result.best.score):
            result.best = candidate

    def verify_colour(found: Match) -> Match | None:
        # grey agreed; make sure the colours do too (a red and a green button differ)
        x0, y0 = max(0, found.x - 1), max(0, found.y - 1)
        window = to_bgr(screen[y0 : found.y + found.height + 1, x0 : found.x + found.width + 1])
        x, y, score = _best_in(window, _resize(to_bgr(template), found.scale), False)
        checked = Match(x0 + x, y0 + y, found.width, found.height, score, found.scale, "color")
        consider(checked)
        return checked if score >= confidence else None

    def support(found: Match) -> Match | None:
        # an outline match must also be a plausible grey match (either polarity):
        # blurred edges of any text correlate fairly well with other text
        tpl = _resize(gray_tpl, found.scale)
        x0, y0 = max(0, found.x - 1), max(0, found.y - 1)
        window = gray_screen.gray[y0 : found.y + found.height + 1, x0 : found.x + found.width + 1]
        _, _, score = _best_in(window, tpl, True)
        return found if abs(score) >= EDGE_GREY_SUPPORT else None

    def sweep(feature: _Feature, bar: float, check: Any) -> Match | None:
        """Best hit over the scales, stopping early at a confident one."""
        best_hit: Match | None = None
        for scale in order:
            if feature.kind == "gray":
                result.scales_tried.append(scale)
            found, candidate = _search_scale(feature, _resize(gray_tpl, scale), bar)
            consider(_with_scale(candidate, scale))
            found = _with_scale(found, scale)
            if found is not None and check is not None:
                found = check(found)
            if found is not None and (best_hit is None or found.score > best_hit.score):
                best_hit = found
            if best_hit is not None and best_hit.score >= EARLY_STOP:
                break
        return best_hit

    def colour_check(found: Match) -> Match | None:
        return verify_colour(found) if color and found.method == "gray" else found

    hit = sweep(gray_screen, confidence, colour_check)
    if hit is None and edges:
        hit = sweep(_Feature(gray_screen.gray, "edges"), edge_bar(confidence), support)
    if hit is None:
        return result
    if not find_all:
        result.matches = [hit]
        return result
    result.matches = _all_matches(screen, template, hit, confidence, grayscale, limit, edges)
    return result


def _all_matches(
    screen: Image,
    template: Image,
    hit: Match,
    confidence: float,
    grayscale: bool,
    limit: int,
    edges: bool,
) -> list[Match]:
    """Every match at the scale and method of ``hit``, best first, overlapping ones merged."""
    import cv2
    import numpy as np

    gray = to_gray(screen)
    tpl = _resize(to_gray(template), hit.scale)
    bar = confidence
    if hit.method == "edges":
        gray, tpl = edge_map(gray), edge_map(tpl)
        bar = edge_bar(confidence)
    scores = cv2.matchTemplate(gray, tpl, cv2.TM_CCOEFF_NORMED)
    th, tw = tpl.shape[:2]
    ys, xs = np.nonzero(scores >= bar)
    order = np.argsort(-scores[ys, xs])
    kept: list[Match] = []
    for index in order:
        x, y = int(xs[index]), int(ys[index])
        if any(abs(x - m.x) < tw // 2 and abs(y - m.y) < th // 2 for m in kept):
            continue
        kept.append(Match(x, y, tw, th, float(scores[y, x]), hit.scale, hit.method))
        if len(kept) >= limit:
            break
    return kept or [hit]


def inverted_bar(confidence: float) -> float:
    """The bar for a light/dark-swapped match: stricter, since text on a plain
    background anti-correlates with light text on a dark button."""
    return max(confidence, INVERTED_CONFIDENCE)


def edge_bar(confidence: float) -> float:
    """The bar edge correlation must reach for a given grey ``confidence``."""
    return max(_EDGE_CONFIDENCE_FLOOR, confidence - EDGE_CONFIDENCE_DROP)


def _with_scale(match: Match | None, scale: float) -> Match | None:
    if match is None:
        return None
    return Match(match.x, match.y, match.width, match.height, match.score, scale, match.method)


def _ordered(scales: Iterable[float]) -> list[float]:
    seen: list[float] = []
    for scale in scales:
        value = round(float(scale), 4)
        if value <= 0:
            raise ValueError(f"scales must be positive, got {scale}")
        if value not in seen:
            seen.append(value)
    return seen or [1.0]
